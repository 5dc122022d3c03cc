#!/usr/bin/python3
"""Golden numbers for CanKit's methods from plain PyTorch (Debian python3-torch 1.13), written from the sources:
  can_official, cmae   line-for-line transcriptions of the official code (CAN: github.com/shlokk/mae-contrastive;
                       CMAE: github.com/ZhichengHuang/CMAE), each line citing the file it follows; the only CanKit
                       choices left in them are named where they occur (CMAE's heads without batch norm and its
                       feature decoder at the encoder width);
  can, can_no_sigma    the CAN paper's method (arXiv 2210.16870) with the paper preset's settings; where the paper
                       leaves a detail open the line says which choice it makes (σ embedding on the decoder tokens,
                       σ scaled by 1000, norm-pix and weights from the community re-implementation);
  mae, simclr          MAE (models_mae.py of facebookresearch/mae) and SimCLR's NT-Xent.

For each case it writes tests/golden/<case>.safetensors holding
  w.<name>     the weights, under CanKit's state-dict names (random, seeded)
  in.<name>    the inputs: views, mask noise [V·N, L], σ [V·N], e [V·N, C, H, W]
  out.<term>   the expected loss terms and contrastive top-1 (float64 scalars)
  grad.<name>  gradients of selected parameters after backward
  after.<name> (CMAE) target parameters after one SGD step (lr 0.1) and one EMA update (μ = 0.9)
Run: /usr/bin/python3 tests/golden/make_methods_golden.py   (re-running reproduces the files byte for byte)
"""
import json
import math
import os
import struct

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
HERE = os.path.dirname(os.path.abspath(__file__))
IMG, PATCH, CH, WIDTH, DEPTH, HEADS = 16, 4, 3, 32, 2, 2
DWIDTH, DDEPTH, DHEADS, PROJ, N, MASK = 16, 1, 2, 16, 4, 0.5
GRID = IMG // PATCH
L = GRID * GRID
P = PATCH * PATCH * CH
EPS_LN = 1e-6


# ---- shared pieces: ViT and MAE decoder as in facebookresearch/mae models_mae.py / timm Block ----------------
def sincos_2d(d, cls):
    q = d // 4
    rows = L + (1 if cls else 0)
    e = torch.zeros(rows, d, dtype=torch.float64)
    off = 1 if cls else 0
    for i in range(GRID):
        for j in range(GRID):
            t = off + i * GRID + j
            for k in range(q):
                w = 1.0 / math.pow(10000, k / q)
                e[t, k], e[t, q + k] = math.sin(j * w), math.cos(j * w)
                e[t, 2 * q + k], e[t, 3 * q + k] = math.sin(i * w), math.cos(i * w)
    return e.float().unsqueeze(0)


def patchify(x):
    n = x.shape[0]
    return x.reshape(n, CH, GRID, PATCH, GRID, PATCH).permute(0, 2, 4, 3, 5, 1).reshape(n, L, P)


def linear(W, prefix, x):
    return F.linear(x, W[prefix + ".weight"], W[prefix + ".bias"])


