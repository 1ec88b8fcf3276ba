#!/usr/bin/env python3
"""wasmbuild's speed and size, each figure measured against its real peer in the same run.

    python benchmarks/run.py                 # all benchmarks, 3 repetitions, writes README.md
    python benchmarks/run.py --repeat 5 --rows P1,P1b,P5   # some rows; the others are kept
    python benchmarks/run.py --wasmfile examples/cpython-wasi/Wasmfile --touch main.py

Needs: wasmbuild installed in this Python (``pip install -e .``), buildah (runs as root with
``--storage-driver vfs --isolation chroot`` in a private ``--root``), rustc with the wasm32-wasi
std (to make the ~6.8 MB module), clang + wasi-libc for ``Wasmfile.example``; hyperfine if
installed (else a timed loop). Every state directory is temporary; nothing global is touched.
Wall times are medians of ``--repeat`` runs. Results go to ``benchmarks/README.md`` (a table with
date, machine and versions) and, as JSON, to ``benchmarks/results.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WASMBUILD = [sys.executable, "-m", "wasmbuild"]
if (Path(sys.executable).parent / "wasmbuild").is_file():
    WASMBUILD = [str(Path(sys.executable).parent / "wasmbuild")]
# (module (func (export "_start"))): the smallest WASI command
START_WASM = bytes.fromhex("0061736d01000000010401600000030201000" "70a01065f7374617274"
                           "00000a040102000b")


@dataclass
class Row:
    name: str
    ours: str
    peer: str
    ratio: float | None
    goal: str
    met: bool | None
    notes: str
    step: str = ""  # the --rows name that produced it



# -- helpers ---------------------------------------------------------------------------------
def run(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def timed(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    start = time.perf_counter()
    run(cmd, env, cwd)
    return time.perf_counter() - start


def median(fn: Callable[[int], float], repeat: int) -> float:
    return statistics.median(fn(i) for i in range(repeat))


def wb_env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WASMBUILD_") or k == "WASMBUILD_DOWNLOADS"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: `pip install` writes the .pyc files
    env.update(WASMBUILD_STORE=str(state / "store"), WASMBUILD_CACHE=str(state / "cache"))
    env.pop("SOURCE_DATE_EPOCH", None)
    return env


def wb_build(state: Path, wasmfile: Path, *args: str) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    out = run([*WASMBUILD, "build", str(wasmfile), "--json", *args], wb_env(state))
    return time.perf_counter() - start, json.loads(out)


class Buildah:
    """``buildah`` with private storage (vfs, chroot isolation: what works unprivileged-ish)."""

    def __init__(self, root: Path):
        self.base = ["buildah", "--root", str(root / "root"), "--runroot", str(root / "run"),
                     "--storage-driver", "vfs"]

    def build(self, ctx: Path, tag: str, layers: bool = False) -> float:
        cmd = [*self.base, "build", "--isolation", "chroot", "-q", "-f",
               str(ctx / "Containerfile"), "-t", tag]
        return timed([*cmd, f"--layers={'true' if layers else 'false'}", str(ctx)])

    def push_oci(self, tag: str, dest: Path) -> float:
        return timed([*self.base, "push", "-q", tag, f"oci:{dest}:latest"])


def layer_sizes(layout: Path, digest: str | None = None) -> tuple[int, int, str]:
    """(compressed bytes, uncompressed tar bytes, media type) of an image's single layer."""
    index = json.loads((layout / "index.json").read_text())
    if digest is None:  # the image, not the list of its referrers (SBOM, provenance) beside it
        digest = next(m["digest"] for m in index["manifests"]
                      if m["mediaType"] == "application/vnd.oci.image.manifest.v1+json")
    manifest = json.loads((layout / "blobs" / "sha256" / digest.split(":")[1]).read_text())
    [layer] = manifest["layers"]
    blob = layout / "blobs" / "sha256" / layer["digest"].split(":")[1]
    data = blob.read_bytes()
    from wasmbuild.assemble.compress import open_layer

    with open_layer(blob, layer["mediaType"]) as fh:
        plain = fh.read()
    return len(data), len(plain), layer["mediaType"]


