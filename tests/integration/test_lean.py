"""Smaller images end to end: `optimize:` with the real wasm-opt, zstd layers, `wasmbuild run`."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Runner, require
from tests.integration.consumer_fixtures import Podman
from wasmbuild.assemble.compress import MEDIA_LAYER_ZSTD, diff_id_of
from wasmbuild.assemble.optimize import optimize

pytestmark = pytest.mark.integration

HELLO_RS = 'fn main() { println!("Hello Wasm"); }\n'


def _debug_hello(dest: Path) -> Path:
    """The seed article's hello.rs as a debug build (opt-level 0, DWARF): ~6.9 MB."""
    from wasmbuild.execute import toolchains

    rust = toolchains.probe("rust")
    (dest / "hello.rs").write_text(HELLO_RS)
    out = dest / "hello.wasm"
    subprocess.run([rust.env["RUSTC"], "--target", rust.env["WASM_TARGET"], "-C", "opt-level=0", "-g",
                    "-o", str(out), str(dest / "hello.rs")], check=True)
    return out


def _layers(store: Path, digest: str) -> list[dict[str, object]]:
    blobs = store / "blobs" / "sha256"
    manifest = json.loads((blobs / digest.split(":")[1]).read_text())
    config = json.loads((blobs / manifest["config"]["digest"].split(":")[1]).read_text())
    layers: list[dict[str, object]] = manifest["layers"]
    for layer, diff_id in zip(layers, config["rootfs"]["diff_ids"], strict=True):
        layer["diff_id"] = diff_id
    return layers


def test_wasm_opt_output_is_reproducible_and_still_runs(tmp_path: Path) -> None:
    require("wasm-opt")
    src = _debug_hello(tmp_path)
    outs = []
    for cores in ("1", "2"):
        os.environ["BINARYEN_CORES"] = cores
        try:
            out = tmp_path / f"opt-{cores}.wasm"
            before, after = optimize(src, out, "O2", True)
        finally:
            del os.environ["BINARYEN_CORES"]
        outs.append(hashlib.sha256(out.read_bytes()).hexdigest())
    assert outs[0] == outs[1]
    assert before > 5_000_000 and after < before // 20, (before, after)


def test_optimized_zstd_image_prints_the_same_output(wb: Runner, tmp_path: Path,
                                                     isolated_dirs: dict[str, Path]) -> None:
    require("wasm-opt")
    _debug_hello(tmp_path)
    (tmp_path / "Wasmfile").write_text(
        "wasmfile: 1\nimage:\n  files:\n"
        "    - {src: hello.wasm, dest: /plain.wasm}\n"
        "    - {src: hello.wasm, dest: /hello.wasm, optimize: {level: Oz}}\n"
        "  entrypoint: [/hello.wasm]\n  tags: [lean:opt]\n")
    shown = wb("build", str(tmp_path / "Wasmfile"))  # progress on stderr, sizes included
    assert shown.returncode == 0, shown.stderr
    assert "optimize /hello.wasm: 6," in shown.stderr and "(wasm-opt -Oz, custom sections stripped" in shown.stderr
    results = {}
    for comp in ("gzip", "zstd:3"):
        proc = wb("build", str(tmp_path / "Wasmfile"), "--json", "--compression", comp, "-t", f"lean:{comp[:4]}")
        assert proc.returncode == 0, proc.stderr
        results[comp] = json.loads(proc.stdout)["digest"]
        run = wb("run", f"lean:{comp[:4]}")
        assert (run.returncode, run.stdout) == (0, "Hello Wasm\n"), run.stderr
    [layer] = _layers(isolated_dirs["store"], results["zstd:3"])
    assert layer["mediaType"] == MEDIA_LAYER_ZSTD
    blob = isolated_dirs["store"] / "blobs" / "sha256" / str(layer["digest"]).split(":")[1]
    assert diff_id_of(blob, MEDIA_LAYER_ZSTD) == layer["diff_id"]
    # same inputs, same bytes: a second build from an empty cache gives the same digest
    again = wb("build", str(tmp_path / "Wasmfile"), "--json", "--compression", "zstd:3",
               env={"WASMBUILD_CACHE": str(tmp_path / "cache2"), "WASMBUILD_STORE": str(tmp_path / "store2")})
    assert json.loads(again.stdout)["digest"] == results["zstd:3"], again.stderr


