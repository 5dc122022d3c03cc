namespace CanKit.Cli.Bench;

/// <summary>
/// The reference CAN training step written with TorchSharp alone — no CanKit type — the way a TorchSharp user would
/// write it from the paper: ViT encoder without [CLS] on the visible (noisy) patches, MAE decoder with the σ embedding,
/// projection head, InfoNCE (τ 0.1) + norm-pix reconstruction on masked patches + denoising on visible ones, weights
/// 0.03 / 0.67 / 0.3, σmax 0.05, AdamW (lr 1e-4, weight decay 0.05). It is line for line the model of
/// torch_can_step.py, so `bench step` compares CanKit with plain TorchSharp and with PyTorch eager on one workload.
/// </summary>
internal sealed class PlainTorchSharpCanStep : IDisposable
{
    private readonly Model _model;
    private readonly optim.Optimizer _opt;
    private readonly Tensor _v1, _v2;

    /// <param name="batch">Images per view.</param>
    public PlainTorchSharpCanStep(int batch, int image, int patch, int width, int depth, int heads, int decWidth, int decDepth, int decHeads,
                                  double maskRatio, Device device)
    {
        torch.manual_seed(0);
        _model = new Model(image, patch, width, depth, heads, decWidth, decDepth, decHeads, maskRatio);
        _model.to(device);
        _opt = optim.AdamW(_model.parameters(), lr: 1e-4, weight_decay: 0.05);
        _v1 = torch.randn(batch, 3, image, image, device: device);
        _v2 = torch.randn(batch, 3, image, image, device: device);
    }

    /// <summary>One training step: zero the gradients, forward, backward, AdamW; returns the loss.</summary>
    public float Run()
    {
        using var scope = torch.NewDisposeScope();
        _opt.zero_grad();
        var loss = _model.forward(_v1, _v2);
        loss.backward();
        _opt.step();
        return loss.item<float>();
    }

    public void Dispose()
    {
        _v1.Dispose();
        _v2.Dispose();
        _opt.Dispose();
        _model.Dispose();
    }

    /// <summary>2-D sin-cos position embedding [1, g², d] (MAE's), computed in float64 then rounded.</summary>
    private static Tensor SinCos2d(long d, long g)
    {
        using var scope = torch.NewDisposeScope();
        long q = d / 4;
        var omega = 1.0 / torch.pow(10000.0, torch.arange(q, dtype: ScalarType.Float64) / q);                  // [q]
        var grid = torch.meshgrid([torch.arange(g, dtype: ScalarType.Float64), torch.arange(g, dtype: ScalarType.Float64)], indexing: "ij");
        var xw = grid[1].reshape(-1, 1) * omega;                                                                // [g², q]
        var yw = grid[0].reshape(-1, 1) * omega;
        return torch.cat([xw.sin(), xw.cos(), yw.sin(), yw.cos()], 1).to_type(ScalarType.Float32).unsqueeze(0).MoveToOuterDisposeScope();
    }

    /// <summary>Pre-norm transformer block: x + attn(LN(x)), then x + MLP(LN(x)); [N, L, D] → [N, L, D].</summary>
    private sealed class Block : nn.Module<Tensor, Tensor>
    {
        private readonly long _heads;
        private readonly LayerNorm norm1, norm2;
        private readonly Linear qkv, proj, fc1, fc2;

        public Block(long d, long heads) : base(nameof(Block))
        {
            _heads = heads;
            norm1 = nn.LayerNorm(d, eps: 1e-6);
            norm2 = nn.LayerNorm(d, eps: 1e-6);
            qkv = nn.Linear(d, 3 * d);
            proj = nn.Linear(d, d);
            fc1 = nn.Linear(d, 4 * d);
            fc2 = nn.Linear(4 * d, d);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            long n = x.shape[0], l = x.shape[1], d = x.shape[2];
            var qkv3 = qkv.forward(norm1.forward(x)).reshape(n, l, 3, _heads, d / _heads).permute(2, 0, 3, 1, 4); // [3, N, H, L, d/H]
            var a = nn.functional.scaled_dot_product_attention(qkv3[0], qkv3[1], qkv3[2]);                        // [N, H, L, d/H]
            x = x + proj.forward(a.transpose(1, 2).reshape(n, l, d));                                             // [N, L, D]
            return x + fc2.forward(nn.functional.gelu(fc1.forward(norm2.forward(x))));
        }
    }

    /// <summary>CAN on two views [B, 3, H, W] each → the weighted loss (a scalar).</summary>
    private sealed class Model : nn.Module<Tensor, Tensor, Tensor>
    {
        private readonly long _patch, _width, _decWidth, _grid, _l, _p;
        private readonly double _maskRatio;
        private readonly Conv2d patch_embed;
        private readonly ModuleList<Block> blocks, decoder_blocks;
        private readonly LayerNorm norm, decoder_norm;
        private readonly Linear decoder_embed, decoder_pred;
        private readonly Parameter mask_token;
        private readonly Sequential sigma_mlp, head;