def extract_image(layout: Path, digest: str, dest: Path) -> dict[str, Any]:
    """Unpack an image's layers into ``dest``; returns its config."""
    manifest = json.loads((layout / "blobs" / "sha256" / digest.split(":")[1]).read_text())
    for layer in manifest["layers"]:
        with tarfile.open(layout / "blobs" / "sha256" / layer["digest"].split(":")[1]) as tar:
            tar.extractall(dest, filter="tar")
    config: dict[str, Any] = json.loads(
        (layout / "blobs" / "sha256" / manifest["config"]["digest"].split(":")[1]).read_text())
    return config


def containerfile(config: dict[str, Any], copies: list[tuple[str, str]]) -> str:
    cfg = config.get("config", {})
    lines = ["FROM scratch"] + [f"COPY {src} {dest}" for src, dest in copies]
    for item in cfg.get("Env", []):
        key, _, value = item.partition("=")
        lines.append(f"ENV {key}={json.dumps(value)}")
    lines += [f"LABEL {k}={json.dumps(v)}" for k, v in (cfg.get("Labels") or {}).items()]
    if cfg.get("WorkingDir"):
        lines.append(f"WORKDIR {cfg['WorkingDir']}")
    lines.append(f"ENTRYPOINT {json.dumps(cfg['Entrypoint'])}")
    return "\n".join(lines) + "\n"


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.2f} s"


def fmt_b(n: int) -> str:
    return f"{n:,} B"


def rustc() -> tuple[str, str]:
    from wasmbuild.execute import toolchains

    rust = toolchains.probe("rust")
    return rust.env["RUSTC"], rust.env["WASM_TARGET"]


# -- benchmarks ------------------------------------------------------------------------------
def _module_ctx(work: Path) -> Path:
    """A context holding one prebuilt ~6.9 MB module (a debug rustc build of hello.rs)."""
    ctx = work / "ctx-module"
    if ctx.exists():
        return ctx
    ctx.mkdir()
    (ctx / "hello.rs").write_text('fn main() { println!("Hello Wasm"); }\n')
    cc, target = rustc()
    run([cc, "--target", target, "-C", "opt-level=0", "-o", str(ctx / "hello.wasm"),
         str(ctx / "hello.rs")])
    (ctx / "hello.rs").unlink()
    (ctx / "Wasmfile").write_text("wasmfile: 1\nimage:\n  files:\n"
                                  "    - {src: hello.wasm, dest: /hello.wasm}\n"
                                  "  entrypoint: [/hello.wasm]\n  tags: [bench:latest]\n")
    (ctx / "Containerfile").write_text(
        'FROM scratch\nCOPY hello.wasm /hello.wasm\nENTRYPOINT ["/hello.wasm"]\n')
    return ctx


def _stdlib_ctx(work: Path, stdlib: Path) -> Path:
    """A Python stdlib folder's regular files (Debian's 3.11: 736 files, 40 MB; no __pycache__)."""
    ctx = work / "ctx-stdlib"
    ctx.mkdir()
    def skip(folder: str, names: list[str]) -> list[str]:  # symlinks (Debian's point outside it)
        return [n for n in names if n == "__pycache__" or os.path.islink(os.path.join(folder, n))]

    shutil.copytree(stdlib, ctx / "lib", ignore=skip)
    (ctx / "app.wasm").write_bytes(START_WASM)
    dest = f"/usr/lib/{stdlib.name}"
    (ctx / "Wasmfile").write_text("wasmfile: 1\nimage:\n  files:\n"
                                  "    - {src: app.wasm, dest: /app.wasm}\n"
                                  f"    - {{src: lib, dest: {dest}}}\n"
                                  "  entrypoint: [/app.wasm]\n  tags: [bench:latest]\n")
    (ctx / "Containerfile").write_text(
        f'FROM scratch\nCOPY app.wasm /app.wasm\nCOPY lib/ {dest}/\nENTRYPOINT ["/app.wasm"]\n')
    return ctx


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cold(work: Path, ctx: Path, tag: str, repeat: int, *args: str) -> dict[str, Any]:
    """Cold builds, wasmbuild and buildah alternating (a shared machine drifts): medians."""
    out: dict[str, list[float]] = {k: [] for k in ("ours", "ours_cpu", "bh_build", "bh_push", "bh_cpu")}
    load = [os.getloadavg()[0]]
    for i in range(repeat):
        state = work / f"{tag}-wb-{i}"
        c0, t0 = _cpu(), time.perf_counter()
        run([*WASMBUILD, "build", str(ctx / "Wasmfile"), "--output", f"oci:{state / 'oci'}:latest",
             *args], wb_env(state))
        out["ours"].append(time.perf_counter() - t0)
        out["ours_cpu"].append(_cpu() - c0)
        b = Buildah(work / f"{tag}-bh-{i}")
        c0 = _cpu()
        out["bh_build"].append(b.build(ctx, "bench:latest"))
        out["bh_push"].append(b.push_oci("bench:latest", work / f"{tag}-bh-oci-{i}"))
        out["bh_cpu"].append(_cpu() - c0)
        shutil.rmtree(work / f"{tag}-bh-{i}", ignore_errors=True)  # vfs copies are big
    load.append(os.getloadavg()[0])
    res: dict[str, Any] = {k: statistics.median(v) for k, v in out.items()}
    res["peer"] = statistics.median(b + p for b, p in zip(out["bh_build"], out["bh_push"], strict=True))
    res["load"] = load
    res["ours_oci"] = work / f"{tag}-wb-0" / "oci"
    res["bh_oci"] = work / f"{tag}-bh-oci-0"
    return res


