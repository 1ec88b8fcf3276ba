"""The stage cache on its own: keys, store/restore, corruption, pruning, locks, size parsing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from filelock import FileLock

from wasmbuild.errors import ConfigError
from wasmbuild.stagecache import StageCache, parse_size, stage_key

KEY_A = "a" * 64
KEY_B = "b" * 64


def _outputs(tmp: Path, name: str, text: str) -> Path:
    out = tmp / name
    (out / "sub").mkdir(parents=True)
    (out / "x.txt").write_text(text)
    (out / "sub" / "run.sh").write_text("#!/bin/sh\n")
    (out / "sub" / "run.sh").chmod(0o755)
    (out / "link").symlink_to("x.txt")
    return out


def test_key_depends_on_every_field_and_not_on_order() -> None:
    base = {"steps": ["a"], "env": {"X": "1", "Y": "2"}, "inputs": [["f", "d1"]]}
    assert stage_key(base) == stage_key({"inputs": [["f", "d1"]], "env": {"Y": "2", "X": "1"},
                                         "steps": ["a"]})
    assert stage_key(base) != stage_key({**base, "inputs": [["f", "d2"]]})
    assert stage_key(base) != stage_key({**base, "steps": ["b"]})


def test_store_then_restore_round_trips_content_modes_and_links(tmp_path: Path) -> None:
    cache = StageCache(tmp_path / "cache")
    cache.store(KEY_A, "s", _outputs(tmp_path, "out", "hello"))
    dest = tmp_path / "restored"
    assert cache.restore(KEY_A, dest)
    assert (dest / "x.txt").read_text() == "hello"
    assert os.access(dest / "sub" / "run.sh", os.X_OK)
    assert os.readlink(dest / "link") == "x.txt"
    assert not cache.restore(KEY_B, tmp_path / "miss")


@pytest.mark.parametrize("damage", ["truncate", "flip", "meta", "no-tar"])
def test_damaged_entry_is_a_miss_and_is_removed(tmp_path: Path, damage: str) -> None:
    cache = StageCache(tmp_path / "cache")
    cache.store(KEY_A, "s", _outputs(tmp_path, "out", "hello" * 1000))
    entry = cache.root / KEY_A
    tar = entry / "outputs.tar"
    if damage == "truncate":
        os.truncate(tar, tar.stat().st_size // 2)
    elif damage == "flip":
        data = bytearray(tar.read_bytes())
        data[600] ^= 0xFF
        tar.write_bytes(bytes(data))
    elif damage == "meta":
        (entry / "meta.json").write_text("{not json")
    else:
        tar.unlink()
    assert not cache.restore(KEY_A, tmp_path / "restored")
    assert not entry.exists()
    cache.store(KEY_A, "s", _outputs(tmp_path, "out2", "again"))  # and it can be written again
    assert cache.restore(KEY_A, tmp_path / "restored2")


def test_second_store_of_a_key_keeps_the_first(tmp_path: Path) -> None:
    cache = StageCache(tmp_path / "cache")
    cache.store(KEY_A, "s", _outputs(tmp_path, "o1", "first"))
    cache.store(KEY_A, "s", _outputs(tmp_path, "o2", "second"))
    assert cache.restore(KEY_A, tmp_path / "r")
    assert (tmp_path / "r" / "x.txt").read_text() == "first"
    assert [p.name for p in cache.root.iterdir() if p.name.startswith(".tmp")] == []


def test_prune_is_lru_and_skips_locked_entries(tmp_path: Path) -> None:
    cache = StageCache(tmp_path / "cache")
    keys = [c * 64 for c in "abcd"]
    for i, key in enumerate(keys):
        cache.store(key, f"s{i}", _outputs(tmp_path, f"o{i}", str(i) * 5000))
        os.utime(cache.root / key / "meta.json", (1000 + i, 1000 + i))
    cache.restore(keys[0], tmp_path / "r0")  # a is now the most recently used
    one = cache.entries()[0].size
    removed, freed = cache.prune(2 * one)
    assert removed == 2 and freed >= one
    assert sorted(e.key for e in cache.entries()) == sorted([keys[0], keys[3]])
    with FileLock(str(cache.root / ".locks" / f"{keys[3]}.lock")):
        cache.prune(0)
        assert [e.key for e in cache.entries()] == [keys[3]]  # held by a "build": kept
    assert cache.prune(0)[0] == 1 and cache.entries() == []


def test_auto_prune_follows_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = StageCache(tmp_path / "cache")
    cache.store(KEY_A, "s", _outputs(tmp_path, "o", "x" * 10000))
    monkeypatch.delenv("WASMBUILD_CACHE_MAX", raising=False)
    assert cache.auto_prune() == (0, 0)
    monkeypatch.setenv("WASMBUILD_CACHE_MAX", "1M")
    assert cache.auto_prune()[0] == 0
    monkeypatch.setenv("WASMBUILD_CACHE_MAX", "1K")
    assert cache.auto_prune()[0] == 1


def test_prune_removes_leftovers_of_dead_writers_only(tmp_path: Path) -> None:
    cache = StageCache(tmp_path / "cache")
    cache.root.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (cache.root / f".tmp-{'a' * 16}-{dead}-1").mkdir()
    (cache.root / f".tmp-{'b' * 16}-{os.getpid()}-1").mkdir()  # a live writer: us
    cache.prune(1 << 30)
    assert [p.name.split("-")[2] for p in cache.root.glob(".tmp-*")] == [str(os.getpid())]


def test_locked_calls_waiting_only_when_contended(tmp_path: Path) -> None:
    cache = StageCache(tmp_path / "cache")
    calls: list[int] = []
    with cache.locked(KEY_A, lambda: calls.append(1)):
        pass
    assert calls == []
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from filelock import FileLock; "
         f"l = FileLock({str(cache.root / '.locks' / (KEY_A + '.lock'))!r}); l.acquire(); "
         "print('held', flush=True); time.sleep(1.0)"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    start = time.monotonic()
    with cache.locked(KEY_A, lambda: calls.append(1)):
        assert time.monotonic() - start > 0.5  # we got it only once the holder was gone
    holder.wait()
    holder.stdout.close()
    assert calls == [1]


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("123", 123), ("1K", 1024),
                                             ("500M", 500 << 20), ("2g", 2 << 30),
                                             ("1.5GiB", 3 << 29), ("10MB", 10 << 20)])
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "lots", "-1M", "1X", "nan", "inf"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_size(text)


def test_entries_ignore_locks_and_temp_dirs(tmp_path: Path) -> None:
    cache = StageCache(tmp_path / "cache")
    cache.store(KEY_A, "hello", _outputs(tmp_path, "o", "x"))
    with cache.locked(KEY_B):
        pass
    (cache.root / ".tmp-x-1-1").mkdir()
    [entry] = cache.entries()
    assert entry.stage == "hello"
    assert entry.size == json.loads((cache.root / KEY_A / "meta.json").read_text())["size"]
