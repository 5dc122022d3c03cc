namespace CanKit.Distributed;

/// <summary>
/// All-gather as an autograd function. Forward: every rank's x [n, …] stacked in rank order, [W·n, …]. Backward: the
/// gathered gradient is summed over ranks (each rank's loss used every rank's rows) and this rank's rows are kept,
/// so ∂(Σ_r L_r)/∂x_rank reaches x. With the data-parallel mean of gradients over ranks this is the gradient of the
/// mean loss, i.e. of one process holding the whole batch when each L_r is that process's loss over rank r's anchors.
/// </summary>
internal sealed class AllGatherFunction : autograd.SingleTensorFunction<AllGatherFunction>
{
    public override string Name => "CanKitAllGather";

    public static Tensor Apply(ProcessGroup group, Tensor x) => apply(group, x);

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var group = (ProcessGroup)vars[0];
        var x = (Tensor)vars[1];
        ctx.save_data("group", group);
        ctx.save_data("rows", x.size(0));
        return group.AllGather(x);
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var group = (ProcessGroup)ctx.get_data("group");
        long rows = (long)ctx.get_data("rows");
        using var summed = gradOutput.contiguous().clone();                         // [W·n, …], owned here
        try
        {
            group.AllReduceSum(summed);
        }
        catch (DistributedException)
        {
            // The group recorded the failure; the trainer's next collective (or ThrowIfFailed) reports it. An exception
            // must not unwind through LibTorch's autograd engine.
            return [null!, torch.zeros([rows, .. gradOutput.shape.Skip(1)], gradOutput.dtype, gradOutput.device)];
        }
        return [null!, summed.narrow(0, group.Rank * rows, rows).clone()];          // one per argument of apply: the group has none
    }
}