def _cold_row(name: str, r: dict[str, Any], extra: str) -> Row:
    ratio = r["ours"] / r["peer"]
    return Row(name, fmt_s(r["ours"]), fmt_s(r["peer"]), ratio, "<= 0.5x", ratio <= 0.5,
               f"wasmbuild = `build --output oci:DIR` from an empty store and cache; buildah = `build` "
               f"({fmt_s(r['bh_build'])}) + `push oci:DIR` ({fmt_s(r['bh_push'])}). CPU (user+sys): "
               f"{r['ours_cpu']:.2f} s vs {r['bh_cpu']:.2f} s. {extra}1-min load {r['load'][0]:.1f} -> "
               f"{r['load'][1]:.1f} on {os.cpu_count()} CPUs")


def bench_p1(work: Path, repeat: int) -> list[Row]:
    """P1: cold build of an image holding one prebuilt ~6.9 MB module."""
    ctx = _module_ctx(work)
    size = (ctx / "hello.wasm").stat().st_size
    r = _cold(work, ctx, "p1", repeat)

    def compress(i: int) -> float:  # the layer alone, in-process
        from wasmbuild.assemble.layer import collect, write_layer
        from wasmbuild.oci.layout import Layout

        entries = collect([("/hello.wasm", ctx / "hello.wasm", None)])
        start = time.perf_counter()
        write_layer(entries, 0, Layout(work / f"gz-{i}").init())
        return time.perf_counter() - start

    t_gz = median(compress, repeat)
    return [_cold_row(f"P1 cold build, image from a prebuilt {size / 1e6:.1f} MB module", r,
                      f"Of wasmbuild's time, compressing the layer (gzip:6, {os.cpu_count()} threads) "
                      f"is {fmt_s(t_gz)}. ")]


def bench_p1b(work: Path, repeat: int, stdlib: Path) -> list[Row]:
    """P1b: cold build of a 40 MB / 736-file context (a Python stdlib folder)."""
    ctx = _stdlib_ctx(work, stdlib)
    files = [p for p in (ctx / "lib").rglob("*") if p.is_file() and not p.is_symlink()]
    mb = sum(p.stat().st_size for p in files) / 1e6
    r = _cold(work, ctx, "p1b", repeat)
    wb_c, _, _ = layer_sizes(r["ours_oci"])
    bh_c, _, _ = layer_sizes(r["bh_oci"])
    return [_cold_row(f"P1b cold build, {mb:.0f} MB / {len(files)}-file context ({stdlib})", r,
                      f"Layer {fmt_b(wb_c)} vs {fmt_b(bh_c)} ({wb_c / bh_c:.3f}x). ")]


