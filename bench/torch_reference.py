#!/usr/bin/env python3
"""A plain PyTorch reference for nflow models (issue 7).

Reads an nflow model file (docs/model-format.md) with nothing but `struct`
and `zlib`, builds the same flow out of ordinary torch modules (masked
linear layers for MADE, an MLP per coupling, ...) with the file's weights,
and computes

  log_prob(x)            per-row log-density, the density direction x2z
                         (data -> latent) followed by the base density;
  sample_from_noise(u)   the sampling direction z2x applied to given base
                         noise u (what `nflow decode` computes).

Supported: every section nflow writes (docs/model-format.md): the layers
standardize, maf, iaf (both directions), affine_coupling, additive_coupling,
spline_coupling and spline_maf (the rational-quadratic spline of Durkan et
al. 2019, written here from the paper's equations, shifted or not),
rescale, permutation, linear_lu, batch_norm (eval mode: the running
averages of the `state` array; training mode is there for the speed peer);
the bases normal, logistic, uniform and made_mog_base (density only: the
sampling check goes through the layers, not the base); gaussian_fit (the
density is then the mixture (1 - w) p_flow + w N(fit), computed here from
the textbook formula with a Cholesky solve). Anything else (an
unknown tag, a newer container version, a corrupted file) is refused with
a message naming the file and what is wrong.

The autoregressive directions that nflow runs "in one pass of work" are done
here the textbook way: the whole MADE once per dimension (n passes), so the
reference shares none of nflow's tricks (degree-ordered panels, tiles).
MADE masks are rebuilt here from the `degrees` and `order` of the file
(the usual MADE rule: a unit of degree d reads units of degree <= d, the
outputs of dimension degree k read hidden units of degree < k) and applied
as masks; the file's weights outside them must be zero, as nflow promises.

Precision: by default everything is computed in float64, from the very
float32 inputs and float32 parameters nflow uses (cast exactly). nflow
itself computes in float32 (log-determinants accumulated in double), so the
difference between the two is nflow's own float32 rounding, not a mixture
of two roundings; `--dtype float32` runs the reference in float32 instead
(what the speed comparison will use).

Commands:
  check   --model M --data X.npy --logp LP.npy [--noise U.npy --samples S.npy]
          compares with nflow's outputs (`nflow eval M --data X --out LP.npy`,
          `nflow decode M --data U.npy --out S.npy`); one JSON line per check;
          exit status 0 only if every check passes.
  batch   LIST     the same for many models in one process (torch starts
          once): each line of LIST is `M X LP [U S]`, whitespace-separated.
  logprob --model M --data X.npy --out LP.npy     the reference's log-densities
  decode  --model M --data U.npy --out S.npy      the reference's samples
  info    --model M                               the layers as read
  bench   [--quick] [--filter S] [--repeats N] [--threads 1,2]
          the speed peer of bench/bench.c: the same MAF / RealNVP shapes and
          operations (training step with torch.optim.Adam, log-density,
          sampling; MAF sampling the textbook n-pass way) in float32 with
          these modules; one JSON line per measurement ("impl": "torch").
  train   --kind maf|realnvp --data X --val V --test T --out P.npy [--layers
          --hidden --hidden-layers --epochs --batch --lr --seed --threads]
  sample  --model M --n N --out X.npy [--seed --threads]
          what `nflow train` and `nflow sample` do, as whole processes, for
          the end-to-end timing of bench/cli_vs_torch.sh.

Tolerance: a value passes when |nflow - ref| <= rtol * max(|ref|, floor),
rtol = 1e-4. The floor makes the relative test meaningful near zero:
  log-densities: floor = 1 nat. A log-density is a sum of O(dim) terms of
    order 1 each; float32 arithmetic leaves an error of about 1e-7 per term,
    so an error of 1e-4 nat at |log p| < 1 is already 1000x what float32
    explains, and a value crossing zero has no meaningful relative error.
  samples: floor = that column's standard deviation from the model's
    `standardize` layer (the unit in which nflow computes: x = z std + mean),
    so a data column measured in thousands or in thousandths is judged on
    its own scale; with standardised data this is 1.
Exit status: 0 all checks pass, 1 some check failed, 2 usage or model-file
error (the message says what is unsupported), 3 torch is not installed.
"""

import argparse
import json
import math
import struct
import sys
import time
import zlib

try:
    import numpy as np
except ImportError:
    print("torch_reference: numpy is not installed for %s (try /usr/bin/python3 with python3-numpy "
          "and python3-torch)" % sys.executable, file=sys.stderr)
    sys.exit(3)

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:  # the file reader still works without torch
    torch = None
    nn = None
    F = None


class ModelFileError(Exception):
    """The file is not an nflow model this reader supports."""


# ---------------------------------------------------------------------------
# The container (docs/model-format.md, "How readers validate")
# ---------------------------------------------------------------------------

MAGIC = b"NFLOWMDL"
END_MAGIC = b"NFLOWEND"
NEWEST_VERSION = 1
HEADER = 48
TRAILER = 12
TYPE_I64, TYPE_F64, TYPE_STR, TYPE_F32S, TYPE_F64S, TYPE_I32S = 1, 2, 3, 4, 5, 6
TYPE_NAMES = {1: "i64", 2: "f64", 3: "str", 4: "f32[]", 5: "f64[]", 6: "i32[]"}
ELEM_SIZE = {1: 8, 2: 8, 3: 1, 4: 4, 5: 8, 6: 4}
MAX_STR = 1 << 20


class Section:
    def __init__(self, index, tag, values):
        self.index = index
        self.tag = tag
        self.values = values  # key -> (type code, value)

    def where(self, path):
        return "%s: section %d '%s'" % (path, self.index, self.tag)