def block(W, prefix, x, heads):
    n, l, d = x.shape
    h = F.layer_norm(x, (d,), W[prefix + ".norm1.weight"], W[prefix + ".norm1.bias"], EPS_LN)
    qkv = linear(W, prefix + ".attn.qkv", h).reshape(n, l, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    a = torch.ops.aten._scaled_dot_product_attention(q, k, v, None, 0.0, False, False)[0]
    x = x + linear(W, prefix + ".attn.proj", a.transpose(1, 2).reshape(n, l, d))
    h = F.layer_norm(x, (d,), W[prefix + ".norm2.weight"], W[prefix + ".norm2.bias"], EPS_LN)
    return x + linear(W, prefix + ".mlp.fc2", F.gelu(linear(W, prefix + ".mlp.fc1", h)))


def embed(W, enc, images, cls):
    t = F.conv2d(images, W[enc + ".patch_embed.proj.weight"], W[enc + ".patch_embed.proj.bias"], stride=PATCH)
    pos = W[enc + ".pos_embed"][:, 1:] if cls else W[enc + ".pos_embed"]
    return t.flatten(2).transpose(1, 2) + pos


def encode_blocks(W, enc, tokens, cls, depth=DEPTH):
    x = tokens
    if cls:
        c = (W[enc + ".cls_token"] + W[enc + ".pos_embed"][:, :1]).expand(tokens.shape[0], -1, -1)
        x = torch.cat([c, tokens], 1)
    for b in range(depth):
        x = block(W, f"{enc}.blocks.{b}", x, HEADS)
    return x


def encode(W, enc, tokens, cls, depth=DEPTH):
    x = encode_blocks(W, enc, tokens, cls, depth)
    return F.layer_norm(x, (WIDTH,), W[enc + ".norm.weight"], W[enc + ".norm.bias"], EPS_LN)


def mask_tokens(tokens, noise, ratio):
    n, l, d = tokens.shape
    keep = int(l * (1 - ratio))
    ids_shuffle = torch.argsort(noise, 1)
    ids_restore = torch.argsort(ids_shuffle, 1)
    visible = torch.gather(tokens, 1, ids_shuffle[:, :keep, None].expand(-1, -1, d))
    m = torch.ones(n, l)
    m[:, :keep] = 0
    return visible, torch.gather(m, 1, ids_restore), ids_restore


def decode(W, dec, latent, ids_restore, cls, width, heads, depth, bias=None, pred=True):
    off = 1 if cls else 0
    n, lv = latent.shape[0], latent.shape[1] - off
    x = linear(W, dec + ".embed", latent)
    seq = torch.cat([x[:, off:], W[dec + ".mask_token"].expand(n, L - lv, width)], 1)
    seq = torch.gather(seq, 1, ids_restore[..., None].expand(-1, -1, width))
    if cls:
        seq = torch.cat([x[:, :1], seq], 1)
    h = seq + W[dec + ".pos_embed"]
    if bias is not None:
        h = h + bias.unsqueeze(1)
    for b in range(depth):
        h = block(W, f"{dec}.blocks.{b}", h, heads)
    h = F.layer_norm(h, (width,), W[dec + ".norm.weight"], W[dec + ".norm.bias"], EPS_LN)[:, off:]
    return linear(W, dec + ".pred", h) if pred else h


def head(W, prefix, x):
    return linear(W, prefix + ".2", F.relu(linear(W, prefix + ".0", x)))


def sigma_embedding(W, sigma, width, scale=1000.0):
    # CAN §3.3 tells the decoder σ through a sinusoidal embedding and an MLP; the spacing 10000^(-k/(D/2)) (Transformer)
    # and the factor 1000 are the paper preset's choices (the official code's are in case_can_official).
    half = width // 2
    k = torch.arange(0, half, dtype=torch.float32)
    freqs = (k * (-math.log(10000) / half)).exp()
    args = (sigma.float().unsqueeze(1) * scale) * freqs.unsqueeze(0)
    return head(W, "sigma_embed.mlp", torch.cat([args.sin(), args.cos()], 1))


def info_nce(z1, z2, tau):
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2], 0), 2, 1)
    logits = (z @ z.t() / tau).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(logits, targets), (logits.argmax(1) == targets).float().mean()


def info_nce_asymmetric(q, k, tau):
    logits = F.normalize(q, 2, 1) @ F.normalize(k.detach(), 2, 1).t() / tau
    targets = torch.arange(q.shape[0])
    return F.cross_entropy(logits, targets), (logits.argmax(1) == targets).float().mean()


def masked_mse(pred, target, weights):
    per_patch = ((pred - target) * (pred - target)).mean(-1)
    return (per_patch * weights).sum() / weights.sum().clamp_min(1)


def reconstruction(pred, images, mask, norm_pix=True):
    t = patchify(images)
    if norm_pix:
        t = (t - t.mean(-1, keepdim=True)) / (t.var(-1, unbiased=True, keepdim=True) + 1e-6).sqrt()
    return masked_mse(pred, t, mask)


# ---- weights ------------------------------------------------------------------------------------------------
def rand(*shape, std=0.2):
    return torch.randn(*shape) * std