def bench_p5(work: Path) -> list[Row]:
    """P5: image bytes for the same contents (the P1 module), gzip default and zstd."""
    ctx = _module_ctx(work)
    size = (ctx / "hello.wasm").stat().st_size
    b = Buildah(work / "p5-bh")
    b.build(ctx, "bench:latest")
    b.push_oci("bench:latest", work / "p5-bh-gzip")
    bh_c, bh_u, _ = layer_sizes(work / "p5-bh-gzip")
    rows = []
    for comp, goal in (("gzip", 0.9), ("zstd", 0.75)):
        state = work / f"p5-wb-{comp}"
        t0 = time.perf_counter()
        run([*WASMBUILD, "build", str(ctx / "Wasmfile"), "--compression", comp], wb_env(state))
        took = time.perf_counter() - t0
        wb_c, wb_u, wb_mt = layer_sizes(state / "store")
        note = (f"wasmbuild `--compression {comp}` (default level; cold build {fmt_s(took)}) vs buildah's "
                f"default gzip; uncompressed tar {fmt_b(wb_u)} vs {fmt_b(bh_u)} over the {size:,} B module")
        if comp == "zstd":
            zdir = work / "p5-bh-zstd"
            proc = subprocess.run([*b.base, "push", "-q", "--compression-format", "zstd", "bench:latest",
                                   f"oci:{zdir}:latest"], capture_output=True, text=True)
            if proc.returncode == 0:
                bz = layer_sizes(zdir)[0]
                note += f"; buildah's own `push --compression-format zstd` gives {fmt_b(bz)} ({wb_c / bz:.3f}x)"
        rows.append(Row(f"P5 image bytes, same contents, {wb_mt.rsplit('+', 1)[-1]} layer", fmt_b(wb_c),
                        fmt_b(bh_c), wb_c / bh_c, f"<= {goal}x", wb_c / bh_c <= goal, note))
    return rows


def _project(work: Path, wasmfile: Path | None, touch: str) -> tuple[Path, Path]:
    """A copy of the project to rebuild: the given Wasmfile's, or Wasmfile.example + main.py."""
    if wasmfile is not None:  # copy its folder (the context): the benchmark edits `touch`
        proj = work / "proj"
        shutil.copytree(wasmfile.resolve().parent, proj)
        return proj / wasmfile.name, proj / touch
    proj = work / "proj"
    shutil.copytree(REPO / "examples", proj / "examples")
    text = (REPO / "Wasmfile.example").read_text()
    text = text.replace("image:\n  files:\n",
                        "image:\n  files:\n    - {src: main.py, dest: /main.py}\n", 1)
    (proj / "Wasmfile").write_text(text)
    (proj / touch).write_text("print('hello')\n")
    return proj / "Wasmfile", proj / touch


