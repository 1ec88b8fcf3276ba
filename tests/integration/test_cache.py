"""The stage cache end to end, through the real CLI and real (sh) stage steps.

The projects here need no compiler: stages are shell steps and the entrypoint is a minimal Wasm
module kept in the context, so these run wherever ``sh`` does. Each step appends its stage's
name to ``$MARK/runs`` (steps run unsandboxed on the host filesystem with a clean env; ``MARK``
is passed as stage env), which is how the tests see exactly which stages executed; ``--json`` reports
``cached`` per stage too, and both must agree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import missing

pytestmark = pytest.mark.integration

# (module (func (export "_start"))): the smallest WASI command, exits 0
EMPTY_WASM = bytes.fromhex("0061736d01000000" "010401600000" "03020100"
                           "070a01065f7374617274" "0000" "0a040102000b")


def write_project(root: Path, mark: Path, *, stamp: bool = False, sleep: float = 0) -> Path:
    """Stages a <- b, and c independent; the image takes b's and c's outputs.

    With ``stamp`` every run writes the time in ns into its output, so an executed stage
    changes the image digest; without it the outputs (and the digest) are deterministic.
    """
    root.mkdir(parents=True, exist_ok=True)
    mark.mkdir(parents=True, exist_ok=True)
    (root / "a.txt").write_text("a1\n")
    (root / "c.txt").write_text("c1\n")
    (root / "main.py").write_text("print('hello')\n")
    (root / "app.wasm").write_bytes(EMPTY_WASM)

    def steps(name: str, body: str) -> str:
        lines = [f"echo {name} >> $MARK/runs", body]
        if sleep:
            lines.append(f"sleep {sleep}")
        if stamp:
            lines.append(f"date +%s%N >> $OUT/{name}.out")
        return "\n".join(f"      - {json.dumps(line)}" for line in lines)

    (root / "Wasmfile").write_text(f"""\
wasmfile: 1
stages:
  a:
    inputs: [a.txt]
    env: {{MARK: {json.dumps(str(mark))}}}
    steps:
{steps("a", "cat $SRC/a.txt > $OUT/a.out")}
    outputs: [a.out]
  b:
    inputs: [{{from: a, path: a.out}}]
    env: {{MARK: {json.dumps(str(mark))}}}
    steps:
{steps("b", "cat $SRC/a.out > $OUT/b.out && echo b >> $OUT/b.out")}
    outputs: [b.out]
  c:
    inputs: [c.txt]
    env: {{MARK: {json.dumps(str(mark))}}}
    steps:
{steps("c", "cat $SRC/c.txt > $OUT/c.out")}
    outputs: [c.out]
image:
  files:
    - {{src: app.wasm, dest: /app.wasm}}
    - {{src: main.py, dest: /main.py}}
    - {{from: b, path: b.out, dest: /data/b.out}}
    - {{from: c, path: c.out, dest: /data/c.out}}
  entrypoint: [/app.wasm]
  tags: [cachetest:latest]