def add_block(W, prefix, d):
    W[prefix + ".norm1.weight"], W[prefix + ".norm1.bias"] = 1 + rand(d, std=0.1), rand(d, std=0.1)
    W[prefix + ".attn.qkv.weight"], W[prefix + ".attn.qkv.bias"] = rand(3 * d, d), rand(3 * d, std=0.05)
    W[prefix + ".attn.proj.weight"], W[prefix + ".attn.proj.bias"] = rand(d, d), rand(d, std=0.05)
    W[prefix + ".norm2.weight"], W[prefix + ".norm2.bias"] = 1 + rand(d, std=0.1), rand(d, std=0.1)
    W[prefix + ".mlp.fc1.weight"], W[prefix + ".mlp.fc1.bias"] = rand(4 * d, d), rand(4 * d, std=0.05)
    W[prefix + ".mlp.fc2.weight"], W[prefix + ".mlp.fc2.bias"] = rand(d, 4 * d, std=0.1), rand(d, std=0.05)


def add_encoder(W, prefix, cls):
    W[prefix + ".patch_embed.proj.weight"] = rand(WIDTH, CH, PATCH, PATCH)
    W[prefix + ".patch_embed.proj.bias"] = rand(WIDTH, std=0.05)
    if cls:
        W[prefix + ".cls_token"] = rand(1, 1, WIDTH, std=0.02)
    W[prefix + ".pos_embed"] = sincos_2d(WIDTH, cls)
    for b in range(DEPTH):
        add_block(W, f"{prefix}.blocks.{b}", WIDTH)
    W[prefix + ".norm.weight"], W[prefix + ".norm.bias"] = 1 + rand(WIDTH, std=0.1), rand(WIDTH, std=0.1)


def add_decoder(W, prefix, cls, width, depth, pred=True):
    W[prefix + ".embed.weight"], W[prefix + ".embed.bias"] = rand(width, WIDTH), rand(width, std=0.05)
    W[prefix + ".mask_token"] = rand(1, 1, width, std=0.02)
    W[prefix + ".pos_embed"] = sincos_2d(width, cls)
    for b in range(depth):
        add_block(W, f"{prefix}.blocks.{b}", width)
    W[prefix + ".norm.weight"], W[prefix + ".norm.bias"] = 1 + rand(width, std=0.1), rand(width, std=0.1)
    if pred:
        W[prefix + ".pred.weight"], W[prefix + ".pred.bias"] = rand(P, width), rand(P, std=0.05)


def add_head(W, prefix, i, h, o):
    W[prefix + ".0.weight"], W[prefix + ".0.bias"] = rand(h, i), rand(h, std=0.05)
    W[prefix + ".2.weight"], W[prefix + ".2.bias"] = rand(o, h), rand(o, std=0.05)


# ---- the cases --------------------------------------------------------------------------------------------
def case_can(sigma_embed):
    W = {}
    add_encoder(W, "encoder", cls=False)
    add_decoder(W, "decoder", cls=False, width=DWIDTH, depth=DDEPTH)
    if sigma_embed:
        add_head(W, "sigma_embed.mlp", DWIDTH, DWIDTH, DWIDTH)
    add_head(W, "head", WIDTH, WIDTH, PROJ)
    I = {"view1": torch.randn(N, CH, IMG, IMG), "view2": torch.randn(N, CH, IMG, IMG), "mask_noise": torch.rand(2 * N, L),
         "sigma": torch.rand(2 * N) * 0.05, "eps": torch.randn(2 * N, CH, IMG, IMG)}
    for t in W.values():
        t.requires_grad_(True)
    x = torch.cat([I["view1"], I["view2"]], 0)                          # two views, one batch
    noise = I["eps"] * I["sigma"].view(2 * N, 1, 1, 1)                  # CAN §3.3: σ·e, σ ~ U[0, σmax] per sample
    visible, mask, restore = mask_tokens(embed(W, "encoder", x + noise, False), I["mask_noise"], MASK)   # 50% in each view
    latent = encode(W, "encoder", visible, False)                       # the encoder sees visible noisy patches only
    z = head(W, "head", latent.mean(1))                                 # mean of visible tokens -> MLP head
    con, top1 = info_nce(z[:N], z[N:], 0.1)                             # InfoNCE, τ = 0.1, 2n - 2 negatives
    bias = sigma_embedding(W, I["sigma"], DWIDTH) if sigma_embed else None
    pred = decode(W, "decoder", latent, restore, False, DWIDTH, DHEADS, DDEPTH, bias)   # σ on every decoder token (preset)
    rec = reconstruction(pred, x, mask)                                 # clean pixels of masked patches (norm-pix: preset)
    den = masked_mse(pred, patchify(noise), 1.0 - mask)                 # predict σ·e on visible patches
    total = con * 0.03                                                  # weights 0.03 / 0.67 / 0.3: the paper preset's
    total = total + rec * 0.67
    total = total + den * 0.3
    total.backward()
    out = {"total": total, "contrastive": con, "reconstruction": rec, "denoise": den, "top1": top1}
    grads = ["encoder.patch_embed.proj.weight", "encoder.blocks.0.attn.qkv.weight", "encoder.blocks.1.mlp.fc2.weight",
             "decoder.pred.weight", "decoder.mask_token", "head.2.weight"] + (["sigma_embed.mlp.0.weight"] if sigma_embed else [])
    return W, I, out, {k: W[k].grad for k in grads}, {}