def test_stage_optimize_applies_to_its_image_files(wb: Runner, tmp_path: Path) -> None:
    require("wasm-opt")
    (tmp_path / "hello.rs").write_text(HELLO_RS)
    (tmp_path / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  hello:\n    recipe: rust\n"
        "    with: {source: hello.rs, output: hello.wasm, opt_level: '0', strip: false}\n"
        "    optimize: O2\n"
        "image:\n  files:\n    - {from: hello, path: hello.wasm, dest: /hello.wasm}\n"
        "  entrypoint: [/hello.wasm]\n  tags: [lean:stage]\n")
    proc = wb("build", str(tmp_path / "Wasmfile"))
    assert proc.returncode == 0, proc.stderr
    assert "(wasm-opt -O2, custom sections stripped)" in proc.stderr
    proc = wb("build", str(tmp_path / "Wasmfile"), "--json")
    assert json.loads(proc.stdout)["size"] < 200_000
    run = wb("run", "lean:stage")
    assert (run.returncode, run.stdout) == (0, "Hello Wasm\n"), run.stderr


def test_bad_compression_is_a_config_error_before_building(wb: Runner, tmp_path: Path) -> None:
    (tmp_path / "Wasmfile").write_text("wasmfile: 1\nimage:\n  files:\n    - {src: a.wasm, dest: /a.wasm}\n"
                                       "  entrypoint: [/a.wasm]\n")
    proc = wb("build", str(tmp_path / "Wasmfile"), "--compression", "zstd:25")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: --compression: zstd level 25 is out of range (zstd levels are 1 to 19)")


def test_zstd_layers_are_read_by_real_peers(wb: Runner, tmp_path: Path, podman: Podman) -> None:
    """Not only our own reader: the zstd CLI decompresses the layer to the diff_id the config
    states, skopeo copies the image, and podman pulls it and runs it through crun."""
    golden = Path(__file__).resolve().parents[1] / "fixtures" / "golden" / "hello.wasm"
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "hello.wasm").write_bytes(golden.read_bytes())
    (tmp_path / "ctx" / "Wasmfile").write_text(
        "wasmfile: 1\nimage:\n  files: [{src: hello.wasm, dest: /hello.wasm}]\n  entrypoint: [/hello.wasm]\n")
    layout = tmp_path / "oci"
    built = wb("build", str(tmp_path / "ctx"), "--compression", "zstd", "--no-sbom", "-o", f"oci:{layout}:latest",
               "--json")
    assert built.returncode == 0, built.stderr
    digest = json.loads(built.stdout)["digest"]
    manifest = json.loads((layout / "blobs" / "sha256" / digest[7:]).read_bytes())
    config = json.loads((layout / "blobs" / "sha256" / manifest["config"]["digest"][7:]).read_bytes())
    [layer] = manifest["layers"]
    assert layer["mediaType"] == MEDIA_LAYER_ZSTD
    plain = subprocess.run([require("zstd"), "-d", "-c", str(layout / "blobs" / "sha256" / layer["digest"][7:])],
                           capture_output=True, check=True).stdout
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(plain).hexdigest()]
    copied = subprocess.run([require("skopeo"), "copy", "-q", f"oci:{layout}:latest", f"oci:{tmp_path / 'copy'}:1"],
                            capture_output=True, text=True)
    assert copied.returncode == 0, copied.stderr
    ran = podman.run_layout(layout)
    assert (ran.returncode, ran.stdout) == (0, "Hello Wasm\n"), ran.stderr