def read_container(path):
    """Returns the list of sections of the model file at `path`."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as e:
        raise ModelFileError("%s: cannot read: %s" % (path, e.strerror))
    size = len(data)
    # 1. magic (a shorter file that is a prefix of the header is truncated)
    if data[: min(size, 8)] != MAGIC[: min(size, 8)]:
        raise ModelFileError("%s: not an nflow model file (no NFLOWMDL magic)" % path)
    if size < HEADER:
        raise ModelFileError("%s: truncated (%d bytes, the header alone is %d)" % (path, size, HEADER))
    # 2. line-ending, byte-order and float checks
    if data[20:24] != b"\r\n\x1a\n":
        raise ModelFileError("%s: line-ending check at offset 20 broken: the file went through a "
                             "text-mode transfer" % path)
    if struct.unpack_from("<I", data, 12)[0] != 0x01020304:
        raise ModelFileError("%s: byte-order check at offset 12 fails: written with another byte order" % path)
    if data[16:20] != b"\x00\x00\xc0\xbf" or data[24:32] != b"\x55\x55\x55\x55\x55\x55\xd5\x3f":
        raise ModelFileError("%s: float check bits at offsets 16/24 wrong: foreign float format" % path)
    if struct.unpack_from("<f", data, 16)[0] != -1.5 or struct.unpack_from("<d", data, 24)[0] != 1.0 / 3.0:
        raise ModelFileError("%s: this machine does not read IEEE 754 floats as expected" % path)
    # 3. version
    version = struct.unpack_from("<I", data, 8)[0]
    if version > NEWEST_VERSION:
        raise ModelFileError("%s: format version %d, made by a newer nflow (this reader knows %d)"
                             % (path, version, NEWEST_VERSION))
    if version == 0:
        raise ModelFileError("%s: malformed: format version 0" % path)
    n_sections, payload = struct.unpack_from("<QQ", data, 32)
    # 4. size, by subtraction
    avail = size - HEADER
    if avail < TRAILER or payload > avail - TRAILER:
        raise ModelFileError("%s: truncated (payload of %d bytes announced, %d present)"
                             % (path, payload, max(avail - TRAILER, 0)))
    if payload < avail - TRAILER:
        raise ModelFileError("%s: %d stray bytes after the end marker" % (path, avail - TRAILER - payload))
    # 5. checksum over [0, 48 + P)
    end = HEADER + payload
    stored = struct.unpack_from("<I", data, end)[0]
    actual = zlib.crc32(data[:end]) & 0xFFFFFFFF
    if stored != actual:
        raise ModelFileError("%s: CRC-32 mismatch (stored 0x%08x, computed 0x%08x): the file is corrupted"
                             % (path, stored, actual))
    # 6. end magic
    if data[end + 4: end + 12] != END_MAGIC:
        raise ModelFileError("%s: end magic NFLOWEND missing at offset %d" % (path, end + 4))
    # 7. structure, every count checked against what remains
    pos = HEADER

    def remaining():
        return end - pos

    def name(what):
        nonlocal pos
        if remaining() < 1:
            raise ModelFileError("%s: offset %d: %s runs past the payload" % (path, pos, what))
        n = data[pos]
        if not 1 <= n <= 31 or n > remaining() - 1:
            raise ModelFileError("%s: offset %d: %s length %d invalid" % (path, pos, what, n))
        raw = data[pos + 1: pos + 1 + n]
        if any(b < 0x21 or b > 0x7E for b in raw):
            raise ModelFileError("%s: offset %d: %s is not printable ASCII" % (path, pos, what))
        pos += 1 + n
        return raw.decode("ascii")

    if n_sections > payload // 6:
        raise ModelFileError("%s: %d sections cannot fit in %d payload bytes" % (path, n_sections, payload))
    sections = []
    for si in range(n_sections):
        tag = name("section tag")
        if remaining() < 4:
            raise ModelFileError("%s: section %d '%s': truncated value count" % (path, si, tag))
        n_values = struct.unpack_from("<I", data, pos)[0]
        pos += 4
        if n_values > remaining() // 11:
            raise ModelFileError("%s: section %d '%s': %d values cannot fit" % (path, si, tag, n_values))
        values = {}
        for _ in range(n_values):
            key = name("key")
            if remaining() < 9:
                raise ModelFileError("%s: section %d '%s': key '%s' truncated" % (path, si, tag, key))
            code = data[pos]
            n = struct.unpack_from("<Q", data, pos + 1)[0]
            pos += 9
            if code not in TYPE_NAMES:
                raise ModelFileError("%s: section %d '%s': key '%s' has reserved type code %d"
                                     % (path, si, tag, key, code))
            if code in (TYPE_I64, TYPE_F64) and n != 1:
                raise ModelFileError("%s: section %d '%s': scalar '%s' with count %d" % (path, si, tag, key, n))
            if code == TYPE_STR and n > MAX_STR:
                raise ModelFileError("%s: section %d '%s': string '%s' too long" % (path, si, tag, key))
            if n > remaining() // ELEM_SIZE[code]:
                raise ModelFileError("%s: section %d '%s': key '%s' has %d elements, past the payload"
                                     % (path, si, tag, key, n))
            nbytes = n * ELEM_SIZE[code]
            raw = data[pos: pos + nbytes]
            pos += nbytes
            if code == TYPE_I64:
                v = struct.unpack("<q", raw)[0]
            elif code == TYPE_F64:
                v = struct.unpack("<d", raw)[0]
            elif code == TYPE_STR:
                if b"\x00" in raw:
                    raise ModelFileError("%s: section %d '%s': string '%s' holds a NUL" % (path, si, tag, key))
                v = raw.decode("utf-8", errors="replace")
            elif code == TYPE_F32S:
                v = np.frombuffer(raw, dtype="<f4").astype(np.float32)
            elif code == TYPE_F64S:
                v = np.frombuffer(raw, dtype="<f8").astype(np.float64)
            else:
                v = np.frombuffer(raw, dtype="<i4").astype(np.int32)
            if key in values:
                raise ModelFileError("%s: section %d '%s': duplicate key '%s'" % (path, si, tag, key))
            values[key] = (code, v)
        sections.append(Section(si, tag, values))
    if pos != end:
        raise ModelFileError("%s: %d payload bytes left after %d sections" % (path, end - pos, n_sections))
    return sections


def get(path, sec, key, code, count=None, optional=False):
    """The value of `key` in `sec`, checked for type and (arrays) count."""
    if key not in sec.values:
        if optional:
            return None
        raise ModelFileError("%s: missing key '%s'" % (sec.where(path), key))
    c, v = sec.values[key]
    if c != code:
        raise ModelFileError("%s: key '%s' is %s, expected %s" % (sec.where(path), key, TYPE_NAMES[c],
                                                                  TYPE_NAMES[code]))
    if count is not None and len(v) != count:
        raise ModelFileError("%s: key '%s' has %d values, expected %d" % (sec.where(path), key, len(v), count))
    return v


# ---------------------------------------------------------------------------
# The model: sections -> a plain description of each layer
# ---------------------------------------------------------------------------

LAYER_TAGS = ("standardize", "additive_coupling", "affine_coupling", "rescale", "permutation", "linear_lu",
              "maf", "iaf", "batch_norm", "spline_coupling", "spline_maf")
ACTIVATIONS = ("relu", "tanh")


def mlp_param_count(n_in, n_out, hidden, depth):
    sizes = [n_in] + [hidden] * depth + [n_out]
    return sum(sizes[i + 1] * sizes[i] + sizes[i + 1] for i in range(depth + 1))


def read_made_spec(path, sec, dim, per_dim):
    hidden = get(path, sec, "hidden", TYPE_I64)
    depth = get(path, sec, "hidden_layers", TYPE_I64)
    act = get(path, sec, "activation", TYPE_STR)
    order = get(path, sec, "order", TYPE_I32S, dim).astype(np.int64)
    if not 0 <= depth <= 16 or not 0 <= hidden <= 65536 or (depth > 0 and hidden < 1) or act not in ACTIVATIONS:
        raise ModelFileError("%s: MADE sizes or activation out of range" % sec.where(path))
    if depth == 0:
        hidden = 0
    if sorted(order.tolist()) != list(range(dim)):
        raise ModelFileError("%s: 'order' is not a permutation of 0..%d" % (sec.where(path), dim - 1))
    degrees = get(path, sec, "degrees", TYPE_I32S, depth * hidden).astype(np.int64).reshape(depth, hidden)
    top = max(1, dim - 1)
    if degrees.size and (degrees.min() < 1 or degrees.max() > top):
        raise ModelFileError("%s: hidden degree out of range 1..%d" % (sec.where(path), top))
    if degrees.size and (np.diff(degrees, axis=1) < 0).any():
        raise ModelFileError("%s: hidden degrees not ascending within a layer (nflow would reorder them; "
                             "this reader refuses)" % sec.where(path))
    return {"hidden": int(hidden), "depth": int(depth), "act": act, "order": order, "degrees": degrees,
            "per_dim": per_dim, "n_params": mlp_param_count(dim, per_dim * dim, int(hidden), int(depth))}


def read_spline_spec(path, sec):
    """A spline layer's bins on [-B, B], and whether it is shifted (each
    value's block then starts with alpha and mu: t = (x - mu) e^-alpha)."""
    bins = get(path, sec, "bins", TYPE_I64)
    bound = get(path, sec, "tail_bound", TYPE_F64)
    shifted = bool(get(path, sec, "shifted", TYPE_I64, optional=True) or 0)
    scale_bound = get(path, sec, "log_scale_bound", TYPE_F64) if shifted else 0.0
    if not 2 <= bins <= 128 or not 0 < bound <= 1e6 or not 0 <= scale_bound < 100:
        raise ModelFileError("%s: spline bins, tail bound or log-scale bound out of range" % sec.where(path))
    return {"bins": int(bins), "tail_bound": float(bound), "shifted": shifted, "bound": float(scale_bound),
            "per": 3 * int(bins) - 1 + (2 if shifted else 0)}


