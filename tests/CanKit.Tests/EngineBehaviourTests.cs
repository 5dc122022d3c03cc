using System.Runtime.InteropServices;
using Xunit;

namespace CanKit.Tests;

/// <summary>How the binding reports errors, ends a tensor's life and records gradients.</summary>
public class EngineBehaviourTests
{
    public static TheoryData<string> AllDevices => Devices.All();

    [DllImport("libc", EntryPoint = "getenv")]
    private static extern IntPtr NativeGetEnv(string name);

    [Fact]
    public void Thread_settings_reach_the_native_environment_unless_the_user_set_them()
    {
        Assert.True(Torch.NumThreads >= 1);   // libtorch (and libgomp) loaded
        string? Native(string name) => Marshal.PtrToStringAnsi(NativeGetEnv(name));
        if (Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is null)
            Assert.Equal(Environment.GetEnvironmentVariable("GOMP_SPINCOUNT") ?? Torch.OpenMpSpinCount, Native("GOMP_SPINCOUNT"));
        else
            Assert.Equal(Environment.GetEnvironmentVariable("GOMP_SPINCOUNT"), Native("GOMP_SPINCOUNT"));
        Assert.Equal(Environment.GetEnvironmentVariable("OPENBLAS_THREAD_TIMEOUT") ?? "4", Native("OPENBLAS_THREAD_TIMEOUT"));
    }

    [Fact]
    public void Blas_is_the_OpenMP_build_of_OpenBLAS_when_installed_unless_CANKIT_BLAS_is_system()
    {
        string? blas = Torch.BlasLibrary;
        Assert.NotNull(blas);
        string? dir = NativeLibraryResolver.OpenMpBlasDirectory();
        bool installed = dir != null && File.Exists(Path.Combine(dir, "libblas.so.3"));
        if (installed && Environment.GetEnvironmentVariable("CANKIT_BLAS") != "system")
            Assert.Equal(Path.Combine(dir!, "libblas.so.3"), blas);
        else
            Assert.DoesNotContain("openblas-openmp", blas);
    }

    [Fact]
    public void A_CUDA_libtorch_has_its_GPU_library_loaded_and_a_CPU_one_has_none()
    {
        // The native layer's libtorch, found in the process's mappings; when a libtorch_cuda.so sits beside it, it is
        // loaded too (its kernels register only when it is), so CUDA availability depends on the GPU, not the linker.
        string? cpu = NativeLibraryResolver.LoadedLibraryPath(n => n.StartsWith("libtorch_cpu.so", StringComparison.Ordinal));
        Assert.NotNull(cpu);
        Assert.True(File.Exists(cpu), cpu);
        string cuda = Path.Combine(Path.GetDirectoryName(cpu)!, "libtorch_cuda.so");
        string? loaded = NativeLibraryResolver.LoadedLibraryPath(n => n.StartsWith("libtorch_cuda.so", StringComparison.Ordinal));
        if (File.Exists(cuda)) Assert.NotNull(loaded);
        else Assert.False(Torch.CudaIsAvailable);
        Assert.Null(NativeLibraryResolver.LoadedLibraryPath(n => n == "libno-such-library.so"));
    }