# ---- CAN as its official code computes it (github.com/shlokk/mae-contrastive at 12d2ba5, run with --noise_loss;
# paths below are in that repo). Every line follows the cited source; the random draws are given instead of made.
PE_DIMS = 128                                                            # models_mae.py MaskedAutoencoderViT(pe_dims=128)


def get_1d_sincos_pos_embed(x, dim):
    """util/pos_embed.py get_1d_sincos_pos_embed (taken from denoising-diffusion-pytorch), line for line."""
    half_dim = dim // 2
    emb = math.log(10000) / (half_dim - 1)
    emb = torch.exp(torch.arange(half_dim) * -emb)
    emb = x[:, None] * emb[None, :]
    emb = torch.cat((emb.sin(), emb.cos()), dim=-1)
    return emb


def sup_con_loss(features, temperature=0.1, base_temperature=0.1):
    """loss_contrastive.py SupConLoss.forward with labels = mask = None and contrast_mode 'all', line for line."""
    batch_size = features.shape[0]
    mask = torch.eye(batch_size, dtype=torch.float32)
    contrast_count = features.shape[1]
    contrast_feature = torch.cat(torch.unbind(features, dim=1), dim=0)
    anchor_feature, anchor_count = contrast_feature, contrast_count
    anchor_dot_contrast = torch.div(torch.matmul(anchor_feature, contrast_feature.T), temperature)
    logits_max, _ = torch.max(anchor_dot_contrast, dim=1, keepdim=True)
    logits = anchor_dot_contrast - logits_max.detach()
    mask = mask.repeat(anchor_count, contrast_count)
    logits_mask = torch.scatter(torch.ones_like(mask), 1, torch.arange(batch_size * anchor_count).view(-1, 1), 0)
    mask = mask * logits_mask
    exp_logits = torch.exp(logits) * logits_mask
    log_prob = logits - torch.log(exp_logits.sum(1, keepdim=True))
    mean_log_prob_pos = (mask * log_prob).sum(1) / mask.sum(1)
    loss = - (temperature / base_temperature) * mean_log_prob_pos
    return loss.view(anchor_count, batch_size).mean()


