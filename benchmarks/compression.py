#!/usr/bin/env python3
"""Compare deflate/zstd implementations for layer blobs: speed, ratio, and whether bytes repeat.

    python benchmarks/compression.py speed [--repeat 3]      # table of MB/s and ratios
    python benchmarks/compression.py digests [--size 4]      # sha256 per (codec, level, mode)

``speed`` compresses two layer tars (a 6.9 MB debug Rust module, and the 40 MB / 736-file
``/usr/lib/python3.11`` without ``__pycache__``) on one thread, whole and in wasmbuild's
segmented scheme (1 MiB segments, 32 KiB dictionary, sync flush: see wasmbuild/oci/gzchunks.py).
``digests`` prints a digest of every output for a fixed input: run it natively and under
``qemu-x86_64 -cpu MODEL`` (other SIMD paths), and compare (``--json`` for machine use).
Needs the optional wheels: ``pip install zlib-ng isal deflate zstandard``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

CHUNK = 1 << 20
WINDOW = 32 * 1024


def _zlike(name: str) -> ModuleType | None:
    try:
        if name == "zlib":
            return zlib
        if name == "zlib-ng":
            from zlib_ng import zlib_ng
            return zlib_ng
        if name == "isal":
            from isal import isal_zlib
            return isal_zlib
    except ImportError:
        return None
    raise ValueError(name)


def whole_deflate(mod: ModuleType, level: int, data: bytes) -> bytes:
    co = mod.compressobj(level, mod.DEFLATED, -15)
    return bytes(co.compress(data) + co.flush())


def segmented_deflate(mod: ModuleType, level: int, data: bytes) -> bytes:
    """wasmbuild's layer scheme, serially: each segment primed with the 32 KiB before it."""
    out = []
    tail = b""
    for i in range(0, len(data), CHUNK):
        chunk = data[i:i + CHUNK]
        args = (level, mod.DEFLATED, -15, 8, mod.Z_DEFAULT_STRATEGY) + ((tail,) if tail else ())
        co = mod.compressobj(*args)
        out.append(co.compress(chunk) + co.flush(mod.Z_SYNC_FLUSH))
        tail = (tail + chunk)[-WINDOW:]
    return b"".join(out) + b"\x03\x00"


def codecs() -> list[tuple[str, str, list[int], Callable[[int, bytes], bytes]]]:
    """(codec, mode, levels, compress(level, data)) for what is installed."""
    out: list[tuple[str, str, list[int], Callable[[int, bytes], bytes]]] = []
    levels = {"zlib": [1, 6, 9], "zlib-ng": [1, 2, 4, 6, 9], "isal": [0, 1, 2, 3]}
    for name, lv in levels.items():
        mod = _zlike(name)
        if mod is None:
            continue
        out.append((name, "whole", lv, lambda level, data, m=mod: whole_deflate(m, level, data)))
        out.append((name, "segmented", lv,
                    lambda level, data, m=mod: segmented_deflate(m, level, data)))
    try:
        import deflate  # libdeflate: whole buffers only, no dictionary, no sync flush

        out.append(("libdeflate", "whole", [1, 6, 9, 12],
                    lambda level, data: bytes(deflate.deflate_compress(data, level))))
    except ImportError:
        pass
    try:
        import zstandard

        def zstd(level: int, data: bytes, threads: int = 0) -> bytes:
            cctx = zstandard.ZstdCompressor(level=level, threads=threads, write_checksum=False,
                                            write_content_size=False)
            buf = io.BytesIO()
            with cctx.stream_writer(buf, closefd=False) as w:
                w.write(data)
            return buf.getvalue()

        out.append(("zstd", "whole", [1, 3, 9, 19], zstd))
        for n in (1, 2, 4):  # multi-threaded framing: the same bytes for any thread count?
            out.append(("zstd", f"threads={n}", [3, 19],
                        lambda level, data, n=n: zstd(level, data, n)))
    except ImportError:
        pass
    return out


