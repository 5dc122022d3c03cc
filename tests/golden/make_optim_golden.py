#!/usr/bin/python3
"""Golden numbers for CanKit's optimisers, from PyTorch on the same libtorch (Debian python3-torch 1.13).

Writes optim.json: inputs (seeded), and the parameters after each of three steps of AdamW (two groups, weight
decay on the matrix only, gradient clipping), SGD with Nesterov momentum, and SGD with dampening and L2 decay.
Run: /usr/bin/python3 tests/golden/make_optim_golden.py   (re-running reproduces the file byte for byte)
"""
import json
import os

import torch

torch.manual_seed(1234)
torch.set_num_threads(1)
X = torch.randn(8, 5)
Y = torch.randn(8, 4)
W0 = torch.randn(5, 4) * 0.5
B0 = torch.randn(4) * 0.1
STEPS = 3


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def loss_of(w, b):
    return torch.nn.functional.mse_loss(X @ w + b, Y) + 0.1 * (w * w).sum()


def run(make_opt, clip=None):
    w = W0.clone().requires_grad_()
    b = B0.clone().requires_grad_()
    opt = make_opt(w, b)
    trace = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = loss_of(w, b)
        loss.backward()
        norm = None
        if clip is not None:
            norm = float(torch.nn.utils.clip_grad_norm_([w, b], clip))
        opt.step()
        trace.append({"loss": float(loss), "w": flat(w), "b": flat(b), "grad_norm": norm})
    return trace


out = {
    "x": flat(X), "y": flat(Y), "w0": flat(W0), "b0": flat(B0),
    "shapes": {"x": [8, 5], "y": [8, 4], "w": [5, 4], "b": [4]},
    "adamw": {
        "lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay_w": 0.05, "weight_decay_b": 0.0, "clip": 0.5,
        "trace": run(lambda w, b: torch.optim.AdamW(
            [{"params": [w], "weight_decay": 0.05}, {"params": [b], "weight_decay": 0.0}],
            lr=0.01, betas=(0.9, 0.999), eps=1e-8, foreach=False), clip=0.5),
    },
    "sgd_nesterov": {
        "lr": 0.05, "momentum": 0.9,
        "trace": run(lambda w, b: torch.optim.SGD([w, b], lr=0.05, momentum=0.9, nesterov=True, foreach=False)),
    },
    "sgd_dampening": {
        "lr": 0.05, "momentum": 0.8, "dampening": 0.1, "weight_decay": 0.01,
        "trace": run(lambda w, b: torch.optim.SGD([w, b], lr=0.05, momentum=0.8, dampening=0.1, weight_decay=0.01,
                                                  foreach=False)),
    },
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optim.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1, sort_keys=True)
    f.write("\n")
print("wrote", path)