def read_model(path):
    """Parses and checks the sections of a model file; returns a dict with
    the layers (density direction, data first), the base and the
    parameter and state blocks of each."""
    secs = read_container(path)
    i = 0

    def at(k):
        return secs[k] if k < len(secs) else None

    if not secs or secs[0].tag != "nflow":
        raise ModelFileError("%s: not an nflow model (no 'nflow' section first)" % path)
    head = secs[0]
    i = 1
    dim = get(path, head, "dim", TYPE_I64)
    base = get(path, head, "base", TYPE_STR)
    box = (get(path, head, "box_lo", TYPE_F64), get(path, head, "box_hi", TYPE_F64))
    n_layers = get(path, head, "layers", TYPE_I64)
    n_params = get(path, head, "params", TYPE_I64)
    if not 1 <= dim <= 100000 or base not in ("normal", "logistic", "uniform") or not 1 <= n_layers <= 100000 \
            or n_params < 0:
        raise ModelFileError("%s: section 'nflow': dim, base or counts out of range" % path)
    if base == "uniform" and not box[0] < box[1]:
        raise ModelFileError("%s: uniform box [%g, %g] is empty" % (path, box[0], box[1]))
    model = {"path": path, "dim": dim, "base": base, "box": box, "layers": [], "mog": None, "config": None,
             "gauss": None}
    if at(i) is not None and at(i).tag == "config":
        model["config"] = {k: v for k, (c, v) in at(i).values.items()}
        i += 1
    if at(i) is not None and at(i).tag == "training":
        i += 1
    p_off = 0
    s_off = 0
    for li in range(n_layers):
        sec = at(i)
        if sec is None:
            raise ModelFileError("%s: %d layers announced, %d found" % (path, n_layers, li))
        if sec.tag not in LAYER_TAGS:
            raise ModelFileError("%s: section %d: unknown or unsupported layer '%s'" % (path, i, sec.tag))
        if li == 0 and sec.tag != "standardize":
            raise ModelFileError("%s: the first layer must be 'standardize'" % path)
        L = {"tag": sec.tag, "section": i}
        n_p = 0
        n_s = 0
        if sec.tag == "standardize":
            L["mean"] = get(path, sec, "mean", TYPE_F64S, dim)
            L["std"] = get(path, sec, "std", TYPE_F64S, dim)
            if not (np.isfinite(L["mean"]).all() and np.isfinite(L["std"]).all() and (L["std"] > 0).all()):
                raise ModelFileError("%s: std must be positive and finite" % sec.where(path))
        elif sec.tag in ("additive_coupling", "affine_coupling"):
            mask = get(path, sec, "mask", TYPE_I32S, dim) != 0
            hidden = get(path, sec, "hidden", TYPE_I64)
            depth = get(path, sec, "hidden_layers", TYPE_I64)
            act = get(path, sec, "activation", TYPE_STR)
            affine = sec.tag == "affine_coupling"
            bound = get(path, sec, "log_scale_bound", TYPE_F64) if affine else 0.0
            if act not in ACTIVATIONS or not 0 <= depth <= 16 or not 0 <= hidden <= 65536 \
                    or (depth > 0 and hidden < 1) or not 0 <= bound < 100:
                raise ModelFileError("%s: coupling sizes, activation or bound out of range" % sec.where(path))
            if depth == 0:
                hidden = 0
            cond = np.nonzero(mask)[0]
            trans = np.nonzero(~mask)[0]
            if len(cond) == 0 or len(trans) == 0:
                raise ModelFileError("%s: mask needs conditioning and changed dimensions" % sec.where(path))
            n_out = (2 if affine else 1) * len(trans)
            L.update(cond=cond, trans=trans, hidden=int(hidden), depth=int(depth), act=act, bound=bound,
                     n_out=n_out)
            n_p = mlp_param_count(len(cond), n_out, int(hidden), int(depth))
        elif sec.tag in ("spline_coupling", "spline_maf"):
            L.update(read_spline_spec(path, sec))
            if sec.tag == "spline_coupling":
                mask = get(path, sec, "mask", TYPE_I32S, dim) != 0
                hidden = get(path, sec, "hidden", TYPE_I64)
                depth = get(path, sec, "hidden_layers", TYPE_I64)
                act = get(path, sec, "activation", TYPE_STR)
                if act not in ACTIVATIONS or not 0 <= depth <= 16 or not 0 <= hidden <= 65536 \
                        or (depth > 0 and hidden < 1):
                    raise ModelFileError("%s: coupling sizes or activation out of range" % sec.where(path))
                cond, trans = np.nonzero(mask)[0], np.nonzero(~mask)[0]
                if len(cond) == 0 or len(trans) == 0:
                    raise ModelFileError("%s: mask needs conditioning and changed dimensions" % sec.where(path))
                hidden = int(hidden) if depth > 0 else 0
                L.update(cond=cond, trans=trans, hidden=hidden, depth=int(depth), act=act,
                         n_out=L["per"] * len(trans))
                n_p = mlp_param_count(len(cond), L["n_out"], hidden, int(depth))
            else:
                L["made"] = read_made_spec(path, sec, dim, L["per"])
                n_p = L["made"]["n_params"]
        elif sec.tag == "rescale":
            n_p = dim
        elif sec.tag == "permutation":
            perm = get(path, sec, "perm", TYPE_I32S, dim).astype(np.int64)
            if sorted(perm.tolist()) != list(range(dim)):
                raise ModelFileError("%s: not a permutation of 0..%d" % (sec.where(path), dim - 1))
            L["perm"] = perm
        elif sec.tag == "linear_lu":
            perm = get(path, sec, "perm", TYPE_I32S, dim).astype(np.int64)
            if sorted(perm.tolist()) != list(range(dim)):
                raise ModelFileError("%s: not a permutation of 0..%d" % (sec.where(path), dim - 1))
            L["perm"] = perm
            L["sign"] = np.where(get(path, sec, "sign", TYPE_I32S, dim) < 0, -1.0, 1.0)
            n_p = dim * dim
        elif sec.tag in ("maf", "iaf"):
            bound = get(path, sec, "log_scale_bound", TYPE_F64)
            if not 0 <= bound < 100:
                raise ModelFileError("%s: log-scale bound out of range" % sec.where(path))
            L["bound"] = bound
            L["made"] = read_made_spec(path, sec, dim, 2)
            n_p = L["made"]["n_params"]
        elif sec.tag == "batch_norm":
            L["momentum"] = get(path, sec, "momentum", TYPE_F64)
            L["eps"] = get(path, sec, "eps", TYPE_F64)
            if not (0 < L["momentum"] <= 1 and L["eps"] > 0 and math.isfinite(L["eps"])):
                raise ModelFileError("%s: momentum or eps out of range" % sec.where(path))
            n_p = 2 * dim
            n_s = 2 * dim
        L["p_off"], L["n_params"], L["s_off"], L["n_state"] = p_off, n_p, s_off, n_s
        p_off += n_p
        s_off += n_s
        model["layers"].append(L)
        i += 1
    if at(i) is not None and at(i).tag == "made_mog_base":
        sec = at(i)
        k = get(path, sec, "components", TYPE_I64)
        if not 1 <= k <= 1000:
            raise ModelFileError("%s: components out of range 1..1000" % sec.where(path))
        spec = read_made_spec(path, sec, dim, 3 * k)
        model["mog"] = {"k": int(k), "made": spec, "p_off": p_off, "n_params": spec["n_params"]}
        p_off += spec["n_params"]
        i += 1
    if at(i) is not None and at(i).tag == "gaussian_fit":
        sec = at(i)
        chol = get(path, sec, "cholesky", TYPE_F32S, dim * dim).astype(np.float64).reshape(dim, dim)
        w = get(path, sec, "tail_weight", TYPE_F64)
        if not (0 <= w < 1) or not np.isfinite(chol).all() or (np.diag(chol) <= 0).any():
            raise ModelFileError("%s: tail_weight or cholesky out of range" % sec.where(path))
        model["gauss"] = (np.tril(chol), float(w))
        i += 1
    if p_off != n_params:
        raise ModelFileError("%s: the layers hold %d parameters, the header says %d" % (path, p_off, n_params))
    sec = at(i)
    if sec is None or sec.tag != "parameters":
        raise ModelFileError("%s: section 'parameters' missing" % path)
    model["params"] = get(path, sec, "values", TYPE_F32S, n_params)
    model["state"] = get(path, sec, "state", TYPE_F32S, s_off) if s_off else np.zeros(0, np.float32)
    if not np.isfinite(model["params"]).all() or not np.isfinite(model["state"]).all():
        raise ModelFileError("%s: a parameter or state value is not finite" % path)
    i += 1
    if at(i) is not None and at(i).tag == "optimizer":
        i += 1  # checkpoints (and older models) carry Adam's state
        if at(i) is not None and at(i).tag == "train_state" and i + 1 == len(secs):
            i += 1  # a training checkpoint: a model plus this
    if i != len(secs):
        raise ModelFileError("%s: unexpected section '%s' after the parameters" % (path, secs[i].tag))
    for L in model["layers"]:
        if L["tag"] == "batch_norm":
            var = model["state"][L["s_off"] + dim: L["s_off"] + 2 * dim]
            if (var < 0).any():
                raise ModelFileError("%s: layer '%s': negative running variance" % (path, L["tag"]))
    return model


# ---------------------------------------------------------------------------
# Torch modules. Every layer has x2z(x) -> (z, ldj) with ldj = log|det dz/dx|
# per row, and z2x(z) -> (x, ldj) with ldj = log|det dx/dz|.
# ---------------------------------------------------------------------------

