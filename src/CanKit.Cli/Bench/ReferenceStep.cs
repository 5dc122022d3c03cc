using CanKit.Methods;
using CanKit.Optim;

namespace CanKit.Cli.Bench;

/// <summary>
/// The reference training step of the benches (StepBench's configuration) for one method, with its AdamW and two
/// random views: `bench profile` and `bench setting` time it.
/// </summary>
internal sealed class ReferenceStep : IDisposable
{
    private readonly Generator _g = new(0);
    private readonly Can? _can;
    private readonly SimClr? _simclr;
    private readonly AdamW _opt;
    private readonly Tensor _v1, _v2;

    public ReferenceStep(string method, int batch)
    {
        if (batch < 2) throw new ArgumentException($"--batch must be ≥ 2 (got {batch})");
        _can = method == "can" ? new Can(CanConfig.Paper with { Encoder = StepBench.Encoder, Decoder = StepBench.Decoder, MaskRatio = StepBench.Mask }, _g) : null;
        _simclr = method == "simclr" ? new SimClr(new SimClrConfig { Encoder = StepBench.Encoder }, _g) : null;
        if (_can is null && _simclr is null) throw new ArgumentException($"--method must be can or simclr (got {method})");
        _opt = new AdamW(AdamW.DecayGroups(_can ?? (Nn.Module)_simclr!, 0.05), lr: 1e-4);
        _v1 = Tensor.Randn([batch, 3, 32, 32], _g);
        _v2 = Tensor.Randn([batch, 3, 32, 32], _g);
    }

    public void ZeroGrad() => _opt.ZeroGrad();

    public StepResult Forward() => _can is not null ? _can.Forward(_v1, _v2, _g) : _simclr!.Forward(_v1, _v2);

    public void OptimizerStep() => _opt.Step();

    /// <summary>One whole training step: zero the gradients, forward, backward, AdamW.</summary>
    public void Run()
    {
        using var scope = Torch.NewDisposeScope();
        _opt.ZeroGrad();
        using var r = Forward();
        r.Loss.Backward();
        _opt.Step();
    }

    public void Dispose()
    {
        _v1.Dispose();
        _v2.Dispose();
        _opt.Dispose();
        _can?.Dispose();
        _simclr?.Dispose();
        _g.Dispose();
    }
}
