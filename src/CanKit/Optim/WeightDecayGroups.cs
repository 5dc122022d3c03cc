namespace CanKit.Optim;

/// <summary>
/// Splits a module's trainable parameters into AdamW groups the way MAE / timm do: weight matrices (and
/// convolution kernels) decay, biases, norm scales and other 1-D parameters do not, nor any name listed in
/// <c>noDecayNames</c> (e.g. <c>pos_embed</c>, <c>cls_token</c>, <c>mask_token</c>).
/// </summary>
public static class WeightDecayGroups
{
    /// <summary>
    /// [decayed, not decayed] (an empty group is left out), for <c>torch.optim.AdamW(groups, lr: …)</c>. Frozen
    /// parameters (requires_grad false, e.g. an EMA target) are not optimised and are left out.
    /// </summary>
    public static List<AdamW.ParamGroup> Split(nn.Module module, double weightDecay, params string[] noDecayNames)
    {
        if (weightDecay < 0) throw new ArgumentOutOfRangeException(nameof(weightDecay), weightDecay, "must be ≥ 0");
        var decay = new List<Parameter>();
        var noDecay = new List<Parameter>();
        foreach (var (name, p) in module.named_parameters().Where(p => p.parameter.requires_grad))
        {
            bool skip = p.dim() <= 1 || name.EndsWith(".bias") || noDecayNames.Any(n => name == n || name.EndsWith("." + n));
            (skip ? noDecay : decay).Add(p);
        }
        // Materialised lists: the optimiser keys its state by each parameter's handle and enumerates groups every step.
        var groups = new List<AdamW.ParamGroup>();
        if (decay.Count > 0) groups.Add(new AdamW.ParamGroup(decay, new AdamW.Options { weight_decay = weightDecay }));
        if (noDecay.Count > 0) groups.Add(new AdamW.ParamGroup(noDecay, new AdamW.Options { weight_decay = 0.0 }));
        return groups;
    }
}