def case_can_official():
    W = {}
    add_encoder(W, "encoder", cls=True)                                  # cls_token; pos_embed [1, L + 1, D]
    add_decoder(W, "decoder", cls=True, width=DWIDTH, depth=DDEPTH)      # decoder_pos_embed [1, L + 1, Dd]
    add_head(W, "sigma_embed.mlp", PE_DIMS, WIDTH, WIDTH)                # noise_pe_mlp: Linear(pe_dims, D), ReLU, Linear(D, D)
    add_head(W, "head", WIDTH, WIDTH, PROJ)                              # projection_head: Linear(D, D), ReLU, Linear(D, feat_dim)
    std, mask_ratio = 0.1, 0.75                                          # MaskedAutoencoderViT(std=0.1); main_pretrain.py --mask_ratio 0.75
    I = {"view1": torch.randn(N, CH, IMG, IMG), "view2": torch.randn(N, CH, IMG, IMG), "mask_noise": torch.rand(2 * N, L),
         "sigma": std * torch.rand(2 * N), "eps": torch.randn(2 * N, CH, IMG, IMG)}
    for t in W.values():
        t.requires_grad_(True)
    imgs = torch.cat([I["view1"], I["view2"]], dim=0)                    # engine_pretrain.py: "contrastive hack"
    # models_mae.py forward: noise_level = std * rand(N); noise = noise_level[:, None, None, None] * randn(imgs.shape)
    noise_level = I["sigma"]
    noise = noise_level[:, None, None, None] * I["eps"]
    imgs = imgs + noise                                                  # imgs += noise: every later use sees the noisy batch
    # forward_encoder: patch_embed + pos_embed[:, 1:], random_masking, [CLS] + pos_embed[:, :1], blocks, norm
    visible, mask, ids_restore = mask_tokens(embed(W, "encoder", imgs, True), I["mask_noise"], mask_ratio)
    latent = encode(W, "encoder", visible, True)
    bsz = int(imgs.shape[0] / 2)
    latent_contrastive = head(W, "head", latent.mean(dim=1, keepdim=False))   # mean over [CLS] and visible tokens
    features = F.normalize(latent_contrastive, dim=-1)
    f1, f2 = torch.split(features, [bsz, bsz], dim=0)
    loss_contrastive = sup_con_loss(torch.cat([f1.unsqueeze(1), f2.unsqueeze(1)], dim=1))
    noise_pe = head(W, "sigma_embed.mlp", get_1d_sincos_pos_embed(noise_level, dim=PE_DIMS))
    latent = latent + torch.cat(latent.shape[1] * [noise_pe.unsqueeze(1)], dim=1)   # latent += noise_pe, before decoder_embed
    pred = decode(W, "decoder", latent, ids_restore, True, DWIDTH, DHEADS, DDEPTH)
    # forward_loss(imgs, pred, mask, noise) with norm_pix_loss=False (main_pretrain.py default)
    target = patchify(imgs)
    loss = ((pred - target) ** 2).mean(dim=-1)
    loss = (loss * mask).sum() / mask.sum()
    loss_noise = ((pred - patchify(noise)) ** 2).mean(dim=-1)
    loss_noise = (loss_noise * (1 - mask)).sum() / (1 - mask).sum()
    # engine_pretrain.py train_one_epoch, main_pretrain.py defaults weight_mae 0.97, weight_simclr 0.03, weight_noise 0.3
    weight_mae, weight_simclr, weight_noise = 0.97, 0.03, 0.3
    loss_recon = weight_noise * loss_noise + (1 - weight_noise) * loss
    total = weight_mae * loss_recon + weight_simclr * loss_contrastive
    total.backward()
    out = {"total": total, "contrastive": loss_contrastive, "reconstruction": loss, "denoise": loss_noise}
    grads = ["encoder.cls_token", "encoder.patch_embed.proj.weight", "encoder.blocks.1.mlp.fc2.weight", "decoder.pred.weight",
             "decoder.mask_token", "head.2.weight", "sigma_embed.mlp.0.weight"]
    return W, I, out, {k: W[k].grad for k in grads}, {}


def case_mae():
    W = {}
    add_encoder(W, "encoder", cls=True)
    add_decoder(W, "decoder", cls=True, width=DWIDTH, depth=DDEPTH)
    I = {"images": torch.randn(N, CH, IMG, IMG), "mask_noise": torch.rand(N, L)}
    for t in W.values():
        t.requires_grad_(True)
    visible, mask, restore = mask_tokens(embed(W, "encoder", I["images"], True), I["mask_noise"], 0.75)
    latent = encode(W, "encoder", visible, True)
    rec = reconstruction(decode(W, "decoder", latent, restore, True, DWIDTH, DHEADS, DDEPTH), I["images"], mask)
    rec.backward()
    grads = ["encoder.cls_token", "encoder.patch_embed.proj.weight", "encoder.blocks.1.attn.qkv.weight", "decoder.pred.weight"]
    return W, I, {"total": rec, "reconstruction": rec}, {k: W[k].grad for k in grads}, {}