def bench_rebuilds(work: Path, repeat: int, wasmfile: Path | None, touch: str) -> list[Row]:
    wf, touched = _project(work, wasmfile, touch)
    state = work / "rebuild-wb"
    t_cold, first = wb_build(state, wf)
    noop: list[float] = []
    for _ in range(repeat):
        t, result = wb_build(state, wf)
        assert not any(not s["cached"] for s in result["stages"]) and result["digest"] == first[
            "digest"], result
        noop.append(t)
    t_noop = statistics.median(noop)
    # what a no-op costs before any build work: the interpreter and the modules `build` imports
    imports = "import wasmbuild.cli, wasmbuild.pipeline, wasmbuild.plan, wasmbuild.render.recipes, " \
        "wasmbuild.load.loader, wasmbuild.publish, typer"
    t_imports = median(lambda i: timed([sys.executable, "-c", imports]), max(repeat, 5))

    # buildah's side: the same image contents, assembled from files (it cannot run the wasm
    # toolchain stages without a base image), with the touched file copied last
    ctx = work / "rebuild-bh"
    rootfs = ctx / "rootfs"
    config = extract_image(state / "store", first["digest"], rootfs)
    image = yaml.safe_load(wf.read_text())["image"]
    dest = next(f["dest"] for f in image["files"] if f.get("src") == touch)
    (rootfs / dest.lstrip("/")).unlink()
    shutil.copy(touched, ctx / "touched")
    (ctx / "Containerfile").write_text(containerfile(config, [("rootfs/", "/"), ("touched", dest)]))
    bh = Buildah(work / "rebuild-bh-store")
    bh_cold = bh.build(ctx, "bench-rebuild:latest", layers=True)
    bh_noop = median(lambda i: bh.build(ctx, "bench-rebuild:latest", layers=True), repeat)

    changed: list[float] = []
    bh_changed: list[float] = []
    for i in range(repeat):
        text = f"print('change {i} {time.time_ns()}')\n"
        touched.write_text(text)
        t, result = wb_build(state, wf)
        assert all(s["cached"] for s in result["stages"]), result
        changed.append(t)
        (ctx / "touched").write_text(text)
        bh_changed.append(bh.build(ctx, "bench-rebuild:latest", layers=True))
    t_changed = statistics.median(changed)
    t_bh_changed = statistics.median(bh_changed)

    what = (f"`{wf.relative_to(work) if wf.is_relative_to(work) else wf}`"
            + (" (Wasmfile.example + a context file main.py; examples/cpython-wasi is not in "
               "this branch)" if wasmfile is None else ""))
    peer_note = (f"buildah `build --layers` of the assembly-only equivalent Containerfile "
                 f"(FROM scratch, COPY rootfs + COPY {touch} last, same ENV/LABEL/ENTRYPOINT): "
                 f"its toolchain stages cannot run without a base image; its cold build "
                 f"{fmt_s(bh_cold)}")
    return [
        Row("cold build (all stages compile)", fmt_s(t_cold), "-", None, "(reference)", None,
            what + f": {len(first['stages'])} stages"),
        Row("no-op rebuild", fmt_s(t_noop), fmt_s(bh_noop), t_noop / bh_noop, "<= 0.5x",
            t_noop / bh_noop <= 0.5, peer_note),
        Row("no-op rebuild / own cold build", fmt_s(t_noop), fmt_s(t_cold), t_noop / t_cold,
            "<= 0.01x", t_noop / t_cold <= 0.01,
            f"no stage runs (asserted), layer memo hit; Python start-up + imports alone "
            f"(typer, pydantic, yaml, jinja2) take {fmt_s(t_imports)} of it"),
        Row(f"rebuild after changing only {touch}", fmt_s(t_changed), fmt_s(t_bh_changed),
            t_changed / t_bh_changed, "(info)", None,
            "no stage recompiles (asserted); only the layer's segments holding main.py are "
            "recompressed"),
        Row(f"rebuild after changing {touch} / own cold build", fmt_s(t_changed), fmt_s(t_cold),
            t_changed / t_cold, "<= 0.02x", t_changed / t_cold <= 0.02, ""),
    ]


def bench_parallel(work: Path, seconds: int = 10) -> list[Row]:
    ctx = work / "par"
    ctx.mkdir()
    (ctx / "app.wasm").write_bytes(START_WASM)
    stages = "".join(f"""
  s{i}:
    steps: ["sleep {seconds}", "echo {i} > $OUT/s{i}.txt"]
    outputs: [s{i}.txt]""" for i in (1, 2))
    (ctx / "Wasmfile").write_text(f"""wasmfile: 1
stages:{stages}
image:
  files:
    - {{src: app.wasm, dest: /app.wasm}}
    - {{from: s1, path: s1.txt, dest: /s1.txt}}
    - {{from: s2, path: s2.txt, dest: /s2.txt}}
  entrypoint: [/app.wasm]
""")
    t, _ = wb_build(work / "par-state", ctx / "Wasmfile", "--jobs", "2")
    return [Row(f"two independent {seconds} s stages", fmt_s(t), fmt_s(seconds), t / seconds,
                "<= 1.2x", t / seconds <= 1.2, "wall of the whole cold build (`--jobs 2`) "
                "vs the longer stage alone")]


def bench_startup(work: Path, repeat: int) -> list[Row]:
    ours = " ".join(WASMBUILD) + " --version"
    peer = f"{sys.executable} -c pass"
    if shutil.which("hyperfine"):
        out = work / "hyperfine.json"
        run(["hyperfine", "-N", "--warmup", "3", "--runs", str(max(20, repeat)),
             "--export-json", str(out), ours, peer])
        res = json.loads(out.read_text())["results"]
        t_ours, t_peer = res[0]["median"], res[1]["median"]
        how = "hyperfine -N, 20 runs, median"
    else:
        def loop(cmd: str) -> float:
            return statistics.median(timed(cmd.split()) for _ in range(20))

        t_ours, t_peer = loop(ours), loop(peer)
        how = "20 runs, median"
    return [Row("`wasmbuild --version` start-up", fmt_s(t_ours), fmt_s(t_peer), t_ours / t_peer,
                "<= 3x", t_ours / t_peer <= 3, f"peer: `python -c pass`; {how}")]