""")
    return root / "Wasmfile"


def env_for(state: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("WASMBUILD_") and k != "SOURCE_DATE_EPOCH"}
    env.update(WASMBUILD_STORE=str(state / "store"), WASMBUILD_CACHE=str(state / "cache"), **extra)
    # The steps log their runs to $MARK, outside $OUT: the host-stage sandbox would refuse that
    # write (it has tests of its own, test_sandbox.py).
    env.setdefault("WASMBUILD_SANDBOX", "off")
    return env


def wasmbuild(state: Path, *args: str, check: bool = True,
              **extra: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "wasmbuild", *args], env=env_for(state, **extra),
                          capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"wasmbuild {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


def build(state: Path, wasmfile: Path, *args: str, **extra: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(wasmbuild(state, "build", str(wasmfile), "--json", *args,
                                                  **extra).stdout)
    return result


def ran(result: dict[str, Any]) -> set[str]:
    return {s["name"] for s in result["stages"] if not s["cached"]}


def runs(mark: Path) -> list[str]:
    path = mark / "runs"
    lines = path.read_text().split() if path.exists() else []
    path.unlink(missing_ok=True)
    return sorted(lines)


def test_unchanged_rebuild_runs_nothing_and_keeps_the_digest(tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    wf = write_project(tmp_path / "proj", mark, stamp=True)
    first = build(tmp_path, wf)
    assert ran(first) == {"a", "b", "c"} and runs(mark) == ["a", "b", "c"]
    assert first["layer_reused"] is False
    second = build(tmp_path, wf)
    assert ran(second) == set() and runs(mark) == []
    # the outputs carry the time of their run: an equal digest means nothing re-executed
    assert second["digest"] == first["digest"]
    assert second["layer_reused"] is True


def test_changing_one_input_reruns_exactly_its_dependents(tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    wf = write_project(tmp_path / "proj", mark, stamp=True)
    first = build(tmp_path, wf)
    runs(mark)
    (tmp_path / "proj" / "a.txt").write_text("a2\n")
    second = build(tmp_path, wf)
    assert ran(second) == {"a", "b"} and runs(mark) == ["a", "b"]
    assert second["digest"] != first["digest"]
    (tmp_path / "proj" / "c.txt").write_text("c2\n")
    assert ran(build(tmp_path, wf)) == {"c"} and runs(mark) == ["c"]
    # an mtime-only change is not a change
    os.utime(tmp_path / "proj" / "a.txt", (1, 1))
    assert ran(build(tmp_path, wf)) == set() and runs(mark) == []


def test_a_file_copied_into_the_image_reruns_no_stage(tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    wf = write_project(tmp_path / "proj", mark)
    first = build(tmp_path, wf)
    runs(mark)
    (tmp_path / "proj" / "main.py").write_text("print('changed')\n")
    second = build(tmp_path, wf)
    assert ran(second) == set() and runs(mark) == []
    assert second["digest"] != first["digest"] and second["layer_reused"] is False


def test_no_cache_and_no_cache_stage(tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    wf = write_project(tmp_path / "proj", mark)
    first = build(tmp_path, wf)
    runs(mark)
    only_c = build(tmp_path, wf, "--no-cache-stage", "c")
    assert ran(only_c) == {"c"} and runs(mark) == ["c"]
    assert only_c["digest"] == first["digest"]  # deterministic stages: same image
    everything = build(tmp_path, wf, "--no-cache")
    assert ran(everything) == {"a", "b", "c"} and runs(mark) == ["a", "b", "c"]
    assert everything["digest"] == first["digest"]
    bad = wasmbuild(tmp_path, "build", str(wf), "--no-cache-stage", "nope", check=False)
    assert bad.returncode == 2 and "unknown stage 'nope'" in bad.stderr


@pytest.mark.parametrize("damage", ["truncate", "corrupt"])
def test_damaged_cache_entry_is_rebuilt_with_the_same_digest(tmp_path: Path, damage: str) -> None:
    mark = tmp_path / "mark"
    wf = write_project(tmp_path / "proj", mark)
    first = build(tmp_path, wf)
    runs(mark)
    key = next(s["key"] for s in first["stages"] if s["name"] == "a")
    tar = tmp_path / "cache" / "stages" / key / "outputs.tar"
    if damage == "truncate":
        os.truncate(tar, 700)
    else:
        data = bytearray(tar.read_bytes())
        data[len(data) // 3] ^= 0x55
        tar.write_bytes(bytes(data))
    second = build(tmp_path, wf)
    assert ran(second) == {"a"} and runs(mark) == ["a"]  # b's key is unchanged: a's output is
    assert second["digest"] == first["digest"]
    assert ran(build(tmp_path, wf)) == set()  # and the entry was written again


def test_concurrent_builds_share_one_cache_and_store(tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    wf = write_project(tmp_path / "proj", mark, sleep=1)
    procs = [subprocess.Popen([sys.executable, "-m", "wasmbuild", "build", str(wf), "--json"],
                              env=env_for(tmp_path), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    assert len({r["digest"] for r in results}) == 1
    # the per-key lock: every stage executed once in all, the other builds restored it
    assert runs(mark) == ["a", "b", "c"]
    assert sum(len(ran(r)) for r in results) == 3
    index = json.loads((tmp_path / "store" / "index.json").read_text())
    [tagged] = [m for m in index["manifests"]
                if m["annotations"]["org.opencontainers.image.ref.name"] == "cachetest:latest"]
    assert tagged["digest"] == results[0]["digest"]
    assert_store_consistent(tmp_path / "store")
    entries = json.loads(wasmbuild(tmp_path, "cache", "ls", "--json").stdout)["stages"]
    assert sorted(e["stage"] for e in entries) == ["a", "b", "c"]


def test_independent_stages_run_in_parallel(tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    mark.mkdir()
    (tmp_path / "app.wasm").write_bytes(EMPTY_WASM)
    stages = "".join(f"""
  s{i}:
    env: {{MARK: {json.dumps(str(mark))}}}
    steps:
      - date +%s.%N > $MARK/s{i}.start && sleep 2 && date +%s.%N > $MARK/s{i}.end
      - echo {i} > $OUT/s{i}.txt
    outputs: [s{i}.txt]""" for i in (1, 2))
    wf = tmp_path / "Wasmfile"
    wf.write_text(f"""wasmfile: 1
stages:{stages}
image:
  files:
    - {{src: app.wasm, dest: /app.wasm}}
    - {{from: s1, path: s1.txt, dest: /s1.txt}}
    - {{from: s2, path: s2.txt, dest: /s2.txt}}
  entrypoint: [/app.wasm]