if torch is not None:

    def _t(a, dtype):
        return torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=dtype)

    def _act(name):
        return nn.ReLU() if name == "relu" else nn.Tanh()

    def _bounded(a, bound):
        return bound * torch.tanh(a / bound) if bound > 0 else a

    class _Stats:
        """The largest |log-scale| any layer applied since the last reset:
        shows that a check compared a flow that does something."""
        max_log_scale = 0.0

        @classmethod
        def see(cls, alpha):
            if alpha.numel():
                cls.max_log_scale = max(cls.max_log_scale, float(alpha.detach().abs().max()))

    def _linears_from(flat, sizes, dtype, masks=None):
        """nn.Linear layers holding the MLP block `flat` (per linear layer:
        W out x in row-major, then b). With masks, checks the weights
        outside each mask are zero."""
        layers = []
        o = 0
        for li in range(len(sizes) - 1):
            n_in, n_out = sizes[li], sizes[li + 1]
            w = np.asarray(flat[o: o + n_out * n_in], np.float64).reshape(n_out, n_in)
            o += n_out * n_in
            b = np.asarray(flat[o: o + n_out], np.float64)
            o += n_out
            if masks is not None and (w[~masks[li]] != 0).any():
                raise ModelFileError("a MADE weight outside the mask is not zero (linear layer %d)" % li)
            lin = nn.Linear(n_in, n_out).to(dtype)
            with torch.no_grad():
                lin.weight.copy_(_t(w, dtype))
                lin.bias.copy_(_t(b, dtype))
            layers.append(lin)
        assert o == len(flat)
        return layers

    class MLP(nn.Module):
        def __init__(self, flat, n_in, n_out, hidden, depth, act, dtype):
            super().__init__()
            sizes = [n_in] + [hidden] * depth + [n_out]
            mods = []
            for li, lin in enumerate(_linears_from(flat, sizes, dtype)):
                mods.append(lin)
                if li < depth:
                    mods.append(_act(act))
            self.net = nn.Sequential(*mods)

        def forward(self, x):
            return self.net(x)

    class MaskedLinear(nn.Linear):
        def __init__(self, lin, mask):
            super().__init__(lin.in_features, lin.out_features)
            self.to(lin.weight.dtype)
            with torch.no_grad():
                self.weight.copy_(lin.weight)
                self.bias.copy_(lin.bias)
            self.register_buffer("mask", torch.as_tensor(mask, dtype=lin.weight.dtype))

        def forward(self, x):
            return F.linear(x, self.weight * self.mask, self.bias)

    class MADE(nn.Module):
        """Germain et al.'s MADE over inputs taken in `order` (input k has
        degree k + 1). forward(x) -> (rows, n, per_dim): block k belongs to
        dimension order[k]."""

        def __init__(self, spec, flat, n, dtype):
            super().__init__()
            self.n, self.per_dim = n, spec["per_dim"]
            self.register_buffer("order", torch.as_tensor(spec["order"], dtype=torch.long))
            depth, hidden = spec["depth"], spec["hidden"]
            in_deg = np.arange(1, n + 1)
            masks = []
            below = in_deg
            for l in range(depth):
                d = spec["degrees"][l]
                masks.append(d[:, None] >= below[None, :])
                below = d
            out_deg = np.repeat(np.arange(1, n + 1), self.per_dim)
            masks.append(out_deg[:, None] > below[None, :])
            sizes = [n] + [hidden] * depth + [self.per_dim * n]
            mods = []
            for li, lin in enumerate(_linears_from(flat, sizes, dtype, masks)):
                mods.append(MaskedLinear(lin, masks[li]))
                if li < depth:
                    mods.append(_act(spec["act"]))
            self.net = nn.Sequential(*mods)

        def forward(self, x):
            return self.net(x[:, self.order]).view(x.shape[0], self.n, self.per_dim)

    RQ_MIN_BIN = RQ_MIN_DERIVATIVE = 1e-3

    def _rq(v, raw, K, B, inverse):
        """The monotone rational-quadratic spline of Durkan, Bekasov, Murray
        and Papamakarios (2019), from the paper's equations (4)-(8) and
        appendix A: K bins on [-B, B], the identity outside; raw (..., 3K -
        1): K widths and K heights by softmax (each bin at least RQ_MIN_BIN
        of the interval), K - 1 interior derivatives by softplus (plus
        RQ_MIN_DERIVATIVE; raw 0 gives 1), 1 at -B and B. Returns g(v) (or
        g^-1(v)) and log |d out / d in|."""
        def knots(p):
            p = RQ_MIN_BIN + (1 - RQ_MIN_BIN * K) * torch.softmax(p, -1)
            c = torch.cumsum(p, -1)
            c = torch.cat([torch.zeros_like(c[..., :1]), c[..., :-1], torch.ones_like(c[..., :1])], -1)
            return -B + 2 * B * c
        xs, ys = knots(raw[..., :K]), knots(raw[..., K: 2 * K])
        shift = math.log(math.expm1(1 - RQ_MIN_DERIVATIVE))
        inner = RQ_MIN_DERIVATIVE + F.softplus(raw[..., 2 * K:] + shift)
        one = torch.ones_like(inner[..., :1])
        d = torch.cat([one, inner, one], -1)
        inside = (v >= -B) & (v <= B)
        vc = v.clamp(-B, B)
        edges = ys if inverse else xs
        k = (edges[..., 1:K] <= vc.unsqueeze(-1)).sum(-1, keepdim=True)  # the bin: interior knots at or below
        at = lambda a, j=0: torch.gather(a, -1, k + j).squeeze(-1)
        xk, w, yk, h, d0, d1 = at(xs), at(xs, 1) - at(xs), at(ys), at(ys, 1) - at(ys), at(d), at(d, 1)
        s = h / w
        if inverse:
            dy = vc - yk
            a = h * (s - d0) + dy * (d0 + d1 - 2 * s)
            b = h * d0 - dy * (d0 + d1 - 2 * s)
            c = -s * dy
            xi = (2 * c / (-b - torch.sqrt((b * b - 4 * a * c).clamp_min(0)))).clamp(0, 1)
        else:
            xi = ((vc - xk) / w).clamp(0, 1)
        t = xi * (1 - xi)
        den = s + (d0 + d1 - 2 * s) * t
        logd = 2 * torch.log(s) + torch.log(d1 * xi * xi + 2 * s * t + d0 * (1 - xi) ** 2) - 2 * torch.log(den)
        out = xk + xi * w if inverse else yk + h * (s * xi * xi + d0 * t) / den
        out = torch.where(inside, out, v)
        logd = torch.where(inside, -logd if inverse else logd, torch.zeros_like(logd))
        return out, logd

    def _rq_block(v, block, L, inverse):
        """A layer's block per value: [alpha, mu,] then the spline's raw
        parameters; shifted, the spline reads t = (x - mu) e^-alpha."""
        K, B = L["bins"], L["tail_bound"]
        if not L["shifted"]:
            return _rq(v, block, K, B, inverse)
        alpha, mu = _bounded(block[..., 0], L["bound"]), block[..., 1]
        _Stats.see(alpha)
        if inverse:
            t, logd = _rq(v, block[..., 2:], K, B, True)
            return t * torch.exp(alpha) + mu, logd + alpha
        y, logd = _rq((v - mu) * torch.exp(-alpha), block[..., 2:], K, B, False)
        return y, logd - alpha

    class SplineCoupling(nn.Module):
        """z_B = g(x_B; theta(x_A)): a block of L["per"] values per changed
        dimension, one after another, from the coupling's MLP."""

        def __init__(self, L, flat, dtype):
            super().__init__()
            self.L = L
            self.register_buffer("cond", torch.as_tensor(L["cond"], dtype=torch.long))
            self.register_buffer("trans", torch.as_tensor(L["trans"], dtype=torch.long))
            self.net = MLP(flat, len(L["cond"]), L["n_out"], L["hidden"], L["depth"], L["act"], dtype)

        def _go(self, a, inverse):
            block = self.net(a[:, self.cond]).view(a.shape[0], len(self.L["trans"]), self.L["per"])
            y, logd = _rq_block(a[:, self.trans], block, self.L, inverse)
            out = a.clone()
            out[:, self.trans] = y
            return out, logd.sum(1)

        def x2z(self, x):
            return self._go(x, False)

        def z2x(self, z):
            return self._go(z, True)

    class SplineMAF(nn.Module):
        """u_i = g(x_i; theta(x_<i)) (the autoregressive neural spline
        flow): density one pass, sampling one MADE pass per dimension."""

        def __init__(self, L, flat, n, dtype):
            super().__init__()
            self.L = L
            self.made = MADE(L["made"], flat, n, dtype)
            self.n = n

        def _blocks(self, s):  # (rows, n, per) in dimension order
            o = self.made(s)
            b = torch.empty_like(o)
            b[:, self.made.order] = o
            return b

        def x2z(self, x):
            u, logd = _rq_block(x, self._blocks(x), self.L, False)
            return u, logd.sum(1)

        def z2x(self, u):
            s = torch.zeros_like(u)
            ldj = torch.zeros(u.shape[0], dtype=u.dtype)
            for k in range(self.n):
                i = int(self.made.order[k])
                b = self._blocks(s)[:, i]  # the whole MADE, once per dimension
                xi, logd = _rq_block(u[:, i], b, self.L, True)
                s = s.clone()
                s[:, i] = xi
                ldj = ldj + logd
            return s, ldj

    class Standardize(nn.Module):
        def __init__(self, L, dtype):
            super().__init__()
            self.register_buffer("mean", _t(L["mean"], dtype))
            self.register_buffer("std", _t(L["std"], dtype))
            self.log_std_sum = float(np.log(L["std"]).sum())

        def x2z(self, x):
            return (x - self.mean) / self.std, torch.full((x.shape[0],), -self.log_std_sum, dtype=x.dtype)

        def z2x(self, z):
            return z * self.std + self.mean, torch.full((z.shape[0],), self.log_std_sum, dtype=z.dtype)

    class Coupling(nn.Module):
        """NICE additive (z_B = x_B - m(x_A)) or RealNVP affine
        (z_B = (x_B - mu(x_A)) e^{-alpha(x_A)}, alpha = c tanh(a / c))."""

        def __init__(self, L, flat, dtype):
            super().__init__()
            self.affine = L["tag"] == "affine_coupling"
            self.bound = L["bound"]
            self.register_buffer("cond", torch.as_tensor(L["cond"], dtype=torch.long))
            self.register_buffer("trans", torch.as_tensor(L["trans"], dtype=torch.long))
            self.nt = len(L["trans"])
            self.net = MLP(flat, len(L["cond"]), L["n_out"], L["hidden"], L["depth"], L["act"], dtype)

        def _shift_scale(self, src):
            o = self.net(src[:, self.cond])
            if not self.affine:
                return o, None
            alpha = _bounded(o[:, : self.nt], self.bound)
            _Stats.see(alpha)
            return o[:, self.nt:], alpha

        def x2z(self, x):
            mu, alpha = self._shift_scale(x)
            z = x.clone()
            if self.affine:
                z[:, self.trans] = (x[:, self.trans] - mu) * torch.exp(-alpha)
                return z, -alpha.sum(1)
            z[:, self.trans] = x[:, self.trans] - mu
            return z, torch.zeros(x.shape[0], dtype=x.dtype)

        def z2x(self, z):
            mu, alpha = self._shift_scale(z)
            x = z.clone()
            if self.affine:
                x[:, self.trans] = z[:, self.trans] * torch.exp(alpha) + mu
                return x, alpha.sum(1)
            x[:, self.trans] = z[:, self.trans] + mu
            return x, torch.zeros(z.shape[0], dtype=z.dtype)

    class Rescale(nn.Module):
        def __init__(self, flat, dtype):
            super().__init__()
            self.t = nn.Parameter(_t(flat, dtype))

        def x2z(self, x):
            return x * torch.exp(-self.t), (-self.t.sum()).expand(x.shape[0])

        def z2x(self, z):
            return z * torch.exp(self.t), self.t.sum().expand(z.shape[0])

    class Permutation(nn.Module):
        def __init__(self, L):
            super().__init__()
            perm = torch.as_tensor(L["perm"], dtype=torch.long)
            self.register_buffer("perm", perm)
            self.register_buffer("inv", torch.argsort(perm))

        def x2z(self, x):
            return x[:, self.perm], torch.zeros(x.shape[0], dtype=x.dtype)

        def z2x(self, z):
            return z[:, self.inv], torch.zeros(z.shape[0], dtype=z.dtype)

    class LinearLU(nn.Module):
        """x = W z, W = P L (U + diag s): M holds L below the diagonal, U
        above, log|s| on it; (P y)_i = y[perm[i]]."""

        def __init__(self, L, flat, n, dtype):
            super().__init__()
            self.m = nn.Parameter(_t(flat, dtype).view(n, n))
            self.register_buffer("perm", torch.as_tensor(L["perm"], dtype=torch.long))
            self.register_buffer("sign", _t(L["sign"], dtype))

        def weight(self):
            m = self.m
            n = m.shape[0]
            eye = torch.eye(n, dtype=m.dtype)
            lower = torch.tril(m, -1) + eye
            upper = torch.triu(m, 1) + torch.diag(self.sign * torch.exp(torch.diagonal(m)))
            return (lower @ upper)[self.perm]

        def x2z(self, x):
            w = self.weight()
            z = torch.linalg.solve(w, x.T).T
            return z, (-torch.diagonal(self.m).sum()).expand(x.shape[0])

        def z2x(self, z):
            return z @ self.weight().T, torch.diagonal(self.m).sum().expand(z.shape[0])

    class BatchNorm(nn.Module):
        """z = (x - m) / sqrt(v + eps) e^g + b. In eval mode m, v are the
        running averages (the file's state); in training mode the batch's
        mean and biased variance, and the running averages are updated."""

        def __init__(self, L, flat, state, n, dtype):
            super().__init__()
            self.eps, self.momentum = L["eps"], L["momentum"]
            self.g = nn.Parameter(_t(flat[:n], dtype))
            self.b = nn.Parameter(_t(flat[n:], dtype))
            self.register_buffer("running_mean", _t(state[:n], dtype))
            self.register_buffer("running_var", _t(state[n:], dtype))

        def x2z(self, x):
            if self.training:
                m = x.mean(0)
                v = x.var(0, unbiased=False)
                with torch.no_grad():
                    self.running_mean.mul_(1 - self.momentum).add_(self.momentum * m)
                    self.running_var.mul_(1 - self.momentum).add_(self.momentum * v)
            else:
                m, v = self.running_mean, self.running_var
            z = (x - m) * torch.rsqrt(v + self.eps) * torch.exp(self.g) + self.b
            ldj = (self.g - 0.5 * torch.log(v + self.eps)).sum()
            return z, ldj.expand(x.shape[0])

        def z2x(self, z):
            m, v = self.running_mean, self.running_var  # always the running averages when sampling
            x = (z - self.b) * torch.exp(-self.g) * torch.sqrt(v + self.eps) + m
            ldj = (self.g - 0.5 * torch.log(v + self.eps)).sum()
            return x, (-ldj).expand(z.shape[0])

    class Autoregressive(nn.Module):
        """MAF: x2z u = (x - mu(x)) e^{-alpha(x)} in one pass; z2x
        x_i = u_i e^{alpha_i(x_<i)} + mu_i(x_<i), the whole MADE once per
        dimension. IAF: the MADE reads u; z2x one pass, x2z sequential."""

        def __init__(self, L, flat, n, dtype):
            super().__init__()
            self.iaf = L["tag"] == "iaf"
            self.bound = L["bound"]
            self.made = MADE(L["made"], flat, n, dtype)
            self.n = n

        def _params(self, s):
            o = self.made(s)  # (rows, n, 2), degree order
            alpha = _bounded(o[:, :, 0], self.bound)
            _Stats.see(alpha)
            mu = o[:, :, 1]
            order = self.made.order
            # back to dimension order: column order[k] gets block k
            a = torch.empty_like(alpha)
            m = torch.empty_like(mu)
            a[:, order] = alpha
            m[:, order] = mu
            return a, m

        def _one_pass(self, s):  # MAF x2z / IAF z2x: y from s, both known
            alpha, mu = self._params(s)
            if self.iaf:
                return s * torch.exp(alpha) + mu, alpha.sum(1)
            return (s - mu) * torch.exp(-alpha), -alpha.sum(1)

        def _sequential(self, y):  # MAF z2x / IAF x2z: s from y, s_i needs s_<i
            s = torch.zeros_like(y)
            ldj = torch.zeros(y.shape[0], dtype=y.dtype)
            for k in range(self.n):
                i = int(self.made.order[k])
                alpha, mu = self._params(s)  # the whole MADE, once per dimension
                s = s.clone()
                if self.iaf:
                    s[:, i] = (y[:, i] - mu[:, i]) * torch.exp(-alpha[:, i])
                    ldj = ldj - alpha[:, i]
                else:
                    s[:, i] = y[:, i] * torch.exp(alpha[:, i]) + mu[:, i]
                    ldj = ldj + alpha[:, i]
            return s, ldj

        def x2z(self, x):
            return self._sequential(x) if self.iaf else self._one_pass(x)

        def z2x(self, z):
            return self._one_pass(z) if self.iaf else self._sequential(z)

    HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)

    class SimpleBase(nn.Module):
        def __init__(self, kind, box, dim):
            super().__init__()
            self.kind, self.box, self.dim = kind, box, dim

        def log_prob(self, z):
            if self.kind == "normal":
                return -0.5 * (z * z).sum(1) - self.dim * HALF_LOG_2PI
            if self.kind == "logistic":
                a = z.abs()
                return (-a - 2 * torch.log1p(torch.exp(-a))).sum(1)
            lo, hi = self.box
            inside = ((z >= lo) & (z <= hi)).all(1)
            lp = torch.full((z.shape[0],), -self.dim * math.log(hi - lo), dtype=z.dtype)
            return torch.where(inside, lp, torch.full_like(lp, -math.inf))

    class MogBase(nn.Module):
        """MADE mixture-of-Gaussians base: block k = K logits, K means, K
        raw log-scales (s = 5 tanh(a / 5)) of dimension order[k]."""

        def __init__(self, spec, flat, n, dtype):
            super().__init__()
            self.k = spec["k"]
            self.made = MADE(spec["made"], flat, n, dtype)

        def log_prob(self, z):
            K = self.k
            o = self.made(z)  # (rows, n, 3K)
            logits, mu, s = o[:, :, :K], o[:, :, K: 2 * K], _bounded(o[:, :, 2 * K:], 5.0)
            zk = z[:, self.made.order].unsqueeze(2)
            t = (zk - mu) * torch.exp(-s)
            comp = torch.log_softmax(logits, 2) - HALF_LOG_2PI - s - 0.5 * t * t
            return torch.logsumexp(comp, 2).sum(1)

    class Flow(nn.Module):
        def __init__(self, model, dtype=torch.float64):
            super().__init__()
            self.dtype = dtype
            self.dim = model["dim"]
            self.col_scale = np.ones(self.dim)
            try:
                self._build(model, dtype)
            except ModelFileError as e:
                raise ModelFileError("%s: %s" % (model["path"], e))
            self.eval()

        def _build(self, model, dtype):
            n = self.dim
            p, st = model["params"], model["state"]
            mods = []
            for L in model["layers"]:
                flat = p[L["p_off"]: L["p_off"] + L["n_params"]]
                tag = L["tag"]
                if tag == "standardize":
                    mods.append(Standardize(L, dtype))
                    if len(mods) == 1:
                        self.col_scale = np.asarray(L["std"], np.float64)
                elif tag in ("additive_coupling", "affine_coupling"):
                    mods.append(Coupling(L, flat, dtype))
                elif tag == "rescale":
                    mods.append(Rescale(flat, dtype))
                elif tag == "permutation":
                    mods.append(Permutation(L))
                elif tag == "linear_lu":
                    mods.append(LinearLU(L, flat, n, dtype))
                elif tag in ("maf", "iaf"):
                    mods.append(Autoregressive(L, flat, n, dtype))
                elif tag == "spline_coupling":
                    mods.append(SplineCoupling(L, flat, dtype))
                elif tag == "spline_maf":
                    mods.append(SplineMAF(L, flat, n, dtype))
                elif tag == "batch_norm":
                    mods.append(BatchNorm(L, flat, st[L["s_off"]: L["s_off"] + L["n_state"]], n, dtype))
                else:  # read_model refuses anything else
                    raise ModelFileError("unsupported layer '%s'" % tag)
            self.layers = nn.ModuleList(mods)
            self.gauss = None
            if model.get("gauss") is not None and model["gauss"][1] > 0:
                first = model["layers"][0]
                self.gauss = (model["gauss"][0], model["gauss"][1], np.asarray(first["mean"], np.float64),
                              np.asarray(first["std"], np.float64))
            if model["mog"] is not None:
                mg = model["mog"]
                self.base = MogBase(mg, p[mg["p_off"]: mg["p_off"] + mg["n_params"]], n, dtype)
            else:
                self.base = SimpleBase(model["base"], model["box"], n)

        def _input(self, a):
            # nflow computes from float32 values: use the very same numbers
            a = np.asarray(a)
            if a.ndim == 1:
                a = a.reshape(-1, 1) if self.dim == 1 else a.reshape(1, -1)
            if a.ndim != 2 or a.shape[1] != self.dim:
                raise ValueError("expected rows of %d values, got shape %s" % (self.dim, a.shape))
            return torch.as_tensor(a.astype(np.float32).astype(np.float64), dtype=self.dtype)

        def log_prob(self, x):
            """Per-row log-density (nats) of data rows x (float64 numpy)."""
            with torch.no_grad():
                h = self._input(x)
                acc = torch.zeros(h.shape[0], dtype=torch.float64)
                x64 = h.to(torch.float64)
                for layer in self.layers:
                    h, ldj = layer.x2z(h)
                    acc = acc + ldj.to(torch.float64)
                lp = self.base.log_prob(h).to(torch.float64) + acc
                if self.gauss is None:
                    return lp.numpy()
                # the mixture with the Gaussian fit N(mean, D R R^T D)
                r, w, mean, std = self.gauss
                y = (x64 - torch.as_tensor(mean)) / torch.as_tensor(std)
                z = torch.linalg.solve_triangular(torch.as_tensor(r), y.T, upper=False).T
                lg = (-0.5 * (z * z).sum(1) - float(np.log(np.diag(r)).sum()) - float(np.log(std).sum())
                      - self.dim * HALF_LOG_2PI)
                return torch.logaddexp(lp + float(np.log1p(-w)), lg + float(np.log(w))).numpy()

        def sample_from_noise(self, u):
            """The sampling direction z2x applied to base noise u."""
            with torch.no_grad():
                h = self._input(u)
                for layer in reversed(self.layers):
                    h, _ = layer.z2x(h)
                return h.to(torch.float64).numpy()


