"""Stage cache entries exported to / imported from a local OCI layout (the --cache-to/from core)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wasmbuild.cache.artifact import (
    KEY_ANNOTATION,
    OUTPUTS_MEDIA,
    STAGE_CACHE_ARTIFACT,
    export_to_layout,
    import_from_layout,
)
from wasmbuild.cache.stages import StageCache
from wasmbuild.errors import WasmbuildError
from wasmbuild.oci import MEDIA_INDEX
from wasmbuild.oci.layout import Layout

KEYS = ["1" * 64, "2" * 64, "3" * 64]


def _filled(tmp: Path) -> StageCache:
    cache = StageCache(tmp / "src-cache")
    for i, key in enumerate(KEYS):
        out = tmp / f"out{i}"
        out.mkdir()
        (out / "module.wasm").write_bytes(b"\0asm" + bytes([i]) * 100)
        cache.store(key, f"stage{i}", out)
    return cache


def test_round_trip_through_a_layout(tmp_path: Path) -> None:
    src = _filled(tmp_path)
    layout = Layout(tmp_path / "layout")
    desc = export_to_layout(src, [*KEYS, "f" * 64], layout)  # an unknown key is left out
    layout.tag("cache", desc)

    index = layout.read_json(desc.digest)
    assert desc.media_type == MEDIA_INDEX and index["artifactType"] == STAGE_CACHE_ARTIFACT
    assert sorted(m["annotations"][KEY_ANNOTATION] for m in index["manifests"]) == KEYS
    for m in index["manifests"]:
        manifest = layout.read_json(m["digest"])
        assert manifest["layers"][0]["mediaType"] == OUTPUTS_MEDIA
        assert layout.has_blob(manifest["config"]["digest"])
    assert layout.referenced() >= {desc.digest}  # every blob reachable: gc keeps it all
    assert layout.gc() == 0

    dest = StageCache(tmp_path / "dest-cache")
    assert sorted(import_from_layout(layout, layout.resolve("cache"), dest)) == KEYS
    for i, key in enumerate(KEYS):
        assert dest.restore(key, tmp_path / f"r{i}")
        assert (tmp_path / f"r{i}" / "module.wasm").read_bytes() == b"\0asm" + bytes([i]) * 100
    assert [e.stage for e in sorted(dest.entries(), key=lambda e: e.key)] == [
        "stage0", "stage1", "stage2"]
    assert import_from_layout(layout, desc, dest) == []  # already there: nothing to do


def test_export_is_deterministic_and_deduplicates(tmp_path: Path) -> None:
    src = _filled(tmp_path)
    a = export_to_layout(src, KEYS, Layout(tmp_path / "a"))
    b = export_to_layout(src, list(reversed(KEYS)) + KEYS, Layout(tmp_path / "b"))
    assert a.digest == b.digest


def test_corrupt_entries_are_neither_exported_nor_imported(tmp_path: Path) -> None:
    src = _filled(tmp_path)
    tar = src.root / KEYS[0] / "outputs.tar"
    tar.write_bytes(tar.read_bytes()[:-10])
    layout = Layout(tmp_path / "layout")
    desc = export_to_layout(src, KEYS, layout)
    assert len(layout.read_json(desc.digest)["manifests"]) == 2

    # a blob damaged in transit: skipped on import, the stage simply rebuilds
    index = layout.read_json(desc.digest)
    manifest = layout.read_json(index["manifests"][0]["digest"])
    blob = layout.blob_path(manifest["layers"][0]["digest"])
    blob.chmod(0o644)
    blob.write_bytes(b"tampered")
    dest = StageCache(tmp_path / "dest")
    imported = import_from_layout(layout, desc, dest)
    assert imported == [index["manifests"][1]["annotations"][KEY_ANNOTATION]]
    assert [p.name for p in dest.root.iterdir() if p.name.startswith(".tmp")] == []


def test_hostile_keys_cannot_pick_paths(tmp_path: Path) -> None:
    src = _filled(tmp_path)
    layout = Layout(tmp_path / "layout")
    desc = export_to_layout(src, KEYS[:1], layout)
    index = layout.read_json(desc.digest)
    index["manifests"][0]["annotations"][KEY_ANNOTATION] = "../../escape"
    evil = layout.write_json(index, MEDIA_INDEX)
    dest = StageCache(tmp_path / "dest" / "c")
    assert import_from_layout(layout, evil, dest) == []
    assert not (tmp_path / "dest" / "escape").exists()


def test_importing_something_else_is_a_clear_error(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "layout").init()
    other = layout.write_json({"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": []},
                              MEDIA_INDEX)
    with pytest.raises(WasmbuildError, match="not a wasmbuild stage cache"):
        import_from_layout(layout, other, StageCache(tmp_path / "c"))
    assert json.loads((layout.path / "index.json").read_text())["manifests"] == []
