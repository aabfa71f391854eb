#!/usr/bin/env python3
"""The source tree's plan, checked: python3 scripts/house.py BUILD [--strict]

Reads the objects of the library built in BUILD/obj (and BUILD/extras) and
the sources under src/, and prints:
  - modules: one per .c file; A uses B when A.o needs a symbol B.o defines;
  - floors: the longest chain of uses (a module that uses none is floor 1);
  - circles: groups of modules that use each other, directly or not;
  - the include graph's floors and circles (#include "..." among src files);
  - headers that declare a function their own .c does not define (a
    library's public header, nflow*.h, declares its whole API);
  - includes and calls that run up a floor of folders (FOLDER_FLOORS).
With --strict the exit status is 1 when there is a circle of either kind, a
header declares what another file defines, or an include or call runs up a
floor (tests/cli_house.sh).
"""
import os
import re
import subprocess
import sys


def objects(build):
    found = {}
    for sub in ("obj", "extras"):
        root = os.path.join(build, sub)
        for dirpath, _, files in os.walk(root):
            for name in files:
                if name.endswith(".o"):
                    path = os.path.join(dirpath, name)
                    module = os.path.relpath(path, root)[:-2]
                    if not os.path.exists(os.path.join("src", module + ".c")):
                        continue  # left over from a source since moved
                    found[(sub + "/" + module) if sub == "extras" else module] = path
    return found


def symbols(path):
    out = subprocess.run(["nm", path], capture_output=True, text=True, check=True).stdout
    defined, needed = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U":
            needed.add(parts[1])
        elif len(parts) == 3 and parts[1] in "TDBRi":
            defined.add(parts[2])
    return defined, needed


def strongly_connected(graph):
    """Tarjan's algorithm, iterative enough for a few hundred nodes."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            groups.append(sorted(group))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def floors(graph):
    """Floor of each node: 1 + the highest floor it uses (circles condensed)."""
    groups = strongly_connected(graph)
    group_of = {v: i for i, g in enumerate(groups) for v in g}
    memo = {}

    def floor(g):
        if g not in memo:
            memo[g] = 0  # a guard; groups form a DAG
            below = [floor(group_of[w]) for v in groups[g] for w in graph[v] if group_of[w] != g]
            memo[g] = 1 + max(below, default=0)
        return memo[g]

    return {v: floor(group_of[v]) for v in graph}, [g for g in groups if len(g) > 1]


def include_graph(root):
    files = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            if name.endswith((".c", ".h")):
                files[os.path.relpath(os.path.join(dirpath, name), root)] = os.path.join(dirpath, name)
    by_base = {}
    for rel in files:
        by_base.setdefault(os.path.basename(rel), []).append(rel)
    graph = {rel: set() for rel in files}
    for rel, path in files.items():
        here = os.path.dirname(rel)
        with open(path, encoding="utf-8") as fh:
            for inc in re.findall(r'^#include "([^"]+)"', fh.read(), re.M):
                local = os.path.normpath(os.path.join(here, inc))
                if local in files:
                    graph[rel].add(local)
                elif inc in files:
                    graph[rel].add(inc)
                elif os.path.basename(inc) in by_base and len(by_base[os.path.basename(inc)]) == 1:
                    graph[rel].add(by_base[os.path.basename(inc)][0])
    return graph


# The folders of src/ as floors, ground first: a file may include, and a
# module call, only what lives on its own floor or below (folders on one
# floor do not meet). The container of files (io) is at the ground with
# the error reporting it uses; model files live with the models,
# checkpoints with training; the extras (toys, pictures) are above all.
FOLDER_FLOORS = {"core": 0, "io": 1, "nets": 2, "data": 2, "layers": 3, "flow": 4, "models": 5, "train": 6,
                 "extras": 7}


def folder(path):
    return path.split("/", 1)[0] if "/" in path else ""


def upward(edges):
    """(from, to) pairs whose target's folder is on a higher floor, or on
    another folder of the same floor; folders not in FOLDER_FLOORS are left
    alone."""
    bad = []
    for a, targets in sorted(edges.items()):
        fa = folder(a)
        for b in sorted(targets):
            fb = folder(b)
            if fa in FOLDER_FLOORS and fb in FOLDER_FLOORS and fa != fb and FOLDER_FLOORS[fb] >= FOLDER_FLOORS[fa]:
                bad.append((a, b))
    return bad


DECL = re.compile(r"^(?!static|typedef|extern|#|extern \"C\"|struct\b[^(]*\{|}|\s)[A-Za-z_][\w \*]*?\b([A-Za-z_]\w*)\s*\(", re.M)
EXTERN = re.compile(r"^extern\s[^;(]*?\b([A-Za-z_]\w*)\s*(?:\[[^\]]*\])?;", re.M)
EXTERN_FN = re.compile(r"^extern\s[^;]*?\(\s*\*\s*([A-Za-z_]\w*)\s*\)", re.M)


def header_strays(root, defined_by):
    """Names a src header declares that its own .c (same folder and stem)
    does not define."""
    strays = []
    for dirpath, _, names in os.walk(root):
        for name in sorted(names):
            # a library's public header (nflow*.h) speaks for all its files
            if not name.endswith(".h") or name.startswith("nflow"):
                continue
            path = os.path.join(dirpath, name)
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            declared = set(DECL.findall(text)) | set(EXTERN.findall(text)) | set(EXTERN_FN.findall(text))
            module = os.path.relpath(path, root)[:-2]
            own = defined_by.get(module, set())
            for fn in sorted(declared - own):
                strays.append((os.path.relpath(path, os.path.dirname(root)), fn))
    return strays


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    build, strict = sys.argv[1], "--strict" in sys.argv[2:]
    objs = objects(build)
    if not objs:
        print("house: no objects under %s/obj (run make first)" % build, file=sys.stderr)
        return 2
    table = {m: symbols(p) for m, p in objs.items()}
    definer = {}
    for m, (defined, _) in table.items():
        for s in defined:
            definer.setdefault(s, m)
    uses = {m: {definer[s] for s in needed if s in definer and definer[s] != m} for m, (_, needed) in table.items()}
    module_floor, module_circles = floors(uses)
    inc = include_graph("src")
    inc_floor, inc_circles = floors(inc)
    strays = header_strays("src", {m: d for m, (d, _) in table.items()})

    print("modules: %d, floors: %d, circles: %d" % (len(uses), max(module_floor.values()), len(module_circles)))
    for level in range(1, max(module_floor.values()) + 1):
        print("  floor %2d: %s" % (level, " ".join(sorted(m for m, f in module_floor.items() if f == level))))
    for c in module_circles:
        print("  circle: %s" % " <-> ".join(c))
    print("include graph: %d files, floors: %d, circles: %d"
          % (len(inc), max(inc_floor.values()), len(inc_circles)))
    for c in inc_circles:
        print("  include circle: %s" % " <-> ".join(c))
    print("headers declaring what their own .c does not define: %d" % len(strays))
    for header, fn in strays:
        print("  %s: %s" % (header, fn))
    # extras/ modules are named "extras/extras/x" by objects(): their folder is the first part either way
    up = upward(uses) + upward(inc)
    print("includes and calls up a floor (%s): %d" % (" < ".join(
        "/".join(sorted(k for k, v in FOLDER_FLOORS.items() if v == f)) for f in sorted(set(FOLDER_FLOORS.values()))),
        len(up)))
    for a, b in up:
        print("  %s -> %s" % (a, b))
    if strict and (module_circles or inc_circles or strays or up):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
