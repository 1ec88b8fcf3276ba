"""Hypothesis strategies for hostile Wasmfiles: generated from the format's shape, mutated from
the seed corpus as data, and mutated as text (bytes, YAML syntax, aliases)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

CORPUS = Path(__file__).resolve().parent / "corpus"
SEEDS = sorted((CORPUS / "seeds").glob("*.yaml"))

#: Strings that reach interesting code: paths that climb or name the root, files the fuzz
#: context holds, recipe names, platforms, durations, references, template and shell syntax.
INTERESTING = [
    "", " ", "/", "//", ".", "..", "../x", "/..", "./", "a/../../b", "/../../etc/passwd", "~/x",
    "hello.rs", "hello.c", "app.wasm", "data.txt", "dir", "greeter", "link-out", "dir/../data.txt",
    "examples/hello-rust/hello.rs", "rust", "c", "cpython-wasi", "builders", "../rust", "none",
    "wasi/wasm32", "wasip2/wasm", "a/b/c/d", "WASI/WASM", "1h", "0s", "-1", "1e9", "nan", "10m",
    "python-wasi", "repo@sha256:" + "0" * 64, "localhost:5000/x:1", "x:y:z", "UPPER", "A=B",
    "PATH", "OUT", "$(id)", "`id`", "'", '"', "\\", "%s", "{{ 7*7 }}", "{% raw %}", "{#", "\n",
    "\x00", "\t", "é", "\u202e", "\ud7ff", "x" * 300, "0o755", "0777", "9999", "https://x/y",
    "http://", "ftp://x/y", "sha256:" + "f" * 64, "-", "--", "-o", "*", "?", "&a", "*a", "<<",
]
SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
    st.sampled_from(INTERESTING), st.text(max_size=20),
)
KEYS = st.one_of(st.sampled_from(["wasmfile", "context", "stages", "image", "recipe", "with", "steps",
                                  "inputs", "outputs", "env", "files", "src", "from", "path", "dest",
                                  "mode", "entrypoint", "timeout", "builder", "network", "user"]),
                 st.text(max_size=10))
ANY: st.SearchStrategy[Any] = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12)


def shape(wild: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Wasmfiles of the format's shape; ``wild``: any field may hold any value, else fields hold
    plausible values (those files get past the schema into render and plan)."""

    def sometimes(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        """Mostly a plausible value, sometimes (when wild) anything at all."""
        return st.one_of(plausible, plausible, plausible, ANY) if wild else plausible

    paths = st.sampled_from(INTERESTING[:40])
    names = st.one_of(st.sampled_from(["hello", "copy", "app", "a", "b", "x-1", "Bad", "", "a" * 70]),
                      st.from_regex(r"[a-z0-9][a-z0-9_-]{0,8}", fullmatch=True))
    inputs = sometimes(st.one_of(
        paths,
        st.fixed_dictionaries({"src": paths}, optional={"dest": paths}),
        st.fixed_dictionaries({"from": names, "path": paths}, optional={"dest": paths}),
        st.fixed_dictionaries({"url": st.sampled_from(["https://e.org/x.tgz", "http://e/", "nope"]),
                               "sha256": st.sampled_from(["0" * 64, "xyz", ""])}, optional={"dest": paths}),
    ))
    recipe_with = st.dictionaries(
        st.sampled_from(["source", "crate", "output", "sources", "flags", "ldflags", "include_dirs",
                         "opt_level", "edition", "strip", "version", "zlib", "bogus"]),
        sometimes(st.one_of(paths, st.lists(paths, max_size=3), st.booleans())), max_size=4)
    stage = sometimes(st.fixed_dictionaries({}, optional={
        "recipe": sometimes(st.sampled_from(["rust", "c", "cpython-wasi", "nope", "../c"])),
        "with": sometimes(recipe_with),
        "steps": sometimes(st.lists(st.sampled_from(["true", "echo $OUT", "exit 3", "{{ x }}"]), max_size=3)),
        "inputs": sometimes(st.lists(inputs, max_size=3)),
        "outputs": sometimes(st.lists(paths, max_size=3)),
        "env": sometimes(st.dictionaries(st.sampled_from(["A", "A=B", "1X", "PATH", "x", "é"]), SCALARS, max_size=3)),
        "builder": sometimes(st.sampled_from(["python-wasi", "wasi-toolchain", "repo@sha256:" + "0" * 64, "x"])),
        "network": sometimes(st.booleans()),
        "user": sometimes(st.sampled_from(["1000", "root", "1000:1000", "x y"])),
        "toolchain": sometimes(st.sampled_from(["rust", "c", "none", "zig"])),
        "timeout": sometimes(st.sampled_from([1, 0, -5, "1h", "90s", "2.5m", "soon", True, 1e300])),
    }))
    file = sometimes(st.fixed_dictionaries({"dest": paths}, optional={
        "src": paths, "from": names, "path": paths,
        "mode": sometimes(st.sampled_from([0o644, 0o7777, 0o10000, -1, "0755", "0o644", "rwx"])),
    }))
    image = sometimes(st.fixed_dictionaries({"files": sometimes(st.lists(file, max_size=4))}, optional={
        "entrypoint": sometimes(st.lists(paths, max_size=3)),
        "cmd": sometimes(st.lists(SCALARS, max_size=2)),
        "env": sometimes(st.dictionaries(st.sampled_from(["A", "A=B", "", "PATH"]), SCALARS, max_size=3)),
        "workdir": sometimes(paths),
        "labels": sometimes(st.dictionaries(st.text(max_size=8), SCALARS, max_size=2)),
        "annotations": sometimes(st.dictionaries(st.text(max_size=8), SCALARS, max_size=2)),
        "platform": sometimes(st.sampled_from(["wasi/wasm32", "wasi/wasm", "windows/zz80", "a/b/c/d", ""])),
        "custom_platform": sometimes(st.booleans()),
        "variant": sometimes(st.sampled_from(["compat", None, "compat-smart"])),
        "tags": sometimes(st.lists(st.sampled_from([*INTERESTING[50:70], "demo:1", "Bad Tag"]), max_size=3)),
    }))
    return st.fixed_dictionaries(
        {"wasmfile": sometimes(st.sampled_from([1, 1, 1, 2, "1", 1.0]))},
        optional={"stages": sometimes(st.dictionaries(names, stage, max_size=4)), "image": image,
                  "context": sometimes(paths)},
    )




WASMFILE = shape(wild=True)
PLAUSIBLE = shape(wild=False)


def dump(data: Any) -> str:
    """YAML for ``data`` (objects reached twice become anchors and aliases)."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            found += _paths(v, (*prefix, i))
    return found


def _set(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    copy = dict(data) if isinstance(data, dict) else list(data)
    copy[head] = _set(copy[head], rest, value)
    return copy


def _delete(data: Any, path: tuple[Any, ...]) -> Any:
    if len(path) == 1:
        copy = dict(data) if isinstance(data, dict) else list(data)
        del copy[path[0]]
        return copy
    head = path[0]
    copy = dict(data) if isinstance(data, dict) else list(data)
    copy[head] = _delete(copy[head], path[1:])
    return copy


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


@st.composite
def mutated_data(draw: st.DrawFn) -> str:
    """A seed, parsed, with a few of its values replaced, deleted, duplicated or retyped."""
    seed = draw(st.sampled_from(SEEDS))
    data = yaml.safe_load(seed.read_text())
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["replace", "replace", "delete", "share", "wrap", "rekey"]))
        if op == "replace" or not path:
            data = _set(data, path, draw(ANY))
        elif op == "delete":
            data = _delete(data, path)
        elif op == "share":  # the same object in two places: an anchor and an alias in YAML
            other = draw(st.sampled_from(paths))
            data = _set(data, path, _get(data, other)) if other[: len(path)] != path else data
        elif op == "wrap":
            data = _set(data, path, draw(st.sampled_from([[_get(data, path)], {"x": _get(data, path)}])))
        elif isinstance(path[-1], str):  # rekey
            parent = _get(data, path[:-1])
            renamed = {(draw(KEYS) if k == path[-1] else k): v for k, v in parent.items()}
            data = _set(data, path[:-1], renamed)
    return dump(data)


YAML_TOKENS = ["&a ", "*a", "<<: *a\n", "!!python/object:os.system ", "!!binary ", "? ", "- ", ": ",
               "\t", "---\n", "...\n", "%YAML 1.1\n", "{", "}", "[", "]", "|\n", ">-\n", "#", "'",
               '"', "\\x00", "\x00", "\ufeff", "!!int ", "!!float ", "!!timestamp ", "2001-12-14t21:59:43",
               "0x1F", "0o17", "1_000", ".inf", ".nan", "~", "null", "yes", "on", "=", "!local "]


@st.composite
def mutated_text(draw: st.DrawFn) -> bytes:
    """A seed's bytes with a few ranges deleted, duplicated, replaced by YAML syntax or flipped."""
    data = bytearray(draw(st.sampled_from(SEEDS)).read_bytes())
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["insert", "insert", "delete", "duplicate", "flip", "indent"]))
        if op == "insert":
            data[at:at] = draw(st.sampled_from(YAML_TOKENS)).encode("utf-8", "surrogatepass")
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 40))]
        elif op == "duplicate":
            data[at:at] = data[at:at + draw(st.integers(1, 200))]
        elif op == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "indent":
            line = data.rfind(b"\n", 0, at) + 1
            data[line:line] = b" " * draw(st.integers(1, 3))
    return bytes(data)
