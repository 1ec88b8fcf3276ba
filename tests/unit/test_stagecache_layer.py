"""Incremental assembly: an unchanged layer is taken from the layout, not compressed again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wasmbuild.oci import layer as layer_mod
from wasmbuild.oci.layer import LayerMemo, cached_layer, collect, layer_key, write_layer
from wasmbuild.oci.layout import Layout


def _entries(tmp: Path, content: bytes = b"\0asm\1\0\0\0") -> list[layer_mod.Entry]:
    (tmp / "app.wasm").write_bytes(content)
    (tmp / "lib").mkdir(exist_ok=True)
    (tmp / "lib" / "a.py").write_text("print(1)\n")
    return collect([("/app.wasm", tmp / "app.wasm", None), ("/usr/lib", tmp / "lib", None)])


class _Counter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args: object, **kwargs: object) -> object:
        self.calls += 1
        return write_layer(*args, **kwargs)  # type: ignore[arg-type]


def test_second_assembly_does_not_compress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = _Counter()
    monkeypatch.setattr(layer_mod, "write_layer", counter)
    layout = Layout(tmp_path / "store").init()
    memo = LayerMemo(tmp_path / "memo")
    first = cached_layer(_entries(tmp_path), 0, layout, memo)
    second = cached_layer(_entries(tmp_path), 0, layout, memo)
    assert counter.calls == 1
    assert (first[2], second[2]) == (False, True)
    assert first[:2] == second[:2]
    assert second[3]["app.wasm"] == layer_key(_entries(tmp_path), 0)[1]["app.wasm"]


@pytest.mark.parametrize("change", ["content", "mode", "epoch", "blob-gone", "other-layout"])
def test_any_change_compresses_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     change: str) -> None:
    counter = _Counter()
    monkeypatch.setattr(layer_mod, "write_layer", counter)
    layout = Layout(tmp_path / "store").init()
    memo = LayerMemo(tmp_path / "memo")
    desc, _, _, _ = cached_layer(_entries(tmp_path), 0, layout, memo)
    epoch = 0
    entries = _entries(tmp_path)
    if change == "content":
        entries = _entries(tmp_path, b"\0asm\1\0\0\0\0")
    elif change == "mode":
        (tmp_path / "app.wasm").chmod(0o755)
        entries = collect([("/app.wasm", tmp_path / "app.wasm", None),
                           ("/usr/lib", tmp_path / "lib", None)])
    elif change == "epoch":
        epoch = 1
    elif change == "blob-gone":
        layout.blob_path(desc.digest).unlink()
    else:
        layout = Layout(tmp_path / "other").init()
    again = cached_layer(entries, epoch, layout, memo)
    assert counter.calls == 2 and again[2] is False
    assert layout.has_blob(again[0].digest)
    if change in ("blob-gone", "other-layout"):
        assert again[0].digest == desc.digest  # same bytes as before, written anew


def test_memo_entry_garbage_is_ignored(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "store").init()
    memo = LayerMemo(tmp_path / "memo")
    entries = _entries(tmp_path)
    first = cached_layer(entries, 0, layout, memo)
    key, _ = layer_key(entries, 0)
    (tmp_path / "memo" / f"{key}.json").write_text("{garbage")
    again = cached_layer(entries, 0, layout, memo)
    assert again[2] is False and again[0] == first[0]


def test_a_reused_layer_survives_a_gc_with_min_age(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "store").init()
    memo = LayerMemo(tmp_path / "memo")
    desc, _, _, _ = cached_layer(_entries(tmp_path), 0, layout, memo)
    blob = layout.blob_path(desc.digest)
    blob.chmod(0o644)
    os.utime(blob, (1, 1))  # an old, unreferenced (untagged) layer
    assert cached_layer(_entries(tmp_path), 0, layout, memo)[2] is True  # reused: touched
    assert layout.gc(min_age=3600) == 0 and blob.exists()
    assert layout.gc() > 0 and not blob.exists()
