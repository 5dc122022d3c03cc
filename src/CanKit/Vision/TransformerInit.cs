using CanKit.Nn;

namespace CanKit.Vision;

/// <summary>MAE/timm initialisation: Xavier-uniform Linear weights, zero biases, unit LayerNorms.</summary>
internal static class TransformerInit
{
    public static void Apply(Module module, Generator? generator)
    {
        foreach (var (name, p) in module.NamedParameters())
        {
            if (name.EndsWith("qkv.weight") || name.EndsWith("proj.weight") || name.EndsWith("fc1.weight") || name.EndsWith("fc2.weight")
                || (p.Dim == 2 && name.EndsWith(".weight") && !name.Contains("norm")))
                Init.XavierUniform_(p, generator: generator);
            else if (name.EndsWith(".bias"))
                Init.Zeros_(p);
        }
    }
}
