"""The loading of libnflow, and its types and calls as ctypes, declared from the library's own header.

The library carries the text of the include/nflow.h it was built with (nf_header); its structures, callback
types, enumerators and NF_API prototypes are read from that text below, so the binding cannot disagree with the
library it loaded. tests/python/test_binding.py checks the layouts (the documented defaults read back, guard
bytes past each structure left alone by the C side).

The library is looked for, in order: the file named by $NFLOW_LIBRARY; a copy bundled into the package
(pip install ./python); the path make install recorded in _install.py; the installed layout
(PREFIX/lib/libnflow.so.1); the source tree's build/libnflow.so; the dynamic loader's search for
libnflow.so.1; ctypes.util.find_library("nflow").
"""
import ctypes
import ctypes.util
import functools
import os
import re

from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double, c_float, c_int, c_long, c_size_t,
                    c_uint64, c_void_p)

SONAME = "libnflow.so.1"
_here = os.path.dirname(os.path.abspath(__file__))


def _candidates():
    env = os.environ.get("NFLOW_LIBRARY")
    if env:
        yield "NFLOW_LIBRARY=" + env, env, True
        return  # an explicit choice is not second-guessed
    yield "bundled with the package", os.path.join(_here, SONAME), False
    try:  # written by make install: the library's path relative to the package
        from ._install import LIBRARY
        yield "make install", os.path.normpath(os.path.join(_here, LIBRARY)), False
    except ImportError:
        pass
    # PREFIX/lib/python3/dist-packages/nflow -> PREFIX/lib/libnflow.so.1
    yield "installed layout", os.path.normpath(os.path.join(_here, "..", "..", "..", SONAME)), False
    # python/nflow -> build/libnflow.so of the source tree
    yield "source tree", os.path.normpath(os.path.join(_here, "..", "..", "build", "libnflow.so")), False
    yield "dynamic loader", SONAME, True
    found = ctypes.util.find_library("nflow")
    if found:
        yield "ctypes.util.find_library", found, True


def _load():
    tried = []
    for how, path, always_try in _candidates():
        if not always_try and not os.path.exists(path):
            tried.append("%s (%s: no such file)" % (path, how))
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append("%s (%s: %s)" % (path, how, e))
    raise ImportError("nflow: cannot load libnflow; tried: " + "; ".join(tried) +
                      ". Build it (make), install it (make install), or set NFLOW_LIBRARY to its path.")


def _libgomp_loaded():
    try:
        with open("/proc/self/maps") as f:
            return "libgomp" in f.read()
    except OSError:
        return True  # unknown: leave OpenMP as it is


# libgomp reads its waiting policy once, as it loads: threads that spin at the barriers (its default) collapse
# when the processors are shared (the README example took 31.6 s beside busy loops against 0.8 s on one
# thread); passive threads sleep. As the tool does, only where neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set
# and no library loaded libgomp before us (then its setting stands; nflow.omp_wait_policy() says which).
WAIT_POLICY_SET = False
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ and not _libgomp_loaded():
    os.environ["OMP_WAIT_POLICY"] = "passive"
    os.environ["NFLOW_OMP_WAIT_POLICY"] = "passive"  # who chose it, for nf_system_report
    WAIT_POLICY_SET = True

lib, path = _load()

# ---- the declarations of nflow.h, from the text the library was built with ------------
lib.nf_header.restype = c_char_p
c_float_p, c_double_p = POINTER(c_float), POINTER(c_double)
flow_p = data_p = recipe_p = progress_p = c_void_p  # nf_flow *, nf_data *, nf_recipe *, nf_progress *: opaque
_BASE = {"void": None, "char": c_char, "int": c_int, "long": c_long, "size_t": c_size_t, "uint64_t": c_uint64,
         "float": c_float, "double": c_double, "unsigned": ctypes.c_uint, "unsigned int": ctypes.c_uint,
         "unsigned char": ctypes.c_ubyte, "int64_t": ctypes.c_int64, "uint32_t": ctypes.c_uint32}
_types = {}  # typedef names: structures and callback types (None: opaque); enums are int
enums = {}  # each typedef'd enumeration's {name: value}; every enumerator is also a global (NF_OK, ...)


