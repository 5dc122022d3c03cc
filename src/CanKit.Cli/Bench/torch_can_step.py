#!/usr/bin/python3
"""PyTorch eager reference of CanKit's CAN step, for side-by-side timing (Bench/PlainTorchSharpCanStep.cs is its TorchSharp twin).

The same model as CanKit's reference config (ViT encoder without [CLS], MAE decoder with the σ embedding,
projection head, InfoNCE + norm-pix reconstruction + denoising, AdamW) written plainly in PyTorch. It serves a line
protocol on stdin/stdout so the C# benchmark can alternate repetitions with its own step in one run:
  "step N"   -> runs N training steps, prints "ms <median ms per step> <peak RSS MB>"
  "run N"    -> runs N training steps back to back, waits for the device, prints "ms <mean ms per step> <peak MB>"
                (peak MB: CUDA memory allocated by tensors on a GPU, else the process's RSS)
  "info"     -> prints "info <torch version> <device name>"
  "quit"
Config comes from argv: batch image patch width depth heads dec_width dec_depth dec_heads mask threads
[device [precision]]; device defaults to cpu, precision to fp32 (bf16: autocast to bfloat16, as CanKit's trainer).
Attention is F.scaled_dot_product_attention where PyTorch has it (2.0 on, as timm's ViT), else written out.
"""
import math
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

(batch, image, patch, width, depth, heads, dwidth, ddepth, dheads) = [int(v) for v in sys.argv[1:10]]
mask_ratio = float(sys.argv[10])
torch.set_num_threads(int(sys.argv[11]))
dev = torch.device(sys.argv[12] if len(sys.argv) > 12 else "cpu")
precision = sys.argv[13] if len(sys.argv) > 13 else "fp32"
if precision not in ("fp32", "bf16"):
    sys.exit(f"precision must be fp32 or bf16 (got {precision})")
sdpa = getattr(F, "scaled_dot_product_attention", None)
torch.manual_seed(0)
channels, grid = 3, image // patch
L = grid * grid
P = patch * patch * channels


def sincos_2d(d, g):
    q = d // 4
    omega = 1.0 / (10000 ** (torch.arange(q, dtype=torch.float64) / q))
    ys, xs = torch.meshgrid(torch.arange(g, dtype=torch.float64), torch.arange(g, dtype=torch.float64), indexing="ij")
    xw, yw = xs.reshape(-1, 1) * omega, ys.reshape(-1, 1) * omega
    return torch.cat([xw.sin(), xw.cos(), yw.sin(), yw.cos()], 1).float().unsqueeze(0)


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.norm1, self.norm2 = nn.LayerNorm(d, eps=1e-6), nn.LayerNorm(d, eps=1e-6)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        n, l, d = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(n, l, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        if sdpa is not None:
            a = sdpa(q, k, v)
        else:
            a = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // self.h), -1) @ v
        x = x + self.proj(a.transpose(1, 2).reshape(n, l, d))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class Can(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(channels, width, patch, patch)
        self.register_buffer("pos", sincos_2d(width, grid))
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self.dembed = nn.Linear(width, dwidth)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dwidth))
        self.register_buffer("dpos", sincos_2d(dwidth, grid))
        self.dblocks = nn.ModuleList(Block(dwidth, dheads) for _ in range(ddepth))
        self.dnorm = nn.LayerNorm(dwidth, eps=1e-6)
        self.pred = nn.Linear(dwidth, P)
        self.sigma = nn.Sequential(nn.Linear(dwidth, dwidth), nn.ReLU(), nn.Linear(dwidth, dwidth))
        self.head = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 128))

    def forward(self, v1, v2):
        x = torch.cat([v1, v2])
        n = x.shape[0]
        sig = torch.rand(n, device=x.device) * 0.05
        noise = torch.randn_like(x) * sig.view(n, 1, 1, 1)
        t = self.patch(x + noise).flatten(2).transpose(1, 2) + self.pos
        keep = int(L * (1 - mask_ratio))
        ids = torch.rand(n, L, device=x.device).argsort(1)
        restore = ids.argsort(1)
        vis = torch.gather(t, 1, ids[:, :keep, None].expand(-1, -1, width))
        mask = torch.ones(n, L, device=x.device)
        mask[:, :keep] = 0
        mask = torch.gather(mask, 1, restore)
        for b in self.blocks:
            vis = b(vis)
        lat = self.norm(vis)
        z = F.normalize(self.head(lat.mean(1)), dim=1)
        half = n // 2
        sim = (z @ z.t() / 0.1).masked_fill(torch.eye(n, dtype=torch.bool, device=x.device), float("-inf"))
        target = torch.cat([torch.arange(half, n), torch.arange(0, half)]).to(x.device)
        contrast = F.cross_entropy(sim, target)
        d = self.dembed(lat)
        d = torch.cat([d, self.mask_token.expand(n, L - keep, -1)], 1)
        d = torch.gather(d, 1, restore[..., None].expand(-1, -1, dwidth)) + self.dpos
        half_d = dwidth // 2
        freqs = torch.exp(torch.arange(half_d, device=x.device) * (-math.log(10000) / half_d))
        args = (sig * 1000)[:, None] * freqs[None]
        d = d + self.sigma(torch.cat([args.sin(), args.cos()], 1))[:, None]
        for b in self.dblocks:
            d = b(d)
        pred = self.pred(self.dnorm(d))
        tgt = x.reshape(n, channels, grid, patch, grid, patch).permute(0, 2, 4, 3, 5, 1).reshape(n, L, P)
        tgt = (tgt - tgt.mean(-1, keepdim=True)) / (tgt.var(-1, keepdim=True) + 1e-6).sqrt()
        rec = (((pred - tgt) ** 2).mean(-1) * mask).sum() / mask.sum()
        nt = noise.reshape(n, channels, grid, patch, grid, patch).permute(0, 2, 4, 3, 5, 1).reshape(n, L, P)
        den = (((pred - nt) ** 2).mean(-1) * (1 - mask)).sum() / (1 - mask).sum()
        return 0.03 * contrast + 0.67 * rec + 0.3 * den


model = Can().to(dev)
opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)
v1 = torch.randn(batch, channels, image, image).to(dev)
v2 = torch.randn(batch, channels, image, image).to(dev)
cuda = dev.type == "cuda"


def wait():
    if cuda:
        torch.cuda.synchronize(dev)


def step():
    opt.zero_grad(set_to_none=True)
    with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        loss = model(v1, v2)
    loss.backward()
    opt.step()
    return loss


def peak_mb():
    if cuda:
        return torch.cuda.max_memory_allocated(dev) / 1e6
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


step()
wait()
print("ready", flush=True)
for line in sys.stdin:
    cmd = line.split()
    if not cmd or cmd[0] == "quit":
        break
    if cmd[0] == "info":
        name = torch.cuda.get_device_name(dev) if cuda else "cpu"
        print(f"info {torch.__version__} {name}", flush=True)
        continue
    if cmd[0] == "run":
        n = int(cmd[1])
        wait()
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        wait()
        print(f"ms {(time.perf_counter() - t0) * 1000 / n:.3f} {peak_mb():.1f}", flush=True)
        continue
    times = []
    for _ in range(int(cmd[1])):
        t0 = time.perf_counter()
        float(step())
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    print(f"ms {times[len(times) // 2]:.3f} {peak_mb():.1f}", flush=True)
