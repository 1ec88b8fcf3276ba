"""recipes/cpython-wasi end to end: Debian's CPython tarball -> python-wasi builder (network off)
-> python3.wasm + stdlib zip -> the article's main.py under wasmtime. Takes ~2-4 minutes."""

from __future__ import annotations

import ast
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.engine_fixtures import ROOT, docker_engine, missing, stage_containers
from wasmbuild.executors.container import ensure_builder, run_stage

pytestmark = pytest.mark.integration
__all__ = ["docker_engine"]

SOURCES = Path(os.environ.get("WASMBUILD_SOURCES", "/var/tmp/wasmbuild-src"))
# python.org's Python-3.11.2.tgz; Debian's python3.11_3.11.2.orig.tar.gz is the same file.
CPYTHON_SHA256 = "2411c74bda5bbcfcddaf4531f66d1adc73f247f529aee981b029513aefdbf849"


def _fetch() -> Path:
    if shutil.which("apt-get") is None:
        missing("apt-get is needed to fetch the CPython source from the Debian mirror")
    done = subprocess.run([str(ROOT / "scripts/fetch-cpython-source"), str(SOURCES), "python3.11"],
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        missing(f"scripts/fetch-cpython-source failed: {done.stderr.strip()[-300:]}")
    path_text, sha = done.stdout.split()[:2]
    assert sha == CPYTHON_SHA256
    return Path(path_text)


def _run_wasm(rootfs: Path, stdout: Path) -> int:
    import wasmtime

    engine = wasmtime.Engine()
    module = wasmtime.Module.from_file(engine, str(rootfs / "python3.wasm"))
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    wasi = wasmtime.WasiConfig()
    wasi.argv = ["python3.wasm", "main.py"]
    wasi.env = [("PYTHONHOME", "/usr/local")]
    wasi.preopen_dir(str(rootfs), "/")
    wasi.stdout_file = str(stdout)
    store = wasmtime.Store(engine)
    store.set_wasi(wasi)
    start = linker.instantiate(store, module).exports(store)["_start"]
    assert isinstance(start, wasmtime.Func)
    try:
        start(store)
    except wasmtime.ExitTrap as trap:
        return trap.code
    return 0


def test_cpython_wasi_builds_offline_and_runs_main_py(docker_engine: str, tmp_path: Path) -> None:
    tarball = _fetch()
    src, out, rootfs = tmp_path / "src", tmp_path / "out", tmp_path / "rootfs"
    src.mkdir()
    shutil.copy(tarball, src)
    shutil.copy(ROOT / "recipes/cpython-wasi/build.sh", src)

    image = ensure_builder("python-wasi")
    lines: list[str] = []
    run_stage(image, ['sh "$SRC/build.sh"'],
              {"PY_VERSION": "3.11.2", "WITH_ZLIB": "0", "SOURCE_DATE_EPOCH": "1676246400"},
              src, out, network=False, log=lines.append)
    assert stage_containers(docker_engine) == []

    wasm, stdlib = out / "python3.wasm", out / "usr/local/lib/python311.zip"
    assert wasm.read_bytes()[:4] == b"\0asm"
    assert 4_000_000 < wasm.stat().st_size < 12_000_000  # stripped: ~6.9 MB
    assert stdlib.stat().st_size > 5_000_000  # stored (no zlib): ~10.6 MB
    assert hashlib.sha256(stdlib.read_bytes()).hexdigest()

    (rootfs / "usr/local/lib").mkdir(parents=True)
    shutil.copy(wasm, rootfs)
    shutil.copy(stdlib, rootfs / "usr/local/lib")
    shutil.copy(ROOT / "recipes/cpython-wasi/example/main.py", rootfs)
    stdout = tmp_path / "stdout"
    assert _run_wasm(rootfs, stdout) == 0
    text = stdout.read_text().splitlines()
    assert text[:4] == ["PYTHONHOME=/usr/local", "------", "Hello World", "------"]
    assert sorted(ast.literal_eval(text[4])) == ["main.py", "python3.wasm", "usr"]