""")
    build(tmp_path, wf, "--jobs", "2")
    t = {n: float((mark / n).read_text()) for n in ("s1.start", "s1.end", "s2.start", "s2.end")}
    assert t["s1.start"] < t["s2.end"] and t["s2.start"] < t["s1.end"], t  # the runs overlap
    # and --jobs 1 serialises them
    for f in mark.iterdir():
        f.unlink()
    build(tmp_path, wf, "--jobs", "1", "--no-cache")
    t = {n: float((mark / n).read_text()) for n in ("s1.start", "s1.end", "s2.start", "s2.end")}
    assert t["s1.end"] <= t["s2.start"] or t["s2.end"] <= t["s1.start"], t


def test_cache_ls_prune_and_automatic_cap(tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    wf = write_project(tmp_path / "proj", mark)
    build(tmp_path, wf)
    listing = json.loads(wasmbuild(tmp_path, "cache", "ls", "--json").stdout)
    entries = listing["stages"]
    assert len(entries) == 3
    stage_total = sum(e["size"] for e in entries)
    biggest = max(e["size"] for e in entries)
    others = listing["total"] - stage_total  # layer memo, toolchains, ...: they count too
    pruned = json.loads(wasmbuild(tmp_path, "cache", "prune", "--max-size",
                                  str(listing["total"] - 1), "--json").stdout)
    assert pruned["removed"] >= 1 and pruned["after"] <= listing["total"] - 1
    assert json.loads(wasmbuild(tmp_path, "cache", "prune", "--json").stdout)["removed"] >= 1
    emptied = json.loads(wasmbuild(tmp_path, "cache", "ls", "--json").stdout)
    assert emptied["stages"] == [] and emptied["total"] == 0
    assert wasmbuild(tmp_path, "cache", "prune", "--max-size", "lots", check=False).returncode == 2
    # WASMBUILD_CACHE_MAX caps the whole cache after every build
    runs(mark)
    cap = biggest + others
    build(tmp_path, wf, WASMBUILD_CACHE_MAX=str(cap))
    assert runs(mark) == ["a", "b", "c"]
    capped = json.loads(wasmbuild(tmp_path, "cache", "ls", "--json").stdout)
    assert capped["total"] <= cap and 1 <= len(capped["stages"]) < 3


def test_example_rebuild_is_fully_cached(tmp_path: Path) -> None:
    """Wasmfile.example with the real rust and c toolchains (skipped without them, not in CI)."""
    root = Path(__file__).resolve().parents[2]
    if not (shutil.which("rustc") and shutil.which("clang-16")):
        missing("rustc (wasm32-wasi std) and clang-16 + wasi-libc")
    first = build(tmp_path, root / "Wasmfile.example")
    second = build(tmp_path, root / "Wasmfile.example")
    assert ran(first) == {"hello", "env-c"} and ran(second) == set()
    assert first["digest"] == second["digest"] and second["layer_reused"] is True
    out = wasmbuild(tmp_path, "run", "hello-wasm")
    assert "Hello" in out.stdout


def assert_store_consistent(store: Path) -> None:
    """index.json parses, every tagged manifest's blobs (and those of the referrers lists, an
    index each) are present and match their digests."""
    from wasmbuild.oci import Descriptor
    from wasmbuild.oci.graph import walk
    from wasmbuild.oci.layout import Layout

    layout = Layout(store)
    index = json.loads((store / "index.json").read_text())
    for m in index["manifests"]:
        for d in walk(Descriptor.from_json(m), layout.read_json):  # reads documents verified
            layout.read_blob(d.digest)
    for blob in (store / "blobs" / "sha256").iterdir():
        # anything not named by its digest is a temp file of a killed writer: hidden, and gc'd
        assert blob.name.startswith(".") or len(blob.name) == 64, blob.name




def test_cache_exported_to_a_layout_seeds_another_machine(tmp_path: Path) -> None:
    """The --cache-to/--cache-from core: export this build's entries into an OCI layout,
    import them into an empty cache, and a build there runs no stage (same digest)."""
    from wasmbuild.cache.artifact import export_to_layout, import_from_layout
    from wasmbuild.cache.stages import StageCache
    from wasmbuild.oci.layout import Layout

    mark = tmp_path / "mark"
    wf = write_project(tmp_path / "proj", mark, stamp=True)
    first = build(tmp_path / "ci", wf)
    runs(mark)
    layout = Layout(tmp_path / "cache-layout")
    desc = export_to_layout(StageCache(tmp_path / "ci" / "cache"),
                            [s["key"] for s in first["stages"]], layout)
    layout.tag("buildcache", desc)
    imported = import_from_layout(layout, layout.resolve("buildcache"),
                                  StageCache(tmp_path / "laptop" / "cache"))
    assert len(imported) == 3
    second = build(tmp_path / "laptop", wf)
    assert ran(second) == set() and runs(mark) == []
    assert second["digest"] == first["digest"]  # stamped outputs: nothing re-executed
