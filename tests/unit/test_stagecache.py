"""The stage cache on its own: keys, store/restore, corruption, pruning, locks, size parsing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from filelock import FileLock

from wasmbuild.cache.prune import auto_prune, parse_size, prune
from wasmbuild.cache.stages import StageCache
from wasmbuild.errors import ConfigError
from wasmbuild.execute.keys import stage_key
from wasmbuild.render.project import StageSpec

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


def _spec(**kw: object) -> StageSpec:
    fields: dict[str, object] = {"name": "s", "steps": ("a",), "inputs": (), "outputs": ("o",),
                                 "env": {"X": "1", "Y": "2"}, "network": False, "builder": None,
                                 "toolchain": None, "recipe": None, "where": "W:1"}
    fields.update(kw)
    return StageSpec(**fields)  # type: ignore[arg-type]


def test_key_depends_on_every_field_and_not_on_order() -> None:
    base = stage_key(_spec(), [("f", "d1")], "host")
    assert base == stage_key(_spec(env={"Y": "2", "X": "1"}, name="other", where="X:9"),
                             [("f", "d1")], "host")
    assert base != stage_key(_spec(), [("f", "d2")], "host")
    assert base != stage_key(_spec(), [("g", "d1")], "host")
    assert base != stage_key(_spec(steps=("b",)), [("f", "d1")], "host")
    assert base != stage_key(_spec(env={"X": "1"}), [("f", "d1")], "host")
    assert base != stage_key(_spec(network=True), [("f", "d1")], "host")
    assert base != stage_key(_spec(user="1"), [("f", "d1")], "host")
    assert base != stage_key(_spec(outputs=("p",)), [("f", "d1")], "host")
    assert base != stage_key(_spec(), [("f", "d1")], "builder=x")


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
    removed, freed = prune(2 * one, cache)
    assert removed == 2 and freed >= one
    assert sorted(e.key for e in cache.entries()) == sorted([keys[0], keys[3]])
    with FileLock(str(cache.root / ".locks" / f"{keys[3]}.lock")):
        prune(0, cache)
        assert [e.key for e in cache.entries()] == [keys[3]]  # held by a "build": kept
    assert prune(0, cache)[0] == 1 and cache.entries() == []


def test_auto_prune_follows_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = StageCache(tmp_path / "cache")
    cache.store(KEY_A, "s", _outputs(tmp_path, "o", "x" * 10000))
    monkeypatch.delenv("WASMBUILD_CACHE_MAX", raising=False)
    assert auto_prune(cache) == (0, 0)
    monkeypatch.setenv("WASMBUILD_CACHE_MAX", "1M")
    assert auto_prune(cache)[0] == 0
    monkeypatch.setenv("WASMBUILD_CACHE_MAX", "1K")
    assert auto_prune(cache)[0] == 1


def test_prune_removes_leftovers_of_dead_writers_only(tmp_path: Path) -> None:
    cache = StageCache(tmp_path / "cache")
    cache.root.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (cache.root / f".tmp-{dead}-1-{'a' * 16}").mkdir()
    (cache.root / f".tmp-{os.getpid()}-1-{'b' * 16}").mkdir()  # a live writer: us
    prune(1 << 30, cache)
    assert [p.name.split("-")[1] for p in cache.root.glob(".tmp-*")] == [str(os.getpid())]


def test_locked_calls_waiting_only_when_contended(tmp_path: Path) -> None:
    cache = StageCache(tmp_path / "cache")
    calls: list[int] = []
    with cache.locked(KEY_A, lambda: calls.append(1)):
        pass
    assert calls == []
    # Another process holds the key's lock until we tell it (on stdin) to let go.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from filelock import FileLock; "
         f"l = FileLock({str(cache.root / '.locks' / (KEY_A + '.lock'))!r}); l.acquire(); "
         "print('held', flush=True); sys.stdin.readline()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == "held"
    waiting = threading.Event()
    got = threading.Event()

    def take() -> None:
        with cache.locked(KEY_A, waiting.set):
            got.set()

    taker = threading.Thread(target=take)
    taker.start()
    assert waiting.wait(30)  # told that another build has the stage
    assert not got.is_set()  # and not let in while the holder has it
    holder.stdin.write("go\n")
    holder.stdin.close()
    taker.join(30)
    assert got.is_set()
    holder.wait()
    holder.stdout.close()


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("123", 123), ("1K", 1024),
                                             ("500M", 500 << 20), ("2g", 2 << 30),
                                             ("1.5GiB", 3 << 29), ("10MB", 10 << 20)])
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "lots", "-1M", "1X", "nan", "inf"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="is not a size"):
        parse_size(text)


def test_entries_ignore_locks_and_temp_dirs(tmp_path: Path) -> None:
    cache = StageCache(tmp_path / "cache")
    cache.store(KEY_A, "hello", _outputs(tmp_path, "o", "x"))
    with cache.locked(KEY_B):
        pass
    (cache.root / ".tmp-1-1-x").mkdir()
    [entry] = cache.entries()
    assert entry.stage == "hello"
    assert entry.size == json.loads((cache.root / KEY_A / "meta.json").read_text())["size"]
