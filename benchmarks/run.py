#!/usr/bin/env python3
"""wasmbuild's speed and size, each figure measured against its real peer in the same run.

    python benchmarks/run.py                 # all benchmarks, 3 repetitions, writes README.md
    python benchmarks/run.py --repeat 5 --only cold,noop
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
import gzip
import json
import os
import platform
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
    mdigest = digest or index["manifests"][0]["digest"]
    manifest = json.loads((layout / "blobs" / "sha256" / mdigest.split(":")[1]).read_text())
    [layer] = manifest["layers"]
    blob = layout / "blobs" / "sha256" / layer["digest"].split(":")[1]
    data = blob.read_bytes()
    plain = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
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

    rust = toolchains.rust()
    return rust.env["RUSTC"], rust.env["WASM_TARGET"]


# -- benchmarks ------------------------------------------------------------------------------
def bench_cold(work: Path, repeat: int) -> list[Row]:
    """Cold build of an image holding one prebuilt ~6.8 MB module, and the image's bytes."""
    ctx = work / "cold-ctx"
    ctx.mkdir()
    (ctx / "hello.rs").write_text('fn main() { println!("Hello Wasm"); }\n')
    cc, target = rustc()
    run([cc, "--target", target, "-C", "opt-level=0", "-o", str(ctx / "hello.wasm"),
         str(ctx / "hello.rs")])
    (ctx / "hello.rs").unlink()
    size = (ctx / "hello.wasm").stat().st_size
    (ctx / "Wasmfile").write_text("wasmfile: 1\nimage:\n  files:\n"
                                  "    - {src: hello.wasm, dest: /hello.wasm}\n"
                                  "  entrypoint: [/hello.wasm]\n  tags: [bench:latest]\n")
    (ctx / "Containerfile").write_text(
        'FROM scratch\nCOPY hello.wasm /hello.wasm\nENTRYPOINT ["/hello.wasm"]\n')

    def ours(i: int) -> float:
        return wb_build(work / f"cold-wb-{i}", ctx / "Wasmfile")[0]

    build_only: list[float] = []
    pushes: list[float] = []

    def peer(i: int) -> float:
        b = Buildah(work / f"cold-bh-{i}")
        build_only.append(b.build(ctx, "bench:latest"))
        pushes.append(b.push_oci("bench:latest", work / f"cold-bh-oci-{i}"))
        return build_only[-1] + pushes[-1]

    t_ours, t_peer = median(ours, repeat), median(peer, repeat)

    def compress(i: int) -> float:  # the layer alone, in-process: gzip -9 of the module
        from wasmbuild.assemble.layer import collect, write_layer
        from wasmbuild.oci.layout import Layout

        entries = collect([("/hello.wasm", ctx / "hello.wasm", None)])
        start = time.perf_counter()
        write_layer(entries, 0, Layout(work / f"gz-{i}").init())
        return time.perf_counter() - start

    t_gz = median(compress, repeat)
    rows = [Row(f"cold build, image from a prebuilt {size / 1e6:.1f} MB module", fmt_s(t_ours),
                fmt_s(t_peer), t_ours / t_peer, "<= 0.5x", t_ours / t_peer <= 0.5,
                f"buildah = `build` ({fmt_s(statistics.median(build_only))}) + `push oci:DIR` "
                f"({fmt_s(statistics.median(pushes))}), so both end with a gzip OCI layout on "
                "disk; wasmbuild = `build` into its (empty) store and cache, of which "
                f"compressing the layer (gzip -9, {os.cpu_count()} threads) is {fmt_s(t_gz)}")]
    wb_c, wb_u, wb_mt = layer_sizes(work / "cold-wb-0" / "store")
    bh_c, bh_u, bh_mt = layer_sizes(work / "cold-bh-oci-0")
    rows.append(Row("image bytes, same contents (compressed layer)", fmt_b(wb_c), fmt_b(bh_c),
                    wb_c / bh_c, "<= 0.9x", wb_c / bh_c <= 0.9,
                    f"uncompressed tar: {fmt_b(wb_u)} vs {fmt_b(bh_u)} (tar overhead "
                    f"{wb_u - size:,} vs {bh_u - size:,} B over the {size:,} B module); "
                    f"{wb_mt.rsplit('.', 1)[-1]} vs {bh_mt.rsplit('.', 1)[-1]}"))
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
    imports = "import wasmbuild.cli, wasmbuild.build, wasmbuild.plan, wasmbuild.recipes, " \
        "wasmbuild.load.loader, wasmbuild.outputs, typer"
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
    ap.add_argument("--only", default="cold,rebuild,parallel,startup")
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
            ("cold", lambda: bench_cold(work, args.repeat)),
            ("rebuild", lambda: bench_rebuilds(work, args.repeat, args.wasmfile, args.touch)),
            ("parallel", lambda: bench_parallel(work)),
            ("startup", lambda: bench_startup(work, args.repeat)),
        ]
        for name, fn in steps:
            if name in only:
                print(f"== {name}", file=sys.stderr, flush=True)
                new = fn()
                for r in new:
                    print(f"   {r.name}: {r.ours} vs {r.peer} "
                          f"({'-' if r.ratio is None else f'{r.ratio:.3f}x'})", file=sys.stderr)
                rows += new
    info = machine()
    write_report(rows, info, args.repeat, args.out)
    (args.out.parent / "results.json").write_text(json.dumps(
        {"machine": info, "repeat": args.repeat, "rows": [r.__dict__ for r in rows]}, indent=2)
        + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
