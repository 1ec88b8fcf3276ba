"""Incremental assembly: an unchanged layer is taken from the layout, not compressed again."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from wasmbuild.assemble import layer as layer_mod
from wasmbuild.assemble.layer import LayerMemo, cached_layer, collect, layer_key
from wasmbuild.oci.layout import Layout


def _entries(tmp: Path, content: bytes = b"\0asm\1\0\0\0") -> list[layer_mod.Entry]:
    (tmp / "app.wasm").write_bytes(content)
    (tmp / "lib").mkdir(exist_ok=True)
    (tmp / "lib" / "a.py").write_text("print(1)\n")
    return collect([("/app.wasm", tmp / "app.wasm", None), ("/usr/lib", tmp / "lib", None)])


def test_second_assembly_does_not_compress(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "store").init()
    memo = LayerMemo(tmp_path / "memo")
    first = cached_layer(_entries(tmp_path), 0, layout, memo)
    blob = layout.blob_path(first[0].digest)
    written = blob.stat().st_mtime_ns
    second = cached_layer(_entries(tmp_path), 0, layout, memo)
    assert (first[2], second[2]) == (False, True)  # the second one is the memo's
    assert blob.stat().st_mtime_ns == written  # and nothing was written again
    assert first[:2] == second[:2]
    assert second[3]["app.wasm"] == layer_key(_entries(tmp_path), 0)[1]["app.wasm"]


@pytest.mark.parametrize("change", ["content", "mode", "epoch", "blob-gone", "other-layout"])
def test_any_change_compresses_again(tmp_path: Path, change: str) -> None:
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
    assert again[2] is False  # compressed, not taken from the memo
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


def test_gc_waits_for_writers_and_then_takes_untagged_layers(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "store").init()
    memo = LayerMemo(tmp_path / "memo")
    desc, _, _, _ = cached_layer(_entries(tmp_path), 0, layout, memo)
    blob = layout.blob_path(desc.digest)
    with layout.writing():  # a build between its first blob and its tag
        fd = os.open(layout.path / ".wasmbuild.gc", os.O_RDONLY)
        try:
            # what gc() asks for: it would wait here
            with pytest.raises(BlockingIOError, match="Resource temporarily unavailable"):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    assert blob.exists()
    assert layout.gc() > 0 and not blob.exists()  # no writer, no tag: garbage
    again = cached_layer(_entries(tmp_path), 0, layout, memo)
    assert again[2] is False and layout.blob_path(again[0].digest).exists()  # memo noticed


def test_gc_says_it_waits_only_when_a_writer_holds_the_store(tmp_path: Path) -> None:
    import threading

    layout = Layout(tmp_path / "store").init()
    waits: list[str] = []
    layout.gc(on_wait=lambda: waits.append("free?"))
    assert waits == []  # nobody writing: no "waiting" line
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with layout.writing():
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    assert holding.wait(10)
    def on_wait() -> None:
        waits.append("waiting")
        release.set()  # the writer finishes once gc has said it waits

    layout.gc(on_wait=on_wait)
    thread.join(10)
    assert waits == ["waiting"]