# -- report ----------------------------------------------------------------------------------
def machine() -> dict[str, str]:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor() or "?")
    mem_kb = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), 0)

    def version(cmd: list[str]) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True).stdout
            return out.strip().splitlines()[0]
        except (OSError, IndexError):
            return "not found"

    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wasmbuild": version([*WASMBUILD, "--version"]),
        "buildah": version(["buildah", "--version"]),
        "git": version(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
    }


def write_report(rows: list[Row], info: dict[str, str], repeat: int, path: Path) -> None:
    lines = [
        "# wasmbuild benchmarks",
        "",
        "Run `python benchmarks/run.py` (needs buildah, rustc + wasm32-wasi std, clang-16 + "
        "wasi-libc; see the script's docstring). It rewrites this file. Wall times are medians "
        f"of {repeat} runs, measured in the same run as the peer they are compared with.",
        "",
        f"- date: {info['date']}; commit {info['git']}",
        f"- machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory']} RAM, "
        f"Linux {info['kernel']}; Python {info['python']}",
        f"- {info['wasmbuild']}; {info['buildah']} (`--storage-driver vfs --isolation chroot`)",
        f"- load average at the end (1, 5, 15 min): {info.get('load', '?')}",
        "",
        "| benchmark | wasmbuild | peer | ratio | goal | met | what was measured |",
        "| --- | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for r in rows:
        ratio = f"{r.ratio:.3f}x" if r.ratio is not None else "-"
        met = "-" if r.met is None else ("yes" if r.met else "**missed**")
        lines.append(f"| {r.name} | {r.ours} | {r.peer} | {ratio} | {r.goal} | {met} | {r.notes} |")
    notes = HERE / "NOTES.md"
    if notes.exists():
        lines += ["", notes.read_text().strip()]
    path.write_text("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", "--rows", dest="only", default="P1,P1b,P5,rebuild,parallel,startup",
                    help="comma-separated rows: P1,P1b,P5,rebuild,parallel,startup")
    ap.add_argument("--stdlib", type=Path, default=Path("/usr/lib/python3.11"),
                    help="the folder P1b copies into the image")
    ap.add_argument("--wasmfile", type=Path, help="project for the rebuild benchmarks")
    ap.add_argument("--touch", default="main.py", help="context file changed for the rebuild")
    ap.add_argument("--out", type=Path, default=HERE / "README.md")
    args = ap.parse_args()
    if not shutil.which("buildah"):
        raise SystemExit("buildah is needed for the comparisons (apt-get install buildah)")
    only = set(args.only.split(","))
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="wasmbuild-bench-") as tmp:
        work = Path(tmp)
        steps: list[tuple[str, Callable[[], list[Row]]]] = [
            ("P1", lambda: bench_p1(work, args.repeat)),
            ("P1b", lambda: bench_p1b(work, args.repeat, args.stdlib)),
            ("P5", lambda: bench_p5(work)),
            ("rebuild", lambda: bench_rebuilds(work, args.repeat, args.wasmfile, args.touch)),
            ("parallel", lambda: bench_parallel(work)),
            ("startup", lambda: bench_startup(work, args.repeat)),
        ]
        for name, fn in steps:
            if name in only:
                print(f"== {name}", file=sys.stderr, flush=True)
                new = fn()
                for r in new:
                    r.step = name
                    print(f"   {r.name}: {r.ours} vs {r.peer} "
                          f"({'-' if r.ratio is None else f'{r.ratio:.3f}x'})", file=sys.stderr)
                rows += new
    # A partial run (--rows P1,P5) keeps the other steps' rows of the last run, in step order
    order = [name for name, _ in steps]
    results = args.out.parent / "results.json"
    if only != set(order) and results.exists():
        last = json.loads(results.read_text())
        kept = [Row(**r) for r in last["rows"] if r.get("step") in order and r["step"] not in only]
        for r in kept:
            if "(from the run of" not in r.notes:
                r.notes += f" (from the run of {last['machine']['date']})"
        rows = sorted(kept + rows, key=lambda r: order.index(r.step))
    info = machine()
    info["load"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    write_report(rows, info, args.repeat, args.out)
    results.write_text(json.dumps(
        {"machine": info, "repeat": args.repeat, "rows": [r.__dict__ for r in rows]}, indent=2)
        + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
