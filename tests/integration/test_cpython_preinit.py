"""The CPython example pre-initialised with Wizer (recipe parameter ``preinit: true``) and a
precompiled extra attached to it: the seed article's output unchanged, a snapshot that another run
of the Wizer step reproduces byte for byte, and a first run that loads the shipped native code
instead of compiling (and compiles when the extra is corrupt or made for another engine).

One CPython build (~2 minutes on 2 idle cores); the snapshot's reproducibility is checked by
re-running only the Wizer step (the stage ships it: ``preinit/snapshot.sh``) on the same inputs,
elsewhere, with other file metadata, instead of a second build."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.integration.engine_fixtures import missing
from wasmbuild.assemble.precompile import code_bytes
from wasmbuild.oci.layout import Layout
from wasmbuild.oci.referrers import referrers
from wasmbuild.wasm import precompiled as fmt

pytestmark = pytest.mark.integration

SOURCES = Path(os.environ.get("WASMBUILD_SOURCES", "/var/tmp/wasmbuild-src"))
WASMFILE = "examples/cpython-wasi/Wasmfile.preinit"
TAG = "wasm-cpython-preinit"
ARTICLE = ["PYTHONHOME=/usr/local", "------", "Hello World", "------"]


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wasmbuild", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=3600)


def _seed(script: str, *args: str, env: dict[str, str]) -> Path:
    """Put a pinned download into the sha256-addressed cache (offline machines, CI)."""
    fetched = subprocess.run([str(REPO / "scripts" / script), *args], capture_output=True, text=True, timeout=600)
    if fetched.returncode != 0:
        missing(f"scripts/{script} failed: {fetched.stderr.strip()[-300:]}")
    path = Path(fetched.stdout.split()[0])
    assert _cli("fetch", "--add", str(path), env=env).returncode == 0
    return path


@pytest.fixture(scope="module")
def built(docker_engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    root = tmp_path_factory.mktemp("preinit")
    env = {**os.environ, "DOCKER_HOST": docker_engine, "WASMBUILD_STORE": str(root / "store"),
           "WASMBUILD_CACHE": str(root / "cache"), "HOSTNAME": "leaky-host", "HOST_ONLY_SECRET": "x"}
    for name in ("SOURCE_DATE_EPOCH", "WASMBUILD_PRECOMPILED", "WASMBUILD_FAST_RUN"):
        env.pop(name, None)
    _seed("fetch-cpython-source", str(SOURCES), "python3.11", env=env)
    wizer = _seed("fetch-wizer", str(SOURCES / "npm"), env=env)
    proc = _cli("build", WASMFILE, "--json", env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert [s["cached"] for s in result["stages"]] == [False]
    yield {**env, "DIGEST": result["digest"], "WIZER": str(wizer)}


def _fresh_cache(env: dict[str, str], name: str) -> dict[str, str]:
    cache = Path(env["WASMBUILD_CACHE"]).parent / name
    shutil.rmtree(cache, ignore_errors=True)
    return {**env, "WASMBUILD_CACHE": str(cache)}


def test_preinit_image_prints_the_articles_output(built: dict[str, str]) -> None:
    proc = _cli("run", TAG, env=built)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:4] == ARTICLE and len(lines) == 5  # exactly the image's env: no HOSTNAME
    assert sorted(ast.literal_eval(lines[4])) == ["main.py", "python3.wasm", "usr"]


def test_run_time_env_and_argv_reach_the_snapshot(built: dict[str, str], tmp_path: Path) -> None:
    proc = _cli("run", "-e", "GREETING=hi", TAG, env=built)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[:3] == ["PYTHONHOME=/usr/local", "GREETING=hi", "------"]
    # The entrypoint fixes main.py; Python's own parser still sees another argv (-c, -m, -V).
    code = "import os, sys; print(sys.argv, os.environ['GREETING'], sys.flags.hash_randomization); sys.exit(3)"
    assert _module(built, ["-c", code, "x"], {"GREETING": "hi"}, tmp_path) == (3, "['-c', 'x'] hi 0\n")
    assert _module(built, ["-V"], {}, tmp_path) == (0, "Python 3.11.2\n")
    assert _module(built, ["-m", "this"], {}, tmp_path)[1].startswith("The Zen of Python")


def _module(built: dict[str, str], argv: list[str], env: dict[str, str], tmp_path: Path) -> tuple[int, str]:
    """Run the image's python3.wasm with another argv, in this process (wasmtime-py)."""
    import wasmtime

    from wasmbuild.runtime.run import load_module, rootfs

    layout = Layout(built["WASMBUILD_STORE"])
    desc = layout.resolve(f"{TAG}:latest")
    os.environ["WASMBUILD_CACHE"] = built["WASMBUILD_CACHE"]
    with rootfs(layout, layout.read_json(desc.digest), desc.digest) as root:
        engine = wasmtime.Engine()
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        store = wasmtime.Store(engine)
        wasi = wasmtime.WasiConfig()
        wasi.argv, wasi.env = ["python3.wasm", *argv], [("PYTHONHOME", "/usr/local"), *env.items()]
        wasi.preopen_dir(str(root), "/", fs_mutable=False)
        wasi.stdout_file = str(tmp_path / "out")
        store.set_wasi(wasi)
        try:
            start = linker.instantiate(store, load_module(engine, root / "python3.wasm")).exports(store)["_start"]
            assert isinstance(start, wasmtime.Func)
            start(store)
            code = 0
        except wasmtime.ExitTrap as exc:
            code = exc.code
    return code, (tmp_path / "out").read_text()


