#!/usr/bin/env python3
"""A plain PyTorch reference for nflow's image flows, glow and realnvp-ms
(issue 31).

  check  --model M --data X.npy --logp LP.npy
         reads an nflow image model (its file, through torch_reference.py's
         reader), rebuilds every layer out of ordinary torch operations
         (conv2d for the coupling networks, a dense matrix for the 1x1
         convolution, the logit of the bounds, ...) in float64 with the
         file's weights, and compares the per-row log-densities with
         nflow's (`nflow eval M --data X --out LP.npy`): one JSON line,
         exit status 0 when they agree to 1e-4 relative;
  train  --data TRAIN.npy --test TEST.npy --seconds S [--threads T]
         [--model glow|realnvp-ms --levels --steps --channels --blocks
         --batch --lr --seed --val-fraction]
         the same architecture and recipe as `nflow train --model glow`
         (dequantisation, RealNVP's logit, standardisation per channel,
         ActNorm started from the first batch, Adam 2e-3 with weight decay
         1e-6 and gradient norm clipped at 100, batch 16), written the
         usual PyTorch way (NCHW tensors, squeeze by reshape, split by
         slicing) in float32, trained for S seconds of wall time on T
         threads; prints JSON lines with the test bits per dimension at
         the checkpoints asked (--report 120,600); --checkpoint F keeps the
         training state in F (every --checkpoint-every seconds and at the
         end), --resume continues it: --seconds and --report then count the
         earlier runs' training time too;
  speed  --data TRAIN.npy [--images N --threads T ...]
         seconds per image of training steps (--batch, 16), steady state.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as tr  # noqa: E402  (the model-file reader)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

LOG2PI = math.log(2 * math.pi)


# ---------------------------------------------------------------------------
# check: an nflow image model, layer by layer, in float64
# ---------------------------------------------------------------------------

def convnet_params(c_in, c_out, width, blocks):
    return 9 * c_in * width + width + blocks * (width * width + width) + 9 * width * c_out + c_out


def read_image_model(path):
    secs = tr.read_container(path)
    head = secs[0]
    if head.tag != "nflow":
        raise tr.ModelFileError("%s: not an nflow model" % path)
    dim = tr.get(path, head, "dim", tr.TYPE_I64)
    n_layers = tr.get(path, head, "layers", tr.TYPE_I64)
    if tr.get(path, head, "base", tr.TYPE_STR) != "normal":
        raise tr.ModelFileError("%s: only the normal base is supported here" % path)
    i = 1
    while secs[i].tag in ("config", "training"):
        i += 1
    layers, p_off, s_off = [], 0, 0
    for _ in range(n_layers):
        sec = secs[i]
        L = {"tag": sec.tag, "p_off": p_off}
        n_p = n_s = 0
        if sec.tag == "bounds":
            L["lo"] = tr.get(path, sec, "lo", tr.TYPE_F64S, dim)
            L["hi"] = tr.get(path, sec, "hi", tr.TYPE_F64S, dim)
        elif sec.tag == "standardize":
            L["mean"] = tr.get(path, sec, "mean", tr.TYPE_F64S, dim)
            L["std"] = tr.get(path, sec, "std", tr.TYPE_F64S, dim)
        elif sec.tag == "permutation":
            L["perm"] = tr.get(path, sec, "perm", tr.TYPE_I32S, dim).astype(np.int64)
        elif sec.tag in ("actnorm", "linear_lu"):
            pixels = tr.get(path, sec, "pixels", tr.TYPE_I64, optional=True) or 1
            n = tr.get(path, sec, "block", tr.TYPE_I64, optional=True) or dim // pixels
            L.update(pixels=int(pixels), n=int(n))
            if sec.tag == "actnorm":
                n_p, n_s = 2 * n, 1
            else:
                L["perm"] = tr.get(path, sec, "perm", tr.TYPE_I32S, n).astype(np.int64)
                L["sign"] = np.where(tr.get(path, sec, "sign", tr.TYPE_I32S, n) < 0, -1.0, 1.0)
                n_p = n * n
        elif sec.tag == "conv_coupling":
            h, w, c = (int(v) for v in tr.get(path, sec, "image", tr.TYPE_I32S, 3))
            ctx = tr.get(path, sec, "context", tr.TYPE_I64, optional=True) or 0
            if ctx:
                raise tr.ModelFileError("%s: conditional image models are not checked here" % sec.where(path))
            L.update(h=h, w=w, c=c, mask=tr.get(path, sec, "mask", tr.TYPE_STR),
                     flip=tr.get(path, sec, "flip", tr.TYPE_I64), width=tr.get(path, sec, "hidden", tr.TYPE_I64),
                     blocks=tr.get(path, sec, "blocks", tr.TYPE_I64),
                     bound=tr.get(path, sec, "log_scale_bound", tr.TYPE_F64))
            L["reads"], L["changes"] = coupling_channels(L)
            n_p = convnet_params(len(L["reads"]), 2 * len(L["changes"]), L["width"], L["blocks"])
        else:
            raise tr.ModelFileError("%s: layer '%s' is not an image-flow layer" % (path, sec.tag))
        layers.append(L)
        p_off += n_p
        s_off += n_s
        i += 1
    floor = 0.0  # the weight of the floor N(0, I) of the standardised values (src/flow/gaussian_fit.c)
    if secs[i].tag == "gaussian_fit":
        if tr.get(path, secs[i], "identity", tr.TYPE_I64, optional=True) != 1:
            raise tr.ModelFileError("%s: a Gaussian fit other than the identity floor: not checked here" % path)
        floor = tr.get(path, secs[i], "tail_weight", tr.TYPE_F64)
        i += 1
    if secs[i].tag != "parameters":
        raise tr.ModelFileError("%s: section '%s' before the parameters: not checked here" % (path, secs[i].tag))
    params = tr.get(path, secs[i], "values", tr.TYPE_F32S, p_off).astype(np.float64)
    layers.append({"tag": "floor", "weight": floor})
    return dim, layers, params


def coupling_channels(L):
    """The channels the network reads and those it gives [a | mu] for: all
    of them for a checkerboard, the conditioning and the changed ones for a
    channel mask."""
    c = L["c"]
    if L["mask"] != "channels":
        return list(range(c)), list(range(c))
    first = list(range(c // 2))
    rest = list(range(c // 2, c))
    return (rest, first) if L["flip"] else (first, rest)


def cond_mask(L):
    h, w, c = L["h"], L["w"], L["c"]
    y, x, k = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
    a = (k < c // 2) if L["mask"] == "channels" else ((y + x) % 2 == 0)
    return (a != bool(L["flip"])).reshape(-1)


def convnet_apply(p, img, c_in, c_out, width, blocks):
    """img: (N, C, H, W); the network of src/nets/convnet.h with nflow's parameter layout."""
    def take(n):
        nonlocal p
        out, p = p[:n], p[n:]
        return out
    w0 = take(9 * c_in * width).reshape(3, 3, c_in, width).permute(3, 2, 0, 1)
    h = F.relu(F.conv2d(img, w0, take(width), padding=1))
    for _ in range(blocks):
        wb = take(width * width).reshape(width, width).t().reshape(width, width, 1, 1)
        h = h + F.relu(F.conv2d(h, wb, take(width)))
    wo = take(9 * width * c_out).reshape(3, 3, width, c_out).permute(3, 2, 0, 1)
    return F.conv2d(h, wo, take(c_out), padding=1)