def case_simclr():
    W = {}
    add_encoder(W, "encoder", cls=False)
    add_head(W, "head", WIDTH, WIDTH, PROJ)
    I = {"view1": torch.randn(N, CH, IMG, IMG), "view2": torch.randn(N, CH, IMG, IMG)}
    for t in W.values():
        t.requires_grad_(True)
    x = torch.cat([I["view1"], I["view2"]], 0)
    z = head(W, "head", encode(W, "encoder", embed(W, "encoder", x, False), False).mean(1))
    con, top1 = info_nce(z[:N], z[N:], 0.1)
    con.backward()
    grads = ["encoder.patch_embed.proj.weight", "encoder.blocks.0.attn.qkv.weight", "head.0.weight"]
    return W, I, {"total": con, "contrastive": con, "top1": top1}, {k: W[k].grad for k in grads}, {}


# ---- CMAE as its official code computes it (github.com/ZhichengHuang/CMAE at e786a52; paths below are in that repo).
# Two deliberate CanKit departures stay (docs/methods.md): projector and predictor are Linear-ReLU-Linear without batch
# norm (official: NonLinearNeck with BN), and the feature decoder works at the encoder width without a final Linear
# (official: an MAEPretrainDecoder whose decoder_pred maps 512 -> 768, ViT-B's width).
def cmae_random_masking(x, noise, mask_ratio):
    """cmae/models/backbones/cmae_vit.py, CMAEViT.random_masking (mask_ratio > 0), line for line; the block noise
    [N, L/4] is given instead of drawn (torch.rand(N, seq_len))."""
    N, L, D = x.shape
    seq_len = L // 4                                                    # 2x2 blocks
    len_keep = int(seq_len * (1 - mask_ratio))
    ids_shuffle = torch.argsort(noise, dim=1)                           # ascend: small is keep
    ids_keep_s = ids_shuffle[:, :len_keep]
    mask = torch.zeros((N, seq_len))
    mask = torch.scatter(mask, 1, ids_keep_s, 1.0)                      # 1 = kept block
    mask = mask.reshape(N, int(seq_len ** 0.5), int(seq_len ** 0.5)).unsqueeze(dim=2).unsqueeze(dim=4)
    mask = mask.expand(-1, -1, 2, -1, 2).flatten(1, 2).flatten(2, 3)    # each block to its 2x2 patches
    mask = mask.flatten(1)
    mask_index = torch.argsort(mask, dim=-1, descending=True)
    ids_keep = mask_index[:, :4 * len_keep]
    x_masked = torch.gather(x, dim=1, index=ids_keep.unsqueeze(-1).repeat(1, 1, D))
    ids_restore = torch.argsort(mask_index, dim=1)
    mask_out = ~mask.to(torch.bool)
    mask_out = mask_out * 1.0                                           # 1 = removed
    return x_masked, mask_out, ids_restore


