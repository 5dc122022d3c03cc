namespace CanKit;

/// <summary>
/// A seeded random stream (a private libtorch generator). Pass it to random ops; the same seed gives the same
/// numbers on the same device kind. Its state can be saved and restored for exact resumption.
/// </summary>
public sealed class Generator : IDisposable
{
    internal readonly GeneratorHandle H;

    public Device Device { get; }

    public Generator(ulong seed, Device device = default)
    {
        Device = device;
        H = Native.ck_generator_new((int)device.Type, device.NativeIndex, seed);
        if (H.IsInvalid) throw new TorchException("Generator", NativeCheck.TakeError() ?? "could not create a generator");
    }

    internal static GeneratorHandle HandleOf(Generator? g) => g?.H ?? GeneratorHandle.Null;

    public void ManualSeed(ulong seed) => NativeCheck.Status(Native.ck_generator_set_seed(H, seed), nameof(ManualSeed));

    /// <summary>The generator state as a uint8 tensor (for checkpoints).</summary>
    public Tensor GetState() => NativeCheck.Result(Native.ck_generator_get_state(H), nameof(GetState));

    public void SetState(Tensor state) => NativeCheck.Status(Native.ck_generator_set_state(H, state.H), nameof(SetState));

    public void Dispose() => H.Dispose();
}
