using CanKit.Engine;
using TorchSharp;

// Runs in its own process: the loader's module initializer has already run when Main starts. Prints what the loader
// did and a matmul checked against its closed form; exit code 0 only when torch works.
// A = I + 1·1ᵀ (3×3), B = A: A·B = I + 2·1ᵀ + 3·1ᵀ = I + 5·1ᵀ, so the diagonal is 6 and the rest 5.
TorchSharpLoader.EnsureLoaded();
Console.WriteLine($"outcome={TorchSharpLoader.LastOutcome}");
Console.WriteLine($"copy={TorchSharpLoader.LoadedCopy ?? "-"}");
using var a = torch.eye(3) + torch.ones(3, 3);
using var c = a.matmul(a);
var values = c.data<float>().ToArray();
var expected = Enumerable.Range(0, 9).Select(i => i % 4 == 0 ? 6f : 5f).ToArray();
Console.WriteLine($"matmul={string.Join(",", values)}");
using var r = torch.randn(3, 3).matmul(torch.randn(3, 3));
Console.WriteLine($"randn_matmul_shape={string.Join("x", r.shape)}");
return values.SequenceEqual(expected) ? 0 : 1;