# ---------------------------------------------------------------------------
# Comparisons and the command line
# ---------------------------------------------------------------------------

RTOL = 1e-4


def compare(name, model_path, got, ref, floor, rtol):
    """One JSON-ready record: |got - ref| <= rtol * max(|ref|, floor)."""
    got = np.asarray(got, np.float64)
    ref = np.asarray(ref, np.float64)
    rec = {"check": name, "model": model_path, "rows": int(ref.shape[0]) if ref.ndim else 1}
    if got.size != ref.size:
        rec.update({"pass": False, "why": "nflow gave %d values, the reference %d" % (got.size, ref.size)})
        return rec
    got = got.reshape(ref.shape)
    floor = np.broadcast_to(np.asarray(floor, np.float64), ref.shape)
    same_inf = np.isinf(got) & np.isinf(ref) & (np.sign(got) == np.sign(ref))
    diff = np.where(same_inf, 0.0, np.abs(got - ref))
    diff = np.where(np.isnan(diff), np.inf, diff)
    scale = np.maximum(np.where(np.isinf(ref), 1.0, np.abs(ref)), floor)
    rel = diff / scale
    worst = int(np.argmax(rel)) if rel.size else 0
    wi = np.unravel_index(worst, ref.shape)
    rec.update({
        "max_abs_err": float(diff.max()) if diff.size else 0.0,
        "max_rel_err": float(rel.max()) if rel.size else 0.0,
        "tol": rtol,
        "worst": {"index": [int(k) for k in wi], "nflow": float(got[wi]), "reference": float(ref[wi])},
        "pass": bool(rel.size == 0 or rel.max() <= rtol),
    })
    return rec