    [Fact]
    public void Cuda_peak_memory_counts_what_tensors_hold_or_is_absent_without_CUDA()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Torch.CudaPeakMemory(-1));
        if (!Torch.CudaIsAvailable)
        {
            Assert.Null(Torch.CudaPeakMemory());
            return;
        }
        using var t = Tensor.Zeros([64, 1024, 1024], device: Device.Cuda(0));   // 256 MiB
        Torch.CudaSynchronize();
        var peak = Torch.CudaPeakMemory(0);
        if (peak is not var (allocated, reserved)) return;   // a CUDA build without the allocator statistics
        Assert.True(allocated >= 256L << 20, $"allocated peak {allocated}");
        Assert.True(reserved >= allocated, $"reserved {reserved} < allocated {allocated}");
    }

    [Theory]
    [MemberData(nameof(AllDevices))]
    public void Shape_mismatch_throws_with_libtorchs_message_and_the_process_goes_on(string device)
    {
        using var scope = Torch.NewDisposeScope();
        var d = Device.Parse(device);
        var a = Tensor.Ones([2, 3], device: d);
        var b = Tensor.Ones([4, 5], device: d);

        var ex = Assert.Throws<TorchException>(() => a.MatMul(b));
        Assert.Equal("MatMul", ex.Operation);
        Assert.Contains("shapes cannot be multiplied", ex.NativeMessage);
        Assert.Contains("2x3 and 4x5", ex.NativeMessage);
        Assert.StartsWith("MatMul: ", ex.Message);

        // The error slot was taken and cleared: the next op works and a later error carries its own text.
        Assert.Equal(new float[] { 3, 3, 3, 3 }, a.MatMul(Tensor.Ones([3, 2], device: d)).Cpu().ToArray<float>());
        var second = Assert.Throws<TorchException>(() => a.View(4));
        Assert.Equal("View", second.Operation);
        Assert.DoesNotContain("shapes cannot be multiplied", second.NativeMessage);
    }

    [Theory]
    [InlineData(0, "std::runtime_error from ck_debug_throw")]
    [InlineData(1, "c10::Error from ck_debug_throw")]
    [InlineData(2, "unknown native exception")]
    public void Every_native_exception_kind_surfaces_as_TorchException(int kind, string message)
    {
        var ex = Assert.Throws<TorchException>(() => NativeCheck.Status(Native.ck_debug_throw(kind), "DebugThrow"));
        Assert.Equal("DebugThrow", ex.Operation);
        Assert.Contains(message, ex.NativeMessage);
        // c10::Error messages are reported without libtorch's C++ backtrace.
        Assert.DoesNotContain("Exception raised from", ex.NativeMessage);
        Assert.Null(NativeCheck.TakeError());
    }

    [Fact]
    public void Use_after_dispose_throws_ObjectDisposedException()
    {
        var t = Tensor.Ones([2]);
        t.Dispose();
        Assert.True(t.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => t.Shape);
        Assert.Throws<ObjectDisposedException>(() => t.Exp());
        Assert.Throws<ObjectDisposedException>(() => t.ToArray<float>());
        using var other = Tensor.Ones([2]);
        Assert.Throws<ObjectDisposedException>(() => other + t);
        t.Dispose(); // a second dispose is harmless
        Assert.Equal("tensor(<disposed>)", t.ToString());
    }

    [Theory]
    [MemberData(nameof(AllDevices))]
    public void Grad_is_null_until_backward_and_accumulates_after(string device)
    {
        using var scope = Torch.NewDisposeScope();
        var x = Tensor.From(new[] { 1.0, 2.0, 3.0 }).To(Device.Parse(device)).RequiresGrad_();
        Assert.True(x.RequiresGrad);
        Assert.True(x.IsLeaf);
        Assert.Null(x.Grad);                                   // undefined, not an error
        Assert.Null(Tensor.Ones([2]).Grad);                    // never required grad

        var y = x.Mul(x).Sum();                                // dy/dx = 2x
        Assert.False(y.IsLeaf);
        y.Backward(retainGraph: true);
        Assert.Equal(new[] { 2.0, 4.0, 6.0 }, x.Grad!.Cpu().ToArray<double>());
        y.Backward();                                          // gradients accumulate
        Assert.Equal(new[] { 4.0, 8.0, 12.0 }, x.Grad!.Cpu().ToArray<double>());

        x.ZeroGrad(setToNone: false);
        Assert.Equal(new double[3], x.Grad!.Cpu().ToArray<double>());
        x.ZeroGrad();
        Assert.Null(x.Grad);

        // A non-scalar output needs an explicit gradient.
        var z = x.Mul(x);
        Assert.Throws<TorchException>(() => z.Backward());
        z.Backward(Tensor.From(new[] { 1.0, 0.0, -1.0 }).To(Device.Parse(device)));
        Assert.Equal(new[] { 2.0, 0.0, -6.0 }, x.Grad!.Cpu().ToArray<double>());
    }

    [Fact]
    public void Grad_can_be_set_and_cleared()
    {
        using var scope = Torch.NewDisposeScope();
        var x = Tensor.Zeros([2], DType.Float64).RequiresGrad_();
        x.Grad = Tensor.From(new[] { 0.5, -0.5 });
        Assert.Equal(new[] { 0.5, -0.5 }, x.Grad!.ToArray<double>());
        x.Grad = null;
        Assert.Null(x.Grad);
    }

    [Fact]
    public void NoGrad_scope_stops_recording_and_restores_the_previous_mode()
    {
        using var scope = Torch.NewDisposeScope();
        var x = Tensor.Ones([2]).RequiresGrad_();
        Assert.True(Torch.IsGradEnabled);
        using (Torch.NoGrad())
        {
            Assert.False(Torch.IsGradEnabled);
            var y = x * 2.0;
            Assert.False(y.RequiresGrad);
            using (Torch.EnableGrad())
            {
                Assert.True(Torch.IsGradEnabled);
                Assert.True((x * 2.0).RequiresGrad);
            }
            Assert.False(Torch.IsGradEnabled);                 // inner scope restored the outer no-grad mode
            using (Torch.NoGrad()) Assert.False(Torch.IsGradEnabled);
            Assert.False(Torch.IsGradEnabled);
        }
        Assert.True(Torch.IsGradEnabled);
        Assert.True((x * 2.0).RequiresGrad);
        Assert.False(x.Detach().RequiresGrad);
    }

    [Fact]
    public void Alias_shares_storage_and_CopyFrom_writes_in_place()
    {
        using var scope = Torch.NewDisposeScope();
        var x = Tensor.Zeros([3], DType.Float64);
        var alias = x.Alias();
        alias.Fill_(2);
        Assert.Equal(new[] { 2.0, 2.0, 2.0 }, x.ToArray<double>());
        var clone = x.Clone();
        x.CopyFrom(Tensor.From(new[] { 1.0, 2.0, 3.0 }));
        Assert.Equal(new[] { 1.0, 2.0, 3.0 }, alias.ToArray<double>());
        Assert.Equal(new[] { 2.0, 2.0, 2.0 }, clone.ToArray<double>());
        x.Add_(Tensor.Ones([3], DType.Float64), alpha: 2).Mul_(0.5);
        Assert.Equal(new[] { 1.5, 2.0, 2.5 }, x.ToArray<double>());
        x.Ema_(Tensor.Zeros([3], DType.Float64), 0.9);         // 0.9·x + 0.1·0
        Approx.Equal([1.35, 1.8, 2.25], x);
    }
}
