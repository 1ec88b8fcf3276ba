"""`wasmbuild gc` and `cache prune`: the store and every cache area stay bounded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import Runner
from wasmbuild.oci.graph import walk
from wasmbuild.oci.layout import Layout

pytestmark = pytest.mark.integration

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"

WASMFILE = """\
wasmfile: 1
stages:
  copy:
    inputs: [hello.wasm, data.txt]
    steps: ['cp "$SRC/hello.wasm" "$SRC/data.txt" "$OUT/"']
    outputs: [hello.wasm, data.txt]
image:
  files:
    - {from: copy, path: hello.wasm, dest: /hello.wasm}
    - {from: copy, path: data.txt, dest: /data.txt}
  entrypoint: [hello.wasm]
  tags: [maint:latest]
"""


def _project(root: Path) -> Path:
    root.mkdir(parents=True)
    shutil.copy(GOLDEN / "hello.wasm", root / "hello.wasm")
    (root / "Wasmfile").write_text(WASMFILE)
    return root


def test_gc_after_ten_builds_keeps_only_referenced_blobs(wb: Runner, tmp_path: Path,
                                                         isolated_dirs: dict[str, Path]) -> None:
    project = _project(tmp_path / "p")
    for i in range(10):
        (project / "data.txt").write_text(f"build {i}\n" * (i + 1))
        wb("build", str(project), check=True)
    store = Layout(isolated_dirs["store"])
    blobs = {p.name for p in (store.path / "blobs" / "sha256").iterdir()}
    assert len(blobs) >= 3 * 10 - 2  # each build left its own layer, config and manifest
    out = wb("gc", "--json", check=True)
    result = json.loads(out.stdout)
    left = {p.name for p in (store.path / "blobs" / "sha256").iterdir()}
    assert left == {d.split(":", 1)[1] for d in store.referenced()}
    # What is left: one image (manifest, config, layer) and its SBOM and provenance (listed under
    # the fallback tag sha256-<hex>); the nine other images and their documents are gone.
    names = sorted(store.tags())
    image = store.resolve("maint:latest")
    assert names == ["maint:latest", "sha256-" + image.digest.split(":", 1)[1]]
    image_blobs = {d.digest.split(":", 1)[1] for d in walk(image, store.read_json)}
    assert len(image_blobs) == 3 and image_blobs < left
    assert len(left) <= 3 * 3  # plus two documents: each a manifest and a layer, one empty config
    assert result["freed"] > 0 and result["after"] < result["before"]
    assert wb("run", "maint:latest", check=True).stdout == "Hello Wasm\n"  # still runs
    assert json.loads(wb("gc", "--json", check=True).stdout)["freed"] == 0


def test_cache_prune_bounds_every_area(wb: Runner, tmp_path: Path,
                                       isolated_dirs: dict[str, Path]) -> None:
    project = _project(tmp_path / "p")
    for i in range(3):
        (project / "data.txt").write_text(f"version {i}\n" * 5000)
        wb("build", str(project), check=True)
        wb("run", "maint:latest", check=True)
    big = tmp_path / "source.tar"
    big.write_bytes(b"x" * 300_000)
    wb("fetch", "--add", str(big), check=True)
    before = json.loads(wb("cache", "ls", "--json", check=True).stdout)["areas"]
    for area in ("stages", "downloads", "layers", "rootfs", "modules"):  # (no toolchain used)
        assert before[area] > 0, area
    assert list((isolated_dirs["cache"] / "wasm-valid").iterdir())  # markers: files of 0 bytes
    bound = 4096
    result = json.loads(wb("cache", "prune", "--max-size", str(bound), "--json", check=True).stdout)
    assert result["after"] <= bound
    assert all(size <= bound for size in result["areas"].values()), result["areas"]
    assert result["removed"] > 0 and result["freed"] >= result["before"] - bound - 1
    assert not list((isolated_dirs["cache"] / "wasm-valid").iterdir())  # oldest first: gone too
    # The cache is a cache: the next build and run work, from scratch where needed.
    wb("build", str(project), check=True)
    assert wb("run", "maint:latest", check=True).stdout == "Hello Wasm\n"