def load_npy(path):
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ModelFileError("%s: cannot read as .npy: %s" % (path, e))


def run_checks(model_path, data, logp, noise=None, samples=None, dtype="float64", rtol=RTOL):
    """Returns the check records of one model."""
    flow = Flow(read_model(model_path), getattr(torch, dtype))
    x = load_npy(data)
    recs = []
    _Stats.max_log_scale = 0.0
    ref = flow.log_prob(x)
    recs.append(compare("log_prob", model_path, load_npy(logp).reshape(-1), ref, 1.0, rtol))
    recs[-1]["max_abs_log_scale"] = _Stats.max_log_scale
    if noise is not None:
        _Stats.max_log_scale = 0.0
        ref = flow.sample_from_noise(load_npy(noise))
        recs.append(compare("samples", model_path, load_npy(samples), ref, flow.col_scale[None, :], rtol))
        recs[-1]["max_abs_log_scale"] = _Stats.max_log_scale
    for r in recs:
        r["dtype"] = dtype
    return recs


# ---------------------------------------------------------------------------
# The speed peer (issue 7): `bench` times the reference's own modules, in
# float32, on the shapes bench/bench.c times for nflow, and prints the same
# JSON lines with "impl": "torch" (bench/run_all.sh pairs them).
# ---------------------------------------------------------------------------

# (model, layers, hidden, hidden_layers, dim, part of --quick): bench/bench.c's list
BENCH_ARCHS = [
    ("maf", 5, 100, 2, 6, True), ("maf", 5, 100, 2, 8, False),
    ("maf", 5, 512, 2, 21, True), ("maf", 5, 512, 2, 43, False), ("maf", 5, 512, 2, 63, False),
    ("realnvp", 10, 100, 2, 6, True), ("realnvp", 10, 100, 2, 8, False),
    ("realnvp", 10, 512, 2, 21, True), ("realnvp", 10, 512, 2, 43, False), ("realnvp", 10, 512, 2, 63, False),
]
BENCH_OPS = (("train_step", 100), ("train_step", 512), ("log_prob", 10000), ("sample", 1000))


def made_masks(n, hidden, depth, per_dim, degrees, dtype=bool):
    """The MADE rule of the MADE class above, as numpy masks (out x in)."""
    masks = []
    below = np.arange(1, n + 1)
    for l in range(depth):
        d = degrees[l]
        masks.append(d[:, None] >= below[None, :])
        below = d
    out_deg = np.repeat(np.arange(1, n + 1), per_dim)
    masks.append(out_deg[:, None] > below[None, :])
    return [m.astype(dtype) for m in masks]