def test_the_wizer_step_reproduces_the_snapshot(built: dict[str, str], tmp_path: Path) -> None:
    """The stage's outputs (cached: no rebuild) hold the module before the snapshot and the Wizer
    step; re-run here -- another machine's directory, other inodes and times, another clock and
    environment -- it gives the image's python3.wasm byte for byte."""
    out = tmp_path / "outputs"
    proc = _cli("build", WASMFILE, "--target", "python", "-o", f"local:{out}", env=built)
    assert proc.returncode == 0, proc.stderr
    root = tmp_path / "elsewhere" / "root"
    (root / "usr").parent.mkdir(parents=True)
    shutil.copytree(out / "usr", root / "usr")
    shutil.copy(out / "preinit" / "python3.wasm", root / "python3.wasm")
    for path in [root, *root.rglob("*")]:
        os.utime(path, (981_173_106, 981_173_106))  # 2001-02-03
    wizer = tmp_path / "wizer"
    with tarfile.open(built["WIZER"]) as tar:  # npm's tarball: package/wizer
        handle = tar.extractfile("package/wizer")
        assert handle is not None
        wizer.write_bytes(handle.read())
    wizer.chmod(0o755)
    snapshot = tmp_path / "python3.wasm"
    ran = subprocess.run(["sh", str(out / "preinit" / "snapshot.sh"), str(wizer), str(root / "python3.wasm"),
                          str(root), str(snapshot), str(tmp_path / "wizer.log")],
                         env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TZ": "Asia/Tokyo"},
                         capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, (tmp_path / "wizer.log").read_text()[-2000:]
    assert snapshot.read_bytes() == (out / "python3.wasm").read_bytes()
    layout = Layout(built["WASMBUILD_STORE"])
    layer = layout.read_json(built["DIGEST"])["layers"][0]
    with tarfile.open(layout.blob_path(layer["digest"])) as tar:
        handle = tar.extractfile("python3.wasm")
        assert handle is not None and handle.read() == snapshot.read_bytes()  # what the image holds


@pytest.fixture(scope="module")
def extra(built: dict[str, str]) -> bytes:
    """``build --precompile`` (stages cached: only the extra is made); the code it attached."""
    t0 = time.monotonic()
    proc = _cli("build", WASMFILE, "--precompile", "--json", env=built)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["digest"] == built["DIGEST"]  # the image itself does not change
    print(f"build --precompile (stages cached): {time.monotonic() - t0:.1f} s")
    layout = Layout(built["WASMBUILD_STORE"])
    [desc] = referrers(layout, built["DIGEST"], fmt.ARTIFACT_TYPE)
    [layer] = layout.read_json(desc.digest)["layers"]
    return code_bytes(layout.read_blob(layer["digest"]))


def _first_run(env: dict[str, str]) -> tuple[float, bytes]:
    """A first `run` (of an empty compiled-module cache): (seconds, the native code it cached)."""
    t0 = time.monotonic()
    proc = _cli("run", TAG, env=env)
    seconds = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[:4] == ARTICLE
    [cached] = (Path(env["WASMBUILD_CACHE"]) / "modules").glob("*.cwasm")
    return seconds, cached.read_bytes()


def test_extra_is_used_on_a_matching_engine_and_skipped_otherwise(built: dict[str, str], extra: bytes) -> None:
    with_extra, code = _first_run(_fresh_cache(built, "cache-extra"))
    assert code == extra  # the shipped baseline code, not a compile here (native CPU flags)
    compiled, native = _first_run({**_fresh_cache(built, "cache-off"), "WASMBUILD_PRECOMPILED": "0"})
    assert native != extra
    print(f"first run on an empty cache: {with_extra:.2f} s with the extra, {compiled:.2f} s compiling")
    assert with_extra < compiled  # the compile takes seconds; loading the extra does not

    # Corrupt: the blob no longer matches its digest.
    layout = Layout(built["WASMBUILD_STORE"])
    [desc] = referrers(layout, built["DIGEST"], fmt.ARTIFACT_TYPE)
    blob = layout.blob_path(layout.read_json(desc.digest)["layers"][0]["digest"])
    original = blob.read_bytes()
    corrupt = bytearray(original)
    corrupt[len(corrupt) // 2] ^= 0xFF
    blob.chmod(0o644)
    blob.write_bytes(bytes(corrupt))
    try:
        assert _first_run(_fresh_cache(built, "cache-corrupt"))[1] != extra
    finally:
        blob.write_bytes(original)

    # Re-keyed: this "engine" claims another compatibility key, as another wasmtime would.
    env = _fresh_cache(built, "cache-rekeyed")
    memo = Path(env["WASMBUILD_CACHE"]) / "precompiled"
    memo.mkdir(parents=True)
    (memo / f"compat-{fmt.wasmtime_version()}-{fmt.host_target()}").write_text("sha256:" + "1" * 64)
    assert _first_run(env)[1] != extra