        public Model(long image, long patch, long width, long depth, long heads, long decWidth, long decDepth, long decHeads, double maskRatio)
            : base("PlainCan")
        {
            (_patch, _width, _decWidth, _maskRatio) = (patch, width, decWidth, maskRatio);
            _grid = image / patch;
            _l = _grid * _grid;
            _p = patch * patch * 3;
            patch_embed = nn.Conv2d(3, width, patch, stride: patch);
            blocks = nn.ModuleList(Enumerable.Range(0, (int)depth).Select(_ => new Block(width, heads)).ToArray());
            norm = nn.LayerNorm(width, eps: 1e-6);
            decoder_embed = nn.Linear(width, decWidth);
            mask_token = nn.Parameter(torch.zeros(1, 1, decWidth));
            decoder_blocks = nn.ModuleList(Enumerable.Range(0, (int)decDepth).Select(_ => new Block(decWidth, decHeads)).ToArray());
            decoder_norm = nn.LayerNorm(decWidth, eps: 1e-6);
            decoder_pred = nn.Linear(decWidth, _p);
            sigma_mlp = nn.Sequential(nn.Linear(decWidth, decWidth), nn.ReLU(), nn.Linear(decWidth, decWidth));
            head = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 128));
            RegisterComponents();
            register_buffer("pos_embed", SinCos2d(width, _grid));
            register_buffer("decoder_pos_embed", SinCos2d(decWidth, _grid));
        }

        // [N, 3, H, W] → [N, L, P] with patch pixels in (row, column, channel) order.
        private Tensor Patchify(Tensor x) =>
            x.reshape(x.shape[0], 3, _grid, _patch, _grid, _patch).permute(0, 2, 4, 3, 5, 1).reshape(x.shape[0], _l, _p);

        public override Tensor forward(Tensor v1, Tensor v2)
        {
            var dev = v1.device;
            var x = torch.cat([v1, v2]);                                                        // [N, 3, H, W], N = 2B
            long n = x.shape[0];
            // CAN §3.3: σ ~ U[0, σmax] per image, noise σ·e on the encoder's input.
            var sig = torch.rand(n, device: dev) * 0.05;                                         // [N]
            var noise = torch.randn_like(x) * sig.view(n, 1, 1, 1);
            var t = patch_embed.forward(x + noise).flatten(2).transpose(1, 2) + get_buffer("pos_embed")!; // [N, L, D]
            // Random masking: argsort of uniform noise, keep the first `keep`; mask 1 = removed.
            long keep = (long)(_l * (1 - _maskRatio));
            var ids = torch.rand(n, _l, device: dev).argsort(1);                                // [N, L]
            var restore = ids.argsort(1);
            var vis = torch.gather(t, 1, ids.narrow(1, 0, keep).unsqueeze(-1).expand(-1, -1, _width)); // [N, keep, D]
            var mask = torch.gather(torch.cat([torch.zeros(n, keep, device: dev), torch.ones(n, _l - keep, device: dev)], 1), 1, restore); // [N, L]
            foreach (var b in blocks) vis = b.forward(vis);
            var lat = norm.forward(vis);

            // Contrastive: mean-pooled visible tokens → head → unit vectors; the other view of the same image is the positive.
            var z = nn.functional.normalize(head.forward(lat.mean([1])), dim: 1);                  // [N, 128]
            var sim = (z.mm(z.t()) / 0.1).masked_fill(torch.eye(n, dtype: ScalarType.Bool, device: dev), double.NegativeInfinity);
            long half = n / 2;
            var target = torch.cat([torch.arange(half, n, device: dev), torch.arange(0, half, device: dev)]);
            var contrast = nn.functional.cross_entropy(sim, target);

            // Decoder: visible tokens + [M] tokens back in place, position embedding, σ embedding on every token.
            var d = torch.cat([decoder_embed.forward(lat), mask_token.expand(n, _l - keep, -1)], 1);            // [N, L, Dd]
            d = torch.gather(d, 1, restore.unsqueeze(-1).expand(-1, -1, _decWidth)) + get_buffer("decoder_pos_embed")!;
            long halfD = _decWidth / 2;
            var freqs = torch.exp(torch.arange(halfD, device: dev) * (-Math.Log(10000) / halfD));              // [Dd/2]
            var args = (sig * 1000).unsqueeze(1) * freqs.unsqueeze(0);                                         // [N, Dd/2]
            d = d + sigma_mlp.forward(torch.cat([args.sin(), args.cos()], 1)).unsqueeze(1);
            foreach (var b in decoder_blocks) d = b.forward(d);
            var pred = decoder_pred.forward(decoder_norm.forward(d));                                          // [N, L, P]

            var tgt = Patchify(x);
            tgt = (tgt - tgt.mean([-1], keepdim: true)) / (tgt.var(-1, keepdim: true) + 1e-6).sqrt();          // norm-pix target
            var rec = ((pred - tgt).pow(2).mean([-1]) * mask).sum() / mask.sum();
            var den = ((pred - Patchify(noise)).pow(2).mean([-1]) * (1 - mask)).sum() / (1 - mask).sum();
            return 0.03 * contrast + 0.67 * rec + 0.3 * den;
        }
    }
}