def image_log_prob(dim, layers, params, x):
    x = torch.as_tensor(x, dtype=torch.float64)
    p = torch.as_tensor(params)
    ldj = torch.zeros(x.shape[0], dtype=torch.float64)
    floor = None  # log N(0, I) of the standardised values with the Jacobian so far
    for L in layers:
        tag = L["tag"]
        if tag == "floor":
            w = L["weight"]
            flow = -0.5 * (x * x).sum(1) - 0.5 * dim * LOG2PI + ldj
            if w > 0:  # the model's density: (1 - w) p_flow + w floor
                flow = torch.logaddexp(math.log1p(-w) + flow, math.log(w) + floor)
            return flow.numpy()
        if tag == "bounds":
            lo, hi = torch.as_tensor(L["lo"]), torch.as_tensor(L["hi"])
            both = torch.isfinite(lo) & torch.isfinite(hi)
            if not bool(both.all()):
                raise tr.ModelFileError("only interval bounds are checked here")
            a, b = x - lo, hi - x
            ldj = ldj + (torch.log(hi - lo) - torch.log(a) - torch.log(b)).sum(1)
            x = torch.log(a) - torch.log(b)
        elif tag == "standardize":
            x = (x - torch.as_tensor(L["mean"])) / torch.as_tensor(L["std"])
            ldj = ldj - float(np.log(L["std"]).sum())
            floor = -0.5 * (x * x).sum(1) - 0.5 * dim * LOG2PI + ldj
        elif tag == "permutation":
            x = x[:, torch.as_tensor(L["perm"])]
        elif tag == "actnorm":
            n, pix = L["n"], L["pixels"]
            b, logs = p[L["p_off"]: L["p_off"] + n], p[L["p_off"] + n: L["p_off"] + 2 * n]
            act = x[:, : n * pix].reshape(-1, pix, n)
            x = torch.cat([((act - b) * torch.exp(-logs)).reshape(-1, n * pix), x[:, n * pix:]], 1)
            ldj = ldj - pix * logs.sum()
        elif tag == "linear_lu":
            n, pix = L["n"], L["pixels"]
            m = p[L["p_off"]: L["p_off"] + n * n].reshape(n, n)
            lower = torch.tril(m, -1) + torch.eye(n, dtype=torch.float64)
            upper = torch.triu(m, 1) + torch.diag(torch.as_tensor(L["sign"]) * torch.exp(torch.diagonal(m)))
            wmat = (lower @ upper)[torch.as_tensor(L["perm"])]
            act = x[:, : n * pix].reshape(-1, pix, n) @ torch.linalg.inv(wmat).t()
            x = torch.cat([act.reshape(-1, n * pix), x[:, n * pix:]], 1)
            ldj = ldj - pix * torch.diagonal(m).sum()
        else:  # conv_coupling
            h, w, c = L["h"], L["w"], L["c"]
            active = h * w * c
            cond = torch.as_tensor(cond_mask(L))
            reads, changes = L["reads"], L["changes"]
            xa = x[:, :active]
            img = (xa * cond).reshape(-1, h, w, c)[..., reads].permute(0, 3, 1, 2)
            ni, no = len(reads), len(changes)
            n_p = convnet_params(ni, 2 * no, L["width"], L["blocks"])
            out = convnet_apply(p[L["p_off"]: L["p_off"] + n_p], img, ni, 2 * no, L["width"], L["blocks"])
            out = out.permute(0, 2, 3, 1)  # (N, h, w, 2 no)
            a = torch.zeros(out.shape[0], h, w, c, dtype=torch.float64)
            mu = torch.zeros_like(a)
            a[..., changes], mu[..., changes] = out[..., :no], out[..., no:]
            a, mu = a.reshape(-1, active), mu.reshape(-1, active)
            if L["bound"] > 0:
                a = L["bound"] * torch.tanh(a / L["bound"])
            z = torch.where(cond, xa, (xa - mu) * torch.exp(-a))
            ldj = ldj - torch.where(cond, torch.zeros_like(a), a).sum(1)
            x = torch.cat([z, x[:, active:]], 1)
    raise AssertionError("read_image_model ends the layers with the floor")


