"""The core issue end to end, on the real host toolchains, wasmtime, skopeo and umoci."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.conftest import REPO, Runner, copy_example, require

pytestmark = pytest.mark.integration

# The manifest digest of Wasmfile.example built with Debian 12's rustc 1.63 and clang 16
# (SOURCE_DATE_EPOCH unset), layer gzip:6 from the pinned zlib-ng wheel. A change here means the
# image bytes changed: make sure it is meant.
GOLDEN_DIGEST = "sha256:cfe76b015ad5c5d0ee0eb9d6cbce4ae56a4636784bfe309663d955ed55ed175f"


def test_readme_main_command_prints_hello_wasm() -> None:
    out = subprocess.run(
        [str(REPO / "scripts" / "demo")],
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(os.environ),
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "Hello Wasm"


def _build_copy(wb: Runner, root: Path, umask: int, env: dict[str, str]) -> str:
    old = os.umask(umask)
    try:
        wasmfile = copy_example(root)
    finally:
        os.umask(old)
    for i, path in enumerate(sorted(root.rglob("*"))):
        os.utime(path, (1_000_000 + i * 7919 * umask, 1_000_000 + i * 7919 * umask))
    proc = wb(
        "build",
        str(wasmfile),
        "--output",
        f"oci:{root / 'out'}:latest",
        "--json",
        cwd=root,
        env={"WASMBUILD_CACHE": str(root / "cache"), "WASMBUILD_STORE": str(root / "store"), **env},
    )
    assert proc.returncode == 0, proc.stderr
    return str(json.loads(proc.stdout)["digest"])


def test_reproducible_across_copies_umask_mtime_and_clock(wb: Runner, tmp_path: Path) -> None:
    require("faketime")
    first = _build_copy(wb, tmp_path / "a", 0o022, {})
    # The second build runs under another wall clock (libfaketime, as the `faketime` tool does).
    libfaketime = next(str(p) for p in Path("/usr/lib").rglob("libfaketime.so.1") if p.is_file())
    clock = {"LD_PRELOAD": libfaketime, "FAKETIME": "@2031-05-05 12:00:00"}
    probe = subprocess.run(
        ["date", "+%Y"], env={**os.environ, **clock}, capture_output=True, text=True, check=True
    )
    assert probe.stdout.strip() == "2031"
    second = _build_copy(wb, tmp_path / "b", 0o077, clock)
    assert first == second
    assert first == GOLDEN_DIGEST


def test_skopeo_and_umoci_read_the_oci_output(wb: Runner, tmp_path: Path) -> None:
    skopeo, umoci = require("skopeo"), require("umoci")
    wasmfile = copy_example(tmp_path / "src")
    layout = tmp_path / "layout"
    proc = wb("build", str(wasmfile), "--output", f"oci:{layout}:v1", "--json")
    assert proc.returncode == 0, proc.stderr
    digest = json.loads(proc.stdout)["digest"]

    raw = subprocess.run(
        [skopeo, "inspect", "--raw", f"oci:{layout}:v1"], capture_output=True, check=True
    ).stdout
    import hashlib

    assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest
    manifest = json.loads(raw)
    assert manifest["annotations"]["module.wasm.image/variant"] == "compat"
    config = json.loads(
        subprocess.run(
            [skopeo, "inspect", "--config", f"oci:{layout}:v1"], capture_output=True, check=True
        ).stdout
    )
    assert (config["os"], config["architecture"]) == ("wasi", "wasm32")
    assert config["config"]["Entrypoint"] == ["hello.wasm"]

    # `umoci unpack` also writes a Linux runtime config.json and refuses os "wasi"
    # ("unsupported OS: wasi"); `umoci raw unpack` unpacks the root filesystem only.
    rootfs = tmp_path / "rootfs"
    subprocess.run(
        [umoci, "raw", "unpack", "--rootless", "--image", f"{layout}:v1", str(rootfs)],
        check=True,
        capture_output=True,
    )
    files = sorted(str(p.relative_to(rootfs)) for p in rootfs.rglob("*"))
    assert files == ["bin", "bin/env.wasm", "hello.wasm"]
    assert (rootfs / "hello.wasm").read_bytes()[:4] == b"\0asm"


ENV_WASMFILE = """\
wasmfile: 1
stages:
  env:
    recipe: c
    with: {sources: [hello.c], output: env.wasm}