def versions() -> dict[str, str]:
    v = {"python": sys.version.split()[0], "zlib": zlib.ZLIB_RUNTIME_VERSION}
    try:
        from zlib_ng import zlib_ng
        v["zlib-ng"] = f"{_dist('zlib-ng')} (zlib-ng {zlib_ng.ZLIBNG_RUNTIME_VERSION})"
    except ImportError:
        pass
    try:
        import isal
        v["isal"] = f"{_dist('isal')} (ISA-L {isal.__dict__.get('ISAL_VERSION', '?')})"
    except ImportError:
        pass
    for dist in ("deflate", "zstandard"):
        with contextlib.suppress(Exception):
            v[dist] = _dist(dist)
    try:
        import zstandard
        v["zstandard"] += f" (zstd {'.'.join(map(str, zstandard.ZSTD_VERSION))})"
    except (ImportError, KeyError):
        pass
    return v


def _dist(name: str) -> str:
    from importlib.metadata import version
    return version(name)


# -- inputs --------------------------------------------------------------------------------
def _norm(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def make_inputs(work: Path, stdlib: Path) -> dict[str, bytes]:
    """Layer tars: one debug Rust module, and a stdlib folder (what the benchmarks build)."""
    (work / "hello.rs").write_text('fn main() { println!("Hello Wasm"); }\n')
    rustc = shutil.which("rustc", path="/usr/bin") or "rustc"
    subprocess.run([rustc, "--target", "wasm32-wasi", "-C", "opt-level=0", "-o",
                    str(work / "hello.wasm"), str(work / "hello.rs")], check=True)
    tree = work / "stdlib"
    shutil.copytree(stdlib, tree, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    out = {}
    for name, path, arc in (("module", work / "hello.wasm", "hello.wasm"),
                            ("stdlib", tree, "usr/lib/python3.11")):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            tar.add(path, arcname=arc, filter=_norm)
        out[name] = buf.getvalue()
    return out


def load_inputs(args: argparse.Namespace) -> dict[str, bytes]:
    if args.inputs and all((args.inputs / f"{n}.tar").exists() for n in ("module", "stdlib")):
        return {n: (args.inputs / f"{n}.tar").read_bytes() for n in ("module", "stdlib")}
    with tempfile.TemporaryDirectory() as tmp:
        data = make_inputs(Path(tmp), args.stdlib)
    if args.inputs:
        args.inputs.mkdir(parents=True, exist_ok=True)
        for n, b in data.items():
            (args.inputs / f"{n}.tar").write_bytes(b)
    return data


# -- commands ------------------------------------------------------------------------------
def speed(args: argparse.Namespace) -> None:
    data = load_inputs(args)
    print(f"load average before: {os.getloadavg()}; versions: {json.dumps(versions())}")
    print("| codec | mode | level | " + " | ".join(f"{n} MB/s | {n} bytes | {n} ratio" for n in data)
          + " |")
    print("|---|---|---:|" + "---:|---:|---:|" * len(data))
    for name, mode, levels, fn in codecs():
        for level in levels:
            cells = []
            for blob in data.values():
                times = []
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    out = fn(level, blob)
                    times.append(time.perf_counter() - start)
                t = statistics.median(times)
                cells += [f"{len(blob) / t / 1e6:.1f}", f"{len(out):,}", f"{len(out) / len(blob):.4f}"]
            print(f"| {name} | {mode} | {level} | " + " | ".join(cells) + " |", flush=True)
    print(f"load average after: {os.getloadavg()}")


def digests(args: argparse.Namespace) -> None:
    data = load_inputs(args)
    half = args.size * CHUNK // 2
    sample = data["module"][:half] + data["stdlib"][:half]
    rows = {}
    for name, mode, levels, fn in codecs():
        for level in levels:
            rows[f"{name}/{mode}/{level}"] = hashlib.sha256(fn(level, sample)).hexdigest()[:16]
    if args.json:
        print(json.dumps(rows, sort_keys=True))
    else:
        for k, v in rows.items():
            print(f"{k:28} {v}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["speed", "digests"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--size", type=int, default=4, help="MiB of input for digests")
    ap.add_argument("--stdlib", type=Path, default=Path("/usr/lib/python3.11"))
    ap.add_argument("--inputs", type=Path, help="cache the input tars in this folder")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    {"speed": speed, "digests": digests}[args.command](args)


if __name__ == "__main__":
    main()