def synth_model(kind, dim, n_layers, hidden, depth, seed=1):
    """A model description like read_model's, without a file: what `nflow
    train --model maf|realnvp|nsf|nsf-ar` builds (MADEs in natural /
    reversed order alternately, sequential hidden degrees; affine couplings
    on the even / odd partition, flipped every other layer, log-scales
    bounded by 3; nsf: an LU layer before each spline coupling, nsf-ar: one
    LU layer, then spline MADEs; shifted splines of 8 bins on [-3, 3]),
    with random weights (small last layers). Returns (model, forward FLOPs
    per row, dense-equivalent: 2 in out per linear layer)."""
    rng = np.random.default_rng(seed)
    layers = [{"tag": "standardize", "mean": np.zeros(dim), "std": np.ones(dim), "p_off": 0, "n_params": 0,
               "s_off": 0, "n_state": 0}]
    flat = []
    p_off = 0
    flops = 0

    def mlp_block(sizes, masks=None):
        nonlocal flops
        out = []
        for li in range(len(sizes) - 1):
            n_in, n_out = sizes[li], sizes[li + 1]
            scale = (1.0 if li < len(sizes) - 2 else 0.1) / math.sqrt(n_in)
            w = rng.uniform(-scale, scale, (n_out, n_in))
            if masks is not None:
                w = w * masks[li]
            out += [w.reshape(-1), np.zeros(n_out)]
            flops += 2 * n_in * n_out
        return np.concatenate(out).astype(np.float32)

    spline = {"bins": 8, "tail_bound": 3.0, "shifted": True, "bound": 3.0, "per": 3 * 8 - 1 + 2}

    def lu_layer():  # the identity, as an LU layer starts
        return {"tag": "linear_lu", "perm": np.arange(dim), "sign": np.ones(dim)}, np.zeros(dim * dim, np.float32)

    extra = [lu_layer()] if kind == "nsf-ar" else []  # the whitening layer a spline MAF stack starts from
    for k in range(n_layers):
        if kind == "nsf":
            extra.append(lu_layer())
        for L, block in extra:
            L.update(p_off=p_off, n_params=len(block), s_off=0, n_state=0)
            p_off += len(block)
            flat.append(block)
            layers.append(L)
            flops += 2 * dim * dim
        extra = []
        if kind in ("maf", "nsf-ar"):
            per = 2 if kind == "maf" else spline["per"]
            order = np.arange(dim) if k % 2 == 0 else np.arange(dim)[::-1].copy()
            top = max(1, dim - 1)
            deg = np.sort(np.arange(hidden) % top + 1)
            degrees = np.tile(deg, (depth, 1)).reshape(depth, hidden)
            spec = {"hidden": hidden, "depth": depth, "act": "relu", "order": order, "degrees": degrees,
                    "per_dim": per, "n_params": mlp_param_count(dim, per * dim, hidden, depth)}
            block = mlp_block([dim] + [hidden] * depth + [per * dim], made_masks(dim, hidden, depth, per, degrees))
            L = {"tag": "maf", "bound": 3.0, "made": spec} if kind == "maf" else \
                dict(spline, tag="spline_maf", made=spec)
        elif kind == "nsf":
            mask = (np.arange(dim) % 2 == 0) != bool(k % 2)
            cond, trans = np.nonzero(mask)[0], np.nonzero(~mask)[0]
            n_out = spline["per"] * len(trans)
            block = mlp_block([len(cond)] + [hidden] * depth + [n_out])
            L = dict(spline, tag="spline_coupling", cond=cond, trans=trans, hidden=hidden, depth=depth, act="relu",
                     n_out=n_out)
        else:
            mask = (np.arange(dim) % 2 == 0) != bool(k % 2)
            cond, trans = np.nonzero(mask)[0], np.nonzero(~mask)[0]
            block = mlp_block([len(cond)] + [hidden] * depth + [2 * len(trans)])
            L = {"tag": "affine_coupling", "cond": cond, "trans": trans, "hidden": hidden, "depth": depth,
                 "act": "relu", "bound": 3.0, "n_out": 2 * len(trans)}
        L.update(p_off=p_off, n_params=len(block), s_off=0, n_state=0)
        p_off += len(block)
        flat.append(block)
        layers.append(L)
    model = {"path": "<bench %s n=%d>" % (kind, dim), "dim": dim, "base": "normal", "box": (0.0, 1.0),
             "layers": layers, "mog": None, "config": None, "params": np.concatenate(flat),
             "state": np.zeros(0, np.float32)}
    return model, flops


def run_bench(quick=False, name_filter=None, repeats=None, threads=(1, 2)):
    """Times the reference in float32 (no float64, no checks): prints one
    JSON line per measurement, the keys of bench/bench.c's."""
    import resource
    import re
    import statistics

    if repeats is None:
        repeats = 3 if quick else 11
    blas = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    print(json.dumps({"impl": "torch", "op": "info", "version": torch.__version__,
                      "blas": blas.group(1) if blas else "?", "quick": int(quick), "repeats": repeats}),
          flush=True)

    def wanted(name):
        return name_filter is None or name_filter in name

    def timed(fn, warm):
        for _ in range(warm):
            fn()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(1e3 * (time.perf_counter() - t0))
        return statistics.median(times), min(times)

    def emit(rec, med, lo, flops):
        rec.update(median_ms=round(med, 4), min_ms=round(lo, 4), gflops=round(flops / (med * 1e6), 3),
                   flops=flops, repeats=repeats)
        print(json.dumps(rec), flush=True)

    # the ceiling: one float32 matrix product (C = A B), as bench/bench.c's sgemm
    for m, n, k in ((512, 512, 512), (100, 512, 512)):
        a = torch.randn(m, k)
        b = torch.randn(k, n)
        c = torch.empty(m, n)
        flops = 2 * m * n * k
        inner = int(2e8 / flops) + 1
        for t in threads:
            torch.set_num_threads(t)
            nt = torch.get_num_threads()
            if not wanted("sgemm_%dx%dx%d_t%d" % (m, n, k, nt)):
                continue

            def mm():
                for _ in range(inner):
                    torch.mm(a, b, out=c)
            med, lo = timed(mm, 2)
            emit({"impl": "torch", "model": "sgemm", "layers": 0, "hidden": n, "hidden_layers": 0, "dim": k,
                  "op": "sgemm", "batch": m, "threads": nt}, med / inner, lo / inner, flops)

    see = _Stats.__dict__["see"]
    _Stats.see = staticmethod(lambda alpha: None)  # no statistics (a device sync) in the timed code
    try:
        for kind, n_layers, hidden, depth, dim, in_quick in BENCH_ARCHS:
            if quick and not in_quick:
                continue
            names = ["%s_n%d_h%d_%s_b%d_t%d" % (kind, dim, hidden, op, batch, t)
                     for t in threads for op, batch in BENCH_OPS]
            if not any(wanted(s) for s in names):
                continue
            model, fwd = synth_model(kind, dim, n_layers, hidden, depth)
            flow = Flow(model, torch.float32)
            opt = torch.optim.Adam(flow.parameters(), lr=1e-4)
            x = torch.randn(10000, dim)

            def log_prob(h):
                acc = torch.zeros(h.shape[0])
                for layer in flow.layers:
                    h, ldj = layer.x2z(h)
                    acc = acc + ldj
                return flow.base.log_prob(h) + acc

            for t in threads:
                torch.set_num_threads(t)
                nt = torch.get_num_threads()
                for op, batch in BENCH_OPS:
                    if not wanted("%s_n%d_h%d_%s_b%d_t%d" % (kind, dim, hidden, op, batch, nt)):
                        continue
                    xb = x[:batch].contiguous()
                    if op == "train_step":
                        def fn():
                            opt.zero_grad(set_to_none=True)
                            loss = -log_prob(xb).mean()
                            loss.backward()
                            opt.step()
                        warm, flops = 3, 3 * fwd * batch
                    elif op == "log_prob":
                        def fn():
                            with torch.no_grad():
                                log_prob(xb)
                        warm, flops = 1, fwd * batch
                    else:
                        def fn():
                            with torch.no_grad():
                                h = torch.randn(batch, dim)
                                for layer in reversed(flow.layers):
                                    h, _ = layer.z2x(h)
                        warm, flops = 1, fwd * batch
                    med, lo = timed(fn, warm)
                    emit({"impl": "torch", "model": kind, "layers": n_layers, "hidden": hidden,
                          "hidden_layers": depth, "dim": dim, "op": op, "batch": batch, "threads": nt},
                         med, lo, flops)
    finally:
        _Stats.see = see
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"impl": "torch", "op": "peak_memory", "max_rss_mib": round(rss / 1024.0, 1)}), flush=True)
    return 0