image:
  files:
    - {from: env, path: env.wasm, dest: /env.wasm}
    - {src: note.txt, dest: /etc/note.txt}
  entrypoint: [env.wasm]
  env: {ONLY_THIS: "1", GREETING: hi}
  tags: [envtest]
"""


def test_run_shows_only_the_image_env(wb: Runner, tmp_path: Path) -> None:
    shutil.copy(REPO / "examples" / "hello-c" / "hello.c", tmp_path / "hello.c")
    (tmp_path / "note.txt").write_text("note\n")
    (tmp_path / "Wasmfile").write_text(ENV_WASMFILE)
    assert wb("build", str(tmp_path / "Wasmfile")).returncode == 0
    leaky = {"HOST_SECRET": "s3cr3t", "HOME": "/root", "HOSTNAME": "host"}
    proc = wb("run", "envtest", env=leaky)
    assert proc.returncode == 0, proc.stderr
    env_lines = sorted(line for line in proc.stdout.splitlines() if line.startswith("env "))
    assert env_lines == ["env GREETING=hi", "env ONLY_THIS=1"]
    files = sorted(line for line in proc.stdout.splitlines() if line.startswith("file "))
    assert files == ["file /env.wasm", "file /etc"]
    extra = wb("run", "-e", "EXTRA=yes", "envtest", "--", "7", env=leaky)
    assert extra.returncode == 7  # the module's exit code is the command's
    assert "env EXTRA=yes" in extra.stdout and "s3cr3t" not in extra.stdout


def _store_state(store: Path) -> tuple[str, list[str]]:
    """(tagged manifests as text, leftover temp files) of the store."""
    index = store / "index.json"
    manifests = json.loads(index.read_text())["manifests"] if index.exists() else []
    temps = sorted(p.name for p in store.rglob("*tmp*")) if store.exists() else []
    return json.dumps(manifests), temps


def _assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ")
    for n in needles:
        assert n in last, (n, last)
    return last


def test_entrypoint_that_is_not_wasm(
    wb: Runner, tmp_path: Path, isolated_dirs: dict[str, Path]
) -> None:
    (tmp_path / "fake.wasm").write_text("#!/bin/sh\necho not wasm\n")
    (tmp_path / "Wasmfile").write_text(
        "wasmfile: 1\nimage:\n  files: [{src: fake.wasm, dest: /fake.wasm}]\n"
        "  entrypoint: [fake.wasm]\n"
    )
    before = _store_state(isolated_dirs["store"])
    proc = wb("build", str(tmp_path / "Wasmfile"))
    _assert_one_line_error(proc, "not a WebAssembly module", "Wasmfile:4")
    assert _store_state(isolated_dirs["store"]) == before == ("[]", [])


def test_invalid_wasm_module(wb: Runner, tmp_path: Path) -> None:
    (tmp_path / "bad.wasm").write_bytes(b"\0asm\1\0\0\0\x99garbage")
    (tmp_path / "Wasmfile").write_text(
        "wasmfile: 1\nimage:\n  files: [{src: bad.wasm, dest: /bad.wasm}]\n  entrypoint: [bad.wasm]\n"
    )
    _assert_one_line_error(
        wb("build", str(tmp_path / "Wasmfile")), "not a valid WebAssembly module"
    )


def test_compile_error_shows_compiler_output(
    wb: Runner, tmp_path: Path, isolated_dirs: dict[str, Path]
) -> None:
    (tmp_path / "hello.rs").write_text('fn main() { let x: u32 = "nope"; }\n')
    (tmp_path / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  app:\n    recipe: rust\n    with: {source: hello.rs}\n"
        "image:\n  files: [{from: app, path: app.wasm, dest: /app.wasm}]\n  entrypoint: [app.wasm]\n"
        "  tags: [broken]\n"
    )
    proc = wb("build", str(tmp_path / "Wasmfile"))
    _assert_one_line_error(proc, "stage 'app'", "exited with code 1", "Wasmfile:3")
    assert "mismatched types" in proc.stderr  # rustc's own diagnostic is shown
    assert "broken:latest" not in _store_state(isolated_dirs["store"])[0]


def test_missing_toolchain_says_what_to_install(wb: Runner, tmp_path: Path) -> None:
    fakebin = tmp_path / "bin"
    fakebin.mkdir()
    (fakebin / "rustc").write_text(f"#!/bin/sh\necho {tmp_path}/sysroot\n")
    (fakebin / "rustc").chmod(0o755)
    (tmp_path / "hello.rs").write_text("fn main() {}\n")
    (tmp_path / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  app:\n    recipe: rust\n    with: {source: hello.rs}\n"
        "image:\n  files: [{from: app, path: app.wasm, dest: /app.wasm}]\n  entrypoint: [app.wasm]\n"
    )
    proc = wb(
        "build",
        str(tmp_path / "Wasmfile"),
        env={"PATH": str(fakebin), "WASMBUILD_TOOLCHAIN_DIRS": ""},
    )
    _assert_one_line_error(
        proc,
        "no Rust compiler with a WebAssembly standard library",
        "apt-get install rustc",
        str(fakebin / "rustc"),
    )


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("wasmfile: 1\nimage: {files: [}\n", "invalid YAML"),
        (
            "wasmfile: 1\nimage:\n  files: []\n  entrypoint: [a.wasm]\n  bogus: 1\n",
            "unknown key 'bogus'",
        ),
        ("wasmfile: 1\nimage:\n  files: [{src: ../x, dest: /x}]\n  entrypoint: [x]\n", "escapes"),
    ],
)
def test_bad_wasmfile_cli(wb: Runner, tmp_path: Path, text: str, needle: str) -> None:
    (tmp_path / "Wasmfile").write_text(text)
    _assert_one_line_error(wb("build", str(tmp_path / "Wasmfile")), needle, "Wasmfile:")
    check = wb("check", str(tmp_path / "Wasmfile"))
    assert check.returncode == 2 and f"error: {tmp_path / 'Wasmfile'}:" in check.stderr
    assert needle in check.stderr


def test_unknown_output_fails_before_building(wb: Runner, tmp_path: Path) -> None:
    wasmfile = copy_example(tmp_path / "src")
    proc = wb("build", str(wasmfile), "-o", "zip:out.zip")
    _assert_one_line_error(proc, "unknown output 'zip:out.zip'")
    assert "==> stage" not in proc.stderr  # rejected before any stage ran


def test_plan_json(wb: Runner) -> None:
    proc = wb("plan", "Wasmfile.example", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert sorted(s["name"] for s in data["stages"]) == ["env-c", "hello"]
    assert data["levels"] == [["hello", "env-c"]] or data["levels"] == [["env-c", "hello"]]


def test_rootfs_of_run_is_read_only(wb: Runner, tmp_path: Path) -> None:
    (tmp_path / "w.c").write_text(
        '#include <stdio.h>\nint main(void){FILE*f=fopen("/new.txt","w");'
        'puts(f?"writable":"read-only");return 0;}\n'
    )
    (tmp_path / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  w:\n    recipe: c\n    with: {sources: [w.c], output: w.wasm}\n"
        "image:\n  files: [{from: w, path: w.wasm, dest: /w.wasm}]\n  entrypoint: [w.wasm]\n"
        "  tags: [ro]\n"
    )
    assert wb("build", str(tmp_path / "Wasmfile")).returncode == 0
    proc = wb("run", "ro")
    assert proc.stdout.strip() == "read-only"


def test_layer_tar_is_listed_by_python_tarfile(tmp_path: Path, wb: Runner) -> None:
    wasmfile = copy_example(tmp_path / "src")
    assert wb("build", str(wasmfile), "-o", f"oci:{tmp_path / 'o'}").returncode == 0
    index = json.loads((tmp_path / "o" / "index.json").read_text())
    manifest = json.loads(
        (
            tmp_path / "o" / "blobs" / "sha256" / index["manifests"][0]["digest"].split(":")[1]
        ).read_text()
    )
    layer = tmp_path / "o" / "blobs" / "sha256" / manifest["layers"][0]["digest"].split(":")[1]
    with tarfile.open(layer) as tar:
        assert sorted(tar.getnames()) == ["bin", "bin/env.wasm", "hello.wasm"]


def test_empty_source_date_epoch_means_unset(wb: Runner, tmp_path: Path) -> None:
    # clang refuses SOURCE_DATE_EPOCH="" itself; the toolchain probe must not be fooled by it.
    wasmfile = copy_example(tmp_path / "src")
    proc = wb("build", str(wasmfile), "--json", env={"SOURCE_DATE_EPOCH": ""})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["digest"] == GOLDEN_DIGEST
