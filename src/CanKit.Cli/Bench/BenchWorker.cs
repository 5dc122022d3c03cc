namespace CanKit.Cli.Bench;

/// <summary>What a worker reports about its engine once its thread count is set.</summary>
public sealed record WorkerInfo(string Engine, int Threads, string ParallelInfo, IReadOnlyList<string> Blas);

/// <summary>Something that runs <see cref="Workload"/>s: CanKit in this process, or a child process.</summary>
public interface IBenchWorker : IDisposable
{
    /// <summary>Short name for tables (e.g. "CanKit", "PyTorch", "OMP=1 t=2").</summary>
    string Name { get; }

    /// <summary>Sets the intra-op thread count and describes the engine.</summary>
    WorkerInfo Info(int threads);

    /// <summary>Runs one workload once; <paramref name="threads"/> (if given) is applied first.</summary>
    double Run(Workload w, int? threads = null);
}

/// <summary>CanKit in the calling process.</summary>
public sealed class InProcessWorker(string name = "CanKit") : IBenchWorker
{
    public string Name { get; } = name;

    public WorkerInfo Info(int threads)
    {
        Torch.NumThreads = threads;
        return new WorkerInfo($"CanKit (libtorch {Torch.LibTorchVersion})", Torch.NumThreads, Torch.ParallelInfo,
                              MachineInfo.LoadedBlas());
    }

    public double Run(Workload w, int? threads = null)
    {
        if (threads is int t) Torch.NumThreads = t;
        return CanKitWorkloads.Run(w.Function, w.Args);
    }

    public void Dispose() { }
}