def cmd_check(args):
    dim, layers, params = read_image_model(args.model)
    x = np.load(args.data).astype(np.float32).reshape(-1, dim)
    ref = image_log_prob(dim, layers, params, x.astype(np.float64))
    got = np.load(args.logp).astype(np.float64).reshape(-1)
    err = np.abs(got - ref) / np.maximum(1.0, np.abs(ref))
    ok = bool(np.all(np.isfinite(got)) and err.max() <= 1e-4)
    print(json.dumps({"check": "image_log_prob", "model": args.model, "rows": int(len(ref)),
                      "max_rel_err": float(err.max()), "ok": ok}))
    return 0 if ok else 1


# ---------------------------------------------------------------------------
# train / speed: the same architecture, the PyTorch way (float32, NCHW)
# ---------------------------------------------------------------------------

class ActNorm(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.b = torch.nn.Parameter(torch.zeros(1, c, 1, 1))
        self.logs = torch.nn.Parameter(torch.zeros(1, c, 1, 1))
        self.started = False

    def forward(self, x):
        if not self.started and self.training:
            with torch.no_grad():
                self.b.copy_(x.mean((0, 2, 3), keepdim=True))
                self.logs.copy_(torch.log(x.std((0, 2, 3), unbiased=False, keepdim=True).clamp_min(1e-6)))
            self.started = True
        return (x - self.b) * torch.exp(-self.logs), -x.shape[2] * x.shape[3] * self.logs.sum()


class Conv1x1(torch.nn.Module):
    def __init__(self, c, gen):
        super().__init__()
        self.register_buffer("perm", torch.randperm(c, generator=gen))
        self.m = torch.nn.Parameter(torch.zeros(c, c))

    def forward(self, x):
        c = self.m.shape[0]
        lower = torch.tril(self.m, -1) + torch.eye(c)
        upper = torch.triu(self.m, 1) + torch.diag(torch.exp(torch.diagonal(self.m)))
        winv = torch.linalg.inv((lower @ upper)[self.perm])
        return F.conv2d(x, winv.reshape(c, c, 1, 1)), -x.shape[2] * x.shape[3] * torch.diagonal(self.m).sum()


class Coupling(torch.nn.Module):
    """The affine coupling of src/layers/conv_coupling.c: the masked image
    through conv3x3-relu, residual 1x1 blocks, a zero conv3x3."""

    def __init__(self, c, width, blocks, mask, bound, channels=None):
        super().__init__()
        self.register_buffer("mask", mask)  # (1, c, h, w): 1 conditions
        # a channel mask (channels = (reads, changes)): the network reads the
        # conditioning channels alone and gives values for the changed ones
        self.reads, self.changes = channels if channels else (list(range(c)), list(range(c)))
        self.inp = torch.nn.Conv2d(len(self.reads), width, 3, padding=1)
        self.blocks = torch.nn.ModuleList([torch.nn.Conv2d(width, width, 1) for _ in range(blocks)])
        self.out = torch.nn.Conv2d(width, 2 * len(self.changes), 3, padding=1)
        torch.nn.init.zeros_(self.out.weight)
        torch.nn.init.zeros_(self.out.bias)
        for conv in [self.inp, *self.blocks]:  # nflow's: uniform(+-1/sqrt(fan_in)), zero biases
            bound = 1 / math.sqrt(conv.weight[0].numel())
            torch.nn.init.uniform_(conv.weight, -bound, bound)
            torch.nn.init.zeros_(conv.bias)
        self.bound, self.c = bound, c

    def forward(self, x):
        if len(self.reads) < self.c:  # a channel mask
            a, mu = self.out(self._net(x[:, self.reads])).split(len(self.changes), 1)
            if self.bound > 0:
                a = self.bound * torch.tanh(a / self.bound)
            z = x.clone()
            z[:, self.changes] = (x[:, self.changes] - mu) * torch.exp(-a)
            return z, -a.sum((1, 2, 3))
        a, mu = self.out(self._net(x * self.mask)).split(self.c, 1)
        if self.bound > 0:
            a = self.bound * torch.tanh(a / self.bound)
        keep = self.mask
        z = keep * x + (1 - keep) * (x - mu) * torch.exp(-a)
        return z, -((1 - keep) * a).sum((1, 2, 3))

    def _net(self, x):
        h = F.relu(self.inp(x))
        for b in self.blocks:
            h = h + F.relu(b(h))
        return h


def squeeze(x):
    n, c, h, w = x.shape
    x = x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4)
    return x.reshape(n, 4 * c, h // 2, w // 2)


def channel_mask(c, h, w, flip):
    m = (torch.arange(c) < c // 2).float().reshape(1, c, 1, 1).expand(1, c, h, w)
    return 1 - m if flip else m.clone()


def channel_split(c, flip):
    first, rest = list(range(c // 2)), list(range(c // 2, c))
    return (rest, first) if flip else (first, rest)


def checker_mask(c, h, w, flip):
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    m = ((yy + xx) % 2 == 0).float().reshape(1, 1, h, w).expand(1, c, h, w)
    return 1 - m if flip else m.clone()


class ImageFlow(torch.nn.Module):
    """glow or realnvp-ms as src/models/api_image.c builds them."""

    def __init__(self, kind, shape, levels, steps, width, blocks, bound, seed):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        h, w, c = shape
        self.plan = []  # ("squeeze",) ("split",) or ("layer", index)
        self.mods = torch.nn.ModuleList()

        def add(m):
            self.mods.append(m)
            self.plan.append(("layer", len(self.mods) - 1))

        for level in range(levels):
            last = level == levels - 1
            if kind == "glow":
                if h % 2 == 0 and w % 2 == 0:
                    self.plan.append(("squeeze",))
                    h, w, c = h // 2, w // 2, 4 * c
                for k in range(steps):
                    add(ActNorm(c))
                    add(Conv1x1(c, gen))
                    add(Coupling(c, width, blocks, channel_mask(c, h, w, k % 2), bound, channel_split(c, k % 2)))
                if not last:
                    add(Coupling(c, width, blocks, channel_mask(c, h, w, 0), bound, channel_split(c, 0)))
                    self.plan.append(("split",))
                    c //= 2
            else:
                for k in range(steps):
                    add(Coupling(c, width, blocks, checker_mask(c, h, w, k % 2), bound))
                    add(ActNorm(c))
                if not last:
                    self.plan.append(("squeeze",))
                    h, w, c = h // 2, w // 2, 4 * c
                    for k in range(steps):
                        add(Coupling(c, width, blocks, channel_mask(c, h, w, k % 2), bound, channel_split(c, k % 2)))
                        add(ActNorm(c))
                    self.plan.append(("split",))
                    c //= 2

    def log_prob(self, x):  # x: (N, C, H, W), preprocessed
        n = x.shape[0]
        ldj = torch.zeros(n)
        logp = torch.zeros(n)
        for step in self.plan:
            if step[0] == "squeeze":
                x = squeeze(x)
            elif step[0] == "split":
                keep = x.shape[1] // 2
                out = x[:, keep:]
                logp = logp - 0.5 * (out * out).sum((1, 2, 3)) - 0.5 * out[0].numel() * LOG2PI
                x = x[:, :keep]
            else:
                x, l = self.mods[step[1]](x)
                ldj = ldj + l
        return logp - 0.5 * (x * x).sum((1, 2, 3)) - 0.5 * x[0].numel() * LOG2PI + ldj


def preprocess(images, seed):
    """Dequantised once (nflow's fixed noise per row), RealNVP's logit with
    nflow's bounds, its Jacobian per row."""
    rng = np.random.default_rng(seed)
    x = images.astype(np.float64) + rng.uniform(0, 1, images.shape)
    pad = 256 * 0.05 / 0.9
    lo, hi = -pad, 256 + pad
    y = np.log(x - lo) - np.log(hi - x)
    ldj = (np.log(hi - lo) - np.log(x - lo) - np.log(hi - x)).reshape(len(x), -1).sum(1)
    return y, ldj


def as_nchw(a):
    if a.ndim == 3:
        a = a[..., None]
    return torch.as_tensor(np.ascontiguousarray(a.transpose(0, 3, 1, 2)), dtype=torch.float32)


def setup(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train = np.load(args.data)
    shape = train.shape[1:] + ((1,) if train.ndim == 3 else ())
    y, _ = preprocess(train, args.seed)
    n_val = int(len(y) * args.val_fraction)
    y_train = y[n_val:]
    # nflow's standardize layer of an image model: per channel, pooled over the pixels
    c = shape[2]
    m, v = y_train.mean(0).reshape(-1, c), y_train.var(0, ddof=1).reshape(-1, c)
    pooled_m = m.mean(0)
    pooled_s = np.sqrt((v + (m - pooled_m) ** 2).mean(0))
    mean, std = (np.tile(v, len(m)).reshape(y_train.shape[1:]) for v in (pooled_m, pooled_s))
    model = ImageFlow(args.model, shape, args.levels, args.steps, args.channels, args.blocks, args.bound, args.seed)
    return model, shape, mean, std, y_train


def standardized(y, mean, std):
    return as_nchw((y - mean) / std), float(np.log(std).sum())


def cmd_train(args):
    model, shape, mean, std, y_train = setup(args)
    xt, log_std = standardized(y_train, mean, std)
    test = np.load(args.test)
    yt, ldj_test = preprocess(test, args.seed + 1)
    xtest, _ = standardized(yt, mean, std)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=1e-6)
    dim = int(np.prod(shape))
    reports = sorted(float(s) for s in args.report.split(",")) if args.report else [args.seconds]

    def test_bits():
        model.eval()
        with torch.no_grad():
            lp = torch.cat([model.log_prob(xtest[i: i + 256]) for i in range(0, len(xtest), 256)]).double()
        model.train()
        ll = lp.numpy() - log_std + ldj_test
        return float(-ll.mean() / (dim * math.log(2)))

    clock = time.process_time if args.clock == "cpu" else time.time  # cpu: this process's CPU seconds
    gen = torch.Generator().manual_seed(args.seed)
    steps, epoch, start, used = 0, 0, 0, 0.0  # used: training seconds of the runs before this one
    order = None
    if args.resume and not args.checkpoint:
        print("glow_reference: --resume needs --checkpoint", file=sys.stderr)
        return 2
    if args.resume:
        state = torch.load(args.checkpoint)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        torch.set_rng_state(state["rng"])
        for m in model.modules():
            if isinstance(m, ActNorm):
                m.started = True  # its data-dependent start is in the loaded parameters
        steps, epoch, start, used, order = state["steps"], state["epoch"], state["start"], state["used"], state["order"]
        reports = [r for r in reports if r > used]

    def save(elapsed, epoch, next_start, order):
        # atomically: a run stopped while writing keeps the last whole checkpoint
        tmp = args.checkpoint + ".tmp"
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(),
                    "rng": torch.get_rng_state(), "steps": steps, "epoch": epoch, "start": next_start,
                    "used": used + elapsed, "order": order}, tmp)
        os.replace(tmp, args.checkpoint)

    t0 = clock()
    last_save = 0.0
    while reports:
        if order is None:
            order = torch.randperm(len(xt), generator=gen)
        for i in range(start, len(xt), args.batch):
            xb = xt[order[i: i + args.batch]]
            loss = -model.log_prob(xb).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 100.0)
            opt.step()
            steps += 1
            elapsed = clock() - t0
            while reports and used + elapsed >= reports[0]:
                at = reports.pop(0)
                print(json.dumps({"impl": "torch", "model": args.model, "threads": args.threads, "seconds": at,
                                  "clock": args.clock,
                                  "steps": steps, "epochs": epoch + i / len(xt), "test_bits_per_dim": test_bits()}),
                      flush=True)
                t0 += clock() - t0 - elapsed  # the evaluation's time is not training time
            if args.checkpoint and (elapsed - last_save >= args.checkpoint_every or not reports):
                save(elapsed, epoch, i + args.batch, order)
                t0 += clock() - t0 - elapsed  # nor the checkpoint's
                last_save = elapsed
            if not reports:
                break
        else:
            epoch, start, order = epoch + 1, 0, None
    return 0


def cmd_speed(args):
    model, shape, mean, std, y_train = setup(args)
    xt, _ = standardized(y_train[: args.images], mean, std)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=1e-6)
    times = []
    for rep in range(args.repeats + 1):
        t = time.time()
        for i in range(0, len(xt), args.batch):
            loss = -model.log_prob(xt[i: i + args.batch]).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 100.0)
            opt.step()
        if rep:  # the first pass warms up
            times.append((time.time() - t) / len(xt))
    print(json.dumps({"impl": "torch", "model": args.model, "threads": args.threads, "batch": args.batch, "images": len(xt),
                      "seconds_per_image": float(np.median(times)), "torch": torch.__version__}))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("--model", required=True)
    c.add_argument("--data", required=True)
    c.add_argument("--logp", required=True)
    for name in ("train", "speed"):
        t = sub.add_parser(name)
        t.add_argument("--data", required=True)
        t.add_argument("--test")
        t.add_argument("--model", default="glow", choices=("glow", "realnvp-ms"))
        t.add_argument("--levels", type=int, default=2)
        t.add_argument("--steps", type=int, default=8)
        t.add_argument("--channels", type=int, default=32)
        t.add_argument("--blocks", type=int, default=1)
        t.add_argument("--bound", type=float, default=3.0)
        t.add_argument("--batch", type=int, default=16)
        t.add_argument("--lr", type=float, default=2e-3)
        t.add_argument("--seed", type=int, default=1)
        t.add_argument("--threads", type=int, default=1)
        t.add_argument("--val-fraction", type=float, default=0.1)
        t.add_argument("--seconds", type=float, default=600)
        t.add_argument("--clock", default="wall", choices=("wall", "cpu"))
        t.add_argument("--report", default="")
        t.add_argument("--images", type=int, default=1280)
        t.add_argument("--repeats", type=int, default=3)
        t.add_argument("--checkpoint", help="train: keep the training state in this file")
        t.add_argument("--checkpoint-every", type=float, default=300, help="seconds of --clock between checkpoints")
        t.add_argument("--resume", action="store_true", help="train: continue the run saved in --checkpoint")
    args = ap.parse_args()
    try:
        return {"check": cmd_check, "train": cmd_train, "speed": cmd_speed}[args.cmd](args)
    except tr.ModelFileError as e:
        print("glow_reference: %s" % e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
