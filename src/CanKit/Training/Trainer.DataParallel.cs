using CanKit.Distributed;
using CanKit.Methods;

namespace CanKit.Training;

// The data-parallel parts of the trainer. Every helper here is a collective: all ranks call it at the same point.
public sealed partial class Trainer
{
    // All ranks must start from the same step with rank 0's weights: a checkpoint that some ranks do not see (no shared
    // folder across machines) is an error, not a silent divergence. Then rank 0's state (weights, buffers, CMAE's
    // target) goes to everyone, and contrastive methods take their negatives from every rank.
    private void AgreeOnStart(nn.Module module, long step, bool resumed)
    {
        if (Group is null) return;
        using (var mine = torch.tensor(new double[] { step, resumed ? 1 : 0, ConfigurationHash(_fingerprint) }))
        using (var all = Group.AllGather(mine))                                            // [3W]
        {
            var v = all.data<double>().ToArray();
            for (int r = 1; r < WorldSize; r++)
            {
                if (v[3 * r + 2] != v[2])
                    throw new InvalidDataException($"rank {r} was started with another run configuration than rank 0 (their run.json differ; " +
                        "on machines with different CPUs --precision auto can choose differently): " +
                        "give every machine the same flags, with an explicit --precision");
                if (v[3 * r] != v[0] || v[3 * r + 1] != v[1])
                    throw new InvalidDataException($"rank {r} starts at step {v[3 * r]} (checkpoint {(v[3 * r + 1] != 0 ? "found" : "not found")}) " +
                        $"but rank 0 at step {v[0]} (checkpoint {(v[1] != 0 ? "found" : "not found")}) in {_outDir}: every rank needs the same run folder");
            }
        }
        if (module is IGlobalNegatives global) global.NegativesGroup = Group;
        DataParallel.BroadcastState(Group, module);
    }

    // The first 48 bits of the configuration's SHA-256: an integer a float64 holds exactly, equal on ranks that agree.
    private static double ConfigurationHash(string fingerprint)
    {
        var h = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(fingerprint));
        return h.Take(6).Aggregate(0L, (acc, b) => (acc << 8) | b);
    }

    // One small all-reduce per step: the loss terms become their means over ranks (each rank's are means over its own
    // shard; equal shards make the mean of means the global mean), and a Ctrl-C seen by any rank stops all of them after
    // this step, so their collectives stay in step. Returns whether to stop.
    private bool AgreeAfterBackward(double[] sums, bool cancelled)
    {
        using var t = torch.tensor(sums.Append(cancelled ? 1 : 0).ToArray());            // [6] float64
        Group!.AllReduceSum(t);
        var v = t.data<double>().ToArray();
        for (int i = 0; i < sums.Length; i++) sums[i] = v[i] / WorldSize;
        return v[^1] > 0;
    }
}