def case_cmae():
    W = {}
    add_encoder(W, "encoder", cls=True)
    add_decoder(W, "pixel_decoder", cls=True, width=DWIDTH, depth=DDEPTH)
    add_decoder(W, "feature_decoder", cls=True, width=WIDTH, depth=2, pred=False)
    add_head(W, "projector", WIDTH, 2 * WIDTH, PROJ)
    add_head(W, "predictor", PROJ, 2 * WIDTH, PROJ)
    # The target starts as a perturbed copy of the online branch, so the EMA step is visible.
    for k in [k for k in W if k.startswith("encoder.")]:
        W["target_" + k] = W[k] + (rand(*W[k].shape, std=0.01) if not k.endswith("pos_embed") else 0)
    for k in [k for k in W if k.startswith("projector.")]:
        W["target_" + k] = W[k] + rand(*W[k].shape, std=0.01)
    # Block noise [N, L/4]: one value per 2x2 block, as CMAEViT.random_masking draws it.
    I = {"online": torch.randn(N, CH, IMG, IMG), "target": torch.randn(N, CH, IMG, IMG), "mask_noise": torch.rand(N, L // 4)}
    online = [k for k in W if not k.startswith("target_") and not k.endswith("pos_embed")]
    for k in online:
        W[k].requires_grad_(True)
    tau, ct_weight, mask_ratio = 0.07, 1.0, 0.65                         # configs/pre-training/cmae/*300e*.py: temperature, ct_weight, mask_ratio
    # cmae_vit.py forward: patch embed + pos (w/o cls), random_masking, cls, blocks, final norm (online: final_norm=True)
    visible, mask, restore = cmae_random_masking(embed(W, "encoder", I["online"], True), I["mask_noise"], mask_ratio)
    latent = encode(W, "encoder", visible, True)
    # cmae.py forward_train: pixel and feature decoders on the online latent; projector on the mean decoded feature
    pred_pixel = decode(W, "pixel_decoder", latent, restore, True, DWIDTH, DHEADS, DDEPTH)
    feats = decode(W, "feature_decoder", latent, restore, True, WIDTH, HEADS, 2, pred=False)
    proj_s = head(W, "projector", feats.mean(1))
    with torch.no_grad():
        # target backbone: mask_ratio=0.0 (all patches in order), use_cls=True, final_norm=False (300e config)
        t = encode_blocks(W, "target_encoder", embed(W, "target_encoder", I["target"], True), True)
        proj_t = head(W, "target_projector", t[:, 1:].mean(1))       # target_cls: mean of latent_t[:, 1:]
    # cmae_head.py CMAEPretrainHead.forward
    target = patchify(I["online"])
    target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1.e-6) ** .5
    loss_rec = ((pred_pixel - target) ** 2).mean(dim=-1)
    loss_rc = (loss_rec * mask).sum() / mask.sum()
    pred_s = F.normalize(head(W, "predictor", proj_s), dim=1, p=2)
    proj_t = F.normalize(proj_t, dim=1, p=2)
    score = torch.matmul(pred_s, proj_t.transpose(1, 0).detach()) / tau
    label = torch.arange(N)
    ce = F.cross_entropy(score, label)
    loss_ct = ct_weight * 2 * tau * ce                                  # losses['loss_ct'] = self.ct_weight * 2 * self.t * CE
    total = loss_ct + 1.0 * loss_rc                                     # rc_weight = 1.0; mmengine sums the 'loss_*' terms
    top1 = (score.argmax(1) == label).float().mean()
    total.backward()
    before = {k: v.detach().clone() for k, v in W.items()}
    grad = {k: W[k].grad.clone() for k in online if W[k].grad is not None}
    after = {}
    with torch.no_grad():
        for name in online:
            if W[name].grad is not None:
                W[name].add_(W[name].grad, alpha=-0.1)
        # cmae.py momentum_update: param_m = param_m * m + param_b * (1 - m), for backbone and projector
        for name in [n for n in W if n.startswith("target_") and not n.endswith("pos_embed")]:
            after[name] = W[name].clone().mul_(0.9).add_(W[name[len("target_"):]], alpha=1 - 0.9)
    # "contrastive" is the unweighted InfoNCE (CanKit's LossBreakdown convention); the total carries the 2τ scaling.
    out = {"total": total, "contrastive": ce, "reconstruction": loss_rc, "top1": top1}
    grads = ["encoder.patch_embed.proj.weight", "encoder.blocks.0.attn.qkv.weight", "pixel_decoder.pred.weight",
             "feature_decoder.blocks.1.mlp.fc1.weight", "projector.0.weight", "predictor.2.weight"]
    return before, I, out, {k: grad[k] for k in grads}, after


# ---- safetensors, written by hand (the format is an 8-byte length, a JSON header, then raw data) -----------
CODES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}


def save(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        b = t.numpy().tobytes()
        header[name] = {"dtype": CODES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    js = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    js += b" " * ((8 - len(js) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)) + js + b"".join(blobs))


for name, make in [("can", lambda: case_can(True)), ("can_no_sigma", lambda: case_can(False)),
                   ("can_official", case_can_official), ("mae", case_mae), ("simclr", case_simclr), ("cmae", case_cmae)]:
    torch.manual_seed(sum(map(ord, name)))
    W, I, out, grads, after = make()
    tensors = {}
    for k, v in W.items():   # for CMAE: the weights from before its SGD step
        tensors["w." + k] = v
    for k, v in I.items():
        tensors["in." + k] = v
    for k, v in out.items():
        tensors["out." + k] = v.detach().double()
    for k, g in grads.items():
        tensors["grad." + k] = g
    for k, v in after.items():
        tensors["after." + k] = v
    save(os.path.join(HERE, f"{name}.safetensors"), tensors)
    print("wrote", name, {k: round(float(v), 6) for k, v in out.items()})