@functools.lru_cache(maxsize=None)  # (each text is parsed once: the import's time)
def _ctype(text):
    """A C type ("const char *", "nf_flow **", "nf_config *") as ctypes: char * is c_char_p, a pointer to void
    or to an opaque structure c_void_p."""
    words = [w for w in re.findall(r"\w+|\*", text) if w not in ("const", "volatile", "struct", "enum")]
    base, stars = " ".join(w for w in words if w != "*"), words.count("*")
    if stars and (base in ("void", "char") or _types.get(base, 0) is None):
        t, stars = c_char_p if base == "char" else c_void_p, stars - 1
    elif base in _BASE or base in enums or base in _types:
        t = _BASE[base] if base in _BASE else c_int if base in enums else _types[base]
    else:
        raise ImportError("nflow: the library's header (nf_header) declares a type this binding cannot map: %r" % text)
    for _ in range(stars):
        t = POINTER(t)
    return t


@functools.lru_cache(maxsize=None)
def _decl(text):
    """A declarator "type name", "type name[n]" or "type (*name)(args)" as (name, ctypes type, n or None)."""
    m = re.fullmatch(r"(.+?)\( ?\* ?(\w+) ?\) ?\((.*)\)", text.strip())
    if m:
        return m[2], CFUNCTYPE(_ctype(m[1]), *_args(m[3])), None
    m = re.fullmatch(r"(.+?\W)(\w+) ?(?:\[(\w*)\])?", text.strip())
    return m[2], _ctype(m[1]), m[3]


def _args(text):
    """The ctypes of a parameter list (arrays as pointers)."""
    if text.strip() == "void":
        return []
    return [POINTER(t) if n is not None else t for _, t, n in map(_decl, re.findall(r"(?:[^,(]|\([^)]*\))+", text))]


def _fields(body):
    """A structure's fields: declarations "type a, *b[n]" (the type's words shared), function pointers."""
    fields = []
    for d in filter(str.strip, body.split(";")):
        first, *more = d.split(",") if "(" not in d else [d]
        name, t, n = _decl(first)
        shared = first[:first.rindex(name)].replace("*", "")
        for name, t, n in [(name, t, n)] + [_decl(shared + m) for m in more]:
            fields.append((name, t * int(n) if n else t))
    return fields


def _declare(header):
    text = re.sub(r"/\*.*?\*/|//[^\n]*|#ifdef __cplusplus.*?#endif", " ", header, flags=re.S)
    text = re.sub(r"static inline[^;{]*\{(?:[^{}]|\{[^{}]*\})*\}|^\s*#.*", " ", text, flags=re.M)
    statements = [" ".join(s.rstrip(";").split()) for s in re.findall(r"(?:[^;{}]|\{[^{}]*\})+;", text)]
    for s in sorted(statements, key=lambda s: s.startswith("NF_API")):  # the types first, in order
        if m := re.fullmatch(r"(?:typedef )?enum (?:\w+ )?\{(.*)\} ?(\w*)", s):
            values, v = {}, -1
            for item in filter(str.strip, m[1].split(",")):
                k, _, expr = (w.strip() for w in item.partition("="))
                v = int(expr, 0) if expr else v + 1
                values[k] = v
            enums[m[2]] = values
            globals().update(values)
        elif m := re.fullmatch(r"typedef struct (\w+) \{(.*)\} \w+", s):
            _types[m[1]] = type(m[1], (Structure,), {"_fields_": _fields(m[2])})
        elif m := re.fullmatch(r"typedef struct (\w+) \w+", s):
            _types[m[1]] = None
        elif m := re.fullmatch(r"typedef (.+\( ?\* ?\w+ ?\) ?\(.*\))", s):
            name, _types[name], _ = _decl(m[1])
        elif m := re.fullmatch(r"NF_API (.+?) ?(\w+) ?\((.*)\)", s):
            fn = getattr(lib, m[2])
            fn.restype, fn.argtypes = _ctype(m[1]), _args(m[3])


_declare(lib.nf_header().decode())
globals().update((k, v) for k, v in _types.items() if v is not None)  # nf_config, nf_log_density_fn, ...
STATUS_NAMES = {v: k for k, v in enums["nf_status"].items()}


# the function types of the callbacks the binding passes (function-pointer fields and parameters)
train_progress_fn = dict(_types["nf_train_options"]._fields_)["progress"]
kl_progress_fn = dict(_types["nf_kl_options"]._fields_)["progress"]
text_fn = lib.nf_progress_set_output.argtypes[1]

# the model kinds by name, as the library names them (nf_model_name)
MODELS = {}
while lib.nf_model_name(len(MODELS)) is not None:
    MODELS[lib.nf_model_name(len(MODELS)).decode()] = len(MODELS)
