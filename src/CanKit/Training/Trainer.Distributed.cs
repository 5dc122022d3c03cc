using CanKit.Distributed;
using CanKit.IO;
using CanKit.Methods;

namespace CanKit.Training;

// The data-parallel parts of the trainer. Every helper here is a collective: all ranks call it at the same point.
public sealed partial class Trainer
{
    private static string RankRngKey(int rank) => $"rng.rank{rank}";

    // Rank 0 keeps the checkpoint's "rng". Another rank takes its own saved stream when the checkpoint has one (same
    // or larger world size before), else a fresh stream derived from seed, rank and step (a resume at a larger W).
    private void RestoreRankGenerator(Generator generator, long step)
    {
        if (Rank == 0) return;
        using var ckpt = SafeTensors.Load(CheckpointPath);
        if (ckpt.TryGetValue(RankRngKey(Rank), out var state)) generator.SetState(state);
        else generator.ManualSeed(_config.Seed + (ulong)Rank + 0x9E3779B97F4A7C15UL * (ulong)step);
    }

    // All ranks must start from the same step with rank 0's weights: a checkpoint visible to some ranks only (no
    // shared folder across machines) is an error, not a silent divergence.
    private void AgreeOnStart(Nn.Module module, long step, bool resumed)
    {
        if (Group is null) return;
        if (GlobalNegatives)
        {
            switch (module)
            {
                case Can can: can.NegativesGroup = Group; break;
                case Cmae cmae: cmae.NegativesGroup = Group; break;
                case SimClr simclr: simclr.NegativesGroup = Group; break;
            }
        }
        using (var steps = Tensor.From([(double)step, resumed ? 1.0 : 0.0], 2))
        using (var onDevice = steps.To(_config.Device))
        {
            var all = Group.AllGather(onDevice);                                          // [2W]
            using var cpu = all.Cpu();
            all.Dispose();
            var v = cpu.ToArray<double>();
            for (int r = 1; r < WorldSize; r++)
                if (v[2 * r] != v[0] || v[2 * r + 1] != v[1])
                    throw new InvalidOperationException($"rank {r} starts at step {v[2 * r]} (checkpoint {(v[2 * r + 1] != 0 ? "found" : "not found")}) " +
                        $"but rank 0 at step {v[0]} (checkpoint {(v[1] != 0 ? "found" : "not found")}) in {_outDir}: all ranks need the same run folder");
        }
        DataParallel.BroadcastState(Group, module);
    }

    // Ctrl-C reaches ranks at different moments; stopping only when all agree keeps the collectives in step.
    private bool AnyRankCancelled(bool local)
    {
        if (Group is null) return local;
        using var flag = Tensor.Full([1], local ? 1 : 0, DType.Float32, _config.Device);
        Group.AllReduce([flag]);
        return flag.Item<float>() > 0;
    }

    // The logged loss terms: means over ranks (each rank's are means over its own shard).
    private void MeanOverRanks(double[] sums)
    {
        if (Group is null) return;
        using var t = Tensor.From(sums, sums.Length);
        using var d = t.To(_config.Device);
        Group.AllReduce([d]);
        using var back = d.Cpu();
        var v = back.ToArray<double>();
        for (int i = 0; i < sums.Length; i++) sums[i] = v[i] / WorldSize;
    }

    // Every rank's generator state, for rank 0 to store as rng.rank{r} (exact resumption at the same world size).
    private Dictionary<string, Tensor> GatherRankGenerators(Generator generator)
    {
        var result = new Dictionary<string, Tensor>();
        if (Group is null) return result;
        using var state = generator.GetState();                                          // [S] uint8
        using var onDevice = state.To(_config.Device);
        using var all = Group.AllGather(onDevice);                                       // [W·S]
        using var cpu = all.Cpu();
        long s = state.NumEl;
        for (int r = 1; r < WorldSize; r++)
        {
            using var slice = cpu.Narrow(0, r * s, s);
            result[RankRngKey(r)] = slice.Clone();
        }
        return result;
    }
}
