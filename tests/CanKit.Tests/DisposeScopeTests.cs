using Xunit;

namespace CanKit.Tests;

/// <summary>Dispose scopes: everything made inside is freed, kept results move out, scopes nest.</summary>
public class DisposeScopeTests
{
    [Fact]
    public void Disposes_every_tensor_made_inside_including_intermediates()
    {
        Tensor a, b, values, indices, grad;
        using (var scope = Torch.NewDisposeScope())
        {
            Assert.Same(scope, DisposeScope.Current);
            a = Tensor.Ones([3], DType.Float64).RequiresGrad_();
            b = (a * 2.0).Exp();                               // the product is an unnamed intermediate
            (values, indices) = b.Sort();
            b.Sum().Backward();
            grad = a.Grad!;
            Assert.Equal(7, scope.Count);                      // a, a*2, exp, values, indices, sum, grad
        }
        Assert.All(new[] { a, b, values, indices, grad }, t => Assert.True(t.IsDisposed));
        Assert.Null(DisposeScope.Current);
    }

    [Fact]
    public void MoveToOuter_keeps_a_result_alive()
    {
        Tensor kept, dropped;
        using (Torch.NewDisposeScope())
        {
            dropped = Tensor.Ones([2]);
            kept = (dropped + 1.0).MoveToOuterDisposeScope();
        }
        Assert.True(dropped.IsDisposed);
        Assert.False(kept.IsDisposed);
        Assert.Equal(new float[] { 2, 2 }, kept.ToArray<float>());
        kept.Dispose();
    }

    [Fact]
    public void Nested_scopes_hand_results_outward_one_level_at_a_time()
    {
        Tensor inner, moved, outerMade;
        using (var outer = Torch.NewDisposeScope())
        {
            outerMade = Tensor.Zeros([1]);
            using (var scope = Torch.NewDisposeScope())
            {
                Assert.Same(scope, DisposeScope.Current);
                inner = Tensor.Ones([1]);
                moved = scope.MoveToOuter(Tensor.Ones([2]));
                Assert.Equal(1, scope.Count);
                Assert.Throws<InvalidOperationException>(() => scope.MoveToOuter(outerMade));
            }
            Assert.Same(outer, DisposeScope.Current);
            Assert.True(inner.IsDisposed);
            Assert.False(moved.IsDisposed);                    // now owned by the outer scope
            Assert.Equal(2, outer.Count);
        }
        Assert.True(moved.IsDisposed);
        Assert.True(outerMade.IsDisposed);
    }

    [Fact]
    public void DetachFromDisposeScope_hands_ownership_to_the_caller()
    {
        Tensor owned;
        using (var outer = Torch.NewDisposeScope())
        using (Torch.NewDisposeScope())
        {
            owned = Tensor.Ones([1]).DetachFromDisposeScope();
            Assert.Equal(0, outer.Count);
        }
        Assert.False(owned.IsDisposed);
        owned.Dispose();
    }

    [Fact]
    public void Tensors_made_outside_any_scope_are_owned_by_the_caller()
    {
        Assert.Null(DisposeScope.Current);
        var t = Tensor.Ones([1]);
        Assert.Same(t, t.MoveToOuterDisposeScope());           // no scope: a no-op
        Assert.False(t.IsDisposed);
        t.Dispose();
    }
}