def _bench_log_prob(flow, h):
    """Per-row log-density through the modules, in the flow's dtype (no float64 casts)."""
    acc = torch.zeros(h.shape[0], dtype=h.dtype)
    for layer in flow.layers:
        h, ldj = layer.x2z(h)
        acc = acc + ldj
    return flow.base.log_prob(h) + acc


def run_train(a):
    """The work of `nflow train --model maf|realnvp ... --epochs E --val V --test T`
    as one PyTorch process (bench/cli_vs_torch.sh times both): load the data,
    standardise with the training data's statistics, shuffled mini-batches
    with Adam (nflow's defaults: weight decay 1e-6, gradient norm clipped at
    100), the validation log-likelihood after every epoch, then the train,
    validation and test log-likelihoods, and the parameters saved."""
    torch.manual_seed(a.seed)
    x, v, t = (np.load(f).astype(np.float32) for f in (a.data, a.val, a.test))
    dim = x.shape[1]
    model, _ = synth_model(a.kind, dim, a.layers, a.hidden, a.hidden_layers, a.seed)
    std = model["layers"][0]
    std["mean"], std["std"] = x.mean(0).astype(np.float64), (x.std(0) + 1e-12).astype(np.float64)
    flow = Flow(model, torch.float32)
    flow.train()
    _Stats.see = staticmethod(lambda alpha: None)  # the value check's statistics: not part of the work
    opt = torch.optim.Adam(flow.parameters(), lr=a.lr, weight_decay=1e-6)
    xt, vt, tt = (torch.from_numpy(m) for m in (x, v, t))

    def mean_ll(data):
        with torch.no_grad():
            return float(torch.cat([_bench_log_prob(flow, c) for c in torch.split(data, 1024)]).mean())

    # in-process time: the epochs' steps and validation passes, without
    # the interpreter's start, `import torch` or the files (issue 28)
    t0 = time.perf_counter()
    for _ in range(a.epochs):
        perm = torch.randperm(xt.shape[0])
        for b0 in range(0, xt.shape[0], a.batch):
            xb = xt[perm[b0: b0 + a.batch]]
            opt.zero_grad(set_to_none=True)
            loss = -_bench_log_prob(flow, xb).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(flow.parameters(), 100.0)
            opt.step()
        val_ll = mean_ll(vt)
    seconds = time.perf_counter() - t0
    res = {"train": mean_ll(xt), "val": mean_ll(vt), "test": mean_ll(tt)}
    np.save(a.out, np.concatenate([p.detach().numpy().reshape(-1) for p in flow.parameters()]))
    print(json.dumps({"impl": "torch", "op": "train", "last_val": val_ll, "in_process_s": seconds, **res}))
    return 0


def run_sample(a):
    """The work of `nflow sample MODEL --n N --out X.npy` as one PyTorch
    process: read the model file, draw base noise, run the sampling direction
    (a MAF the textbook way, n passes), write the rows."""
    torch.manual_seed(a.seed)
    _Stats.see = staticmethod(lambda alpha: None)
    flow = Flow(read_model(a.model), torch.float32)

    def draw():
        with torch.no_grad():
            h = torch.randn(a.n, flow.dim)
            for layer in reversed(flow.layers):
                h, _ = layer.z2x(h)
        return h
    # in-process time: the draw alone, warm (a second draw), without the
    # interpreter, `import torch`, the model's reading or the writing
    draw()
    torch.manual_seed(a.seed)
    t0 = time.perf_counter()
    h = draw()
    seconds = time.perf_counter() - t0
    np.save(a.out, h.numpy())
    print(json.dumps({"impl": "torch", "op": "sample", "rows": a.n, "in_process_s": seconds}))
    return 0


def need_torch():
    if torch is None:
        print("torch_reference: python3-torch is not installed", file=sys.stderr)
        sys.exit(3)
    torch.set_num_threads(1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="compare nflow's log-densities (and samples) with the reference")
    c.add_argument("--model", required=True)
    c.add_argument("--data", required=True, help="rows x dim .npy that nflow evaluated")
    c.add_argument("--logp", required=True, help="nflow eval --out (.npy)")
    c.add_argument("--noise", help="base noise .npy that nflow decoded")
    c.add_argument("--samples", help="nflow decode --out (.npy)")
    b = sub.add_parser("batch", help="check many models: lines 'MODEL DATA LOGP [NOISE SAMPLES]'")
    b.add_argument("list")
    for p in (c, b):
        p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
        p.add_argument("--rtol", type=float, default=RTOL)
    lp = sub.add_parser("logprob", help="write the reference's per-row log-densities")
    dc = sub.add_parser("decode", help="write the reference's z2x of given noise")
    for p in (lp, dc):
        p.add_argument("--model", required=True)
        p.add_argument("--data", required=True)
        p.add_argument("--out", required=True)
        p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    inf = sub.add_parser("info", help="list the layers read from a model file")
    inf.add_argument("--model", required=True)
    bn = sub.add_parser("bench", help="time the reference on bench/bench.c's shapes (JSON lines)")
    bn.add_argument("--quick", action="store_true", help="a subset, 3 repeats")
    bn.add_argument("--filter", help="only measurements whose name contains this")
    bn.add_argument("--repeats", type=int, help="timed repeats after the warm-up (default 11; 3 with --quick)")
    bn.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    tr = sub.add_parser("train", help="what `nflow train` does, for the end-to-end timing (bench/cli_vs_torch.sh)")
    tr.add_argument("--kind", choices=("maf", "realnvp", "nsf", "nsf-ar"), required=True)
    tr.add_argument("--data", required=True)
    tr.add_argument("--val", required=True)
    tr.add_argument("--test", required=True)
    tr.add_argument("--out", required=True, help="parameters (.npy)")
    for name, typ, dflt in (("layers", int, 5), ("hidden", int, 512), ("hidden-layers", int, 2),
                            ("epochs", int, 1), ("batch", int, 100), ("lr", float, 1e-3), ("seed", int, 1)):
        tr.add_argument("--" + name, type=typ, default=dflt)
    sm = sub.add_parser("sample", help="what `nflow sample` does, for the end-to-end timing")
    sm.add_argument("--model", required=True)
    sm.add_argument("--n", type=int, required=True)
    sm.add_argument("--seed", type=int, default=1)
    sm.add_argument("--out", required=True)
    for p in (tr, sm, lp):
        p.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    try:
        if a.cmd == "info":
            m = read_model(a.model)
            print("dim %d, base %s%s, %d parameters" % (m["dim"], m["base"],
                                                         " (MADE MoG)" if m["mog"] else "", len(m["params"])))
            for k, L in enumerate(m["layers"]):
                print("  %2d: %-18s params %d state %d" % (k, L["tag"], L["n_params"], L["n_state"]))
            return 0
        need_torch()
        if a.cmd in ("train", "sample"):
            torch.set_num_threads(a.threads)
            return run_train(a) if a.cmd == "train" else run_sample(a)
        if a.cmd == "bench":
            try:
                threads = [int(t) for t in a.threads.split(",")]
            except ValueError:
                threads = []
            if not threads or min(threads) < 1 or (a.repeats is not None and a.repeats < 1):
                ap.error("--threads needs positive counts like 1,2 and --repeats a positive count")
            return run_bench(a.quick, a.filter, a.repeats, threads)
        if a.cmd in ("logprob", "decode"):
            torch.set_num_threads(getattr(a, "threads", 1))
            flow = Flow(read_model(a.model), getattr(torch, a.dtype))
            x = load_npy(a.data)
            out = flow.log_prob(x) if a.cmd == "logprob" else flow.sample_from_noise(x)
            np.save(a.out, out)
            return 0
        if a.cmd == "check":
            if (a.noise is None) != (a.samples is None):
                ap.error("--noise and --samples go together")
            cases = [(a.model, a.data, a.logp, a.noise, a.samples)]
        else:
            cases = []
            with open(a.list) as fh:
                for line in fh:
                    w = line.split()
                    if not w or w[0].startswith("#"):
                        continue
                    if len(w) not in (3, 5):
                        ap.error("%s: each line needs MODEL DATA LOGP [NOISE SAMPLES]" % a.list)
                    cases.append(tuple(w) + (None, None) * (len(w) == 3))
        ok = True
        for m, x, l, u, s in cases:
            try:
                recs = run_checks(m, x, l, u, s, a.dtype, a.rtol)
            except ModelFileError as e:
                recs = [{"check": "load", "model": m, "pass": False, "why": str(e)}]
            for r in recs:
                print(json.dumps(r))
                ok &= r["pass"]
        return 0 if ok else 1
    except ModelFileError as e:
        print("torch_reference: %s" % e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
