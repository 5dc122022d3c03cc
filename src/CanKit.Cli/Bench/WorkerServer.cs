using System.Text.Json.Nodes;

namespace CanKit.Cli.Bench;

/// <summary>
/// <c>cankit bench worker</c>: serves the bench line protocol (see torch_worker.py) with CanKit, so that
/// `bench threads` can measure CanKit in child processes started with different environment variables.
/// </summary>
internal static class WorkerServer
{
    public static int Serve(TextReader input, TextWriter output)
    {
        var worker = new InProcessWorker();
        while (input.ReadLine() is string line)
        {
            if (line.Trim().Length == 0) continue;
            JsonObject reply;
            try
            {
                var req = JsonNode.Parse(line)!.AsObject();
                string op = (string?)req["op"] ?? "";
                if (op == "quit") break;
                reply = op switch
                {
                    "info" => InfoReply(worker.Info((int)req["threads"]!)),
                    "run" => RunReply(worker, req),
                    _ => new JsonObject { ["error"] = $"unknown op '{op}'" },
                };
            }
            catch (Exception e)
            {
                reply = new JsonObject { ["error"] = $"{e.GetType().Name}: {e.Message}" };
            }
            output.WriteLine(reply.ToJsonString());
            output.Flush();
        }
        return 0;
    }

    private static JsonObject InfoReply(WorkerInfo i) => new()
    {
        ["engine"] = i.Engine,
        ["threads"] = i.Threads,
        ["parallel_info"] = i.ParallelInfo,
        ["blas"] = new JsonArray(i.Blas.Select(b => (JsonNode)b).ToArray()),
    };

    private static JsonObject RunReply(InProcessWorker worker, JsonObject req)
    {
        var args = req["args"]!.AsObject().ToDictionary(kv => kv.Key, kv => (long)kv.Value!);
        if (req["threads"] is JsonNode t) Torch.NumThreads = (int)t;
        return new JsonObject { ["value"] = CanKitWorkloads.Run((string)req["name"]!, args) };
    }
}
