"""The flags buildx users type, with buildx's meaning: -f/--file + context, --target, -o local:DIR
(and type=...,dest=... spellings), --progress plain|json, --metadata-file; and .wasmignore.

The projects need no compiler: their stages are shell steps on the host, and the image's module
is the checked-in golden hello.wasm.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import Runner

pytestmark = pytest.mark.integration
GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden" / "hello.wasm"

# first -> second feeds the image; `extra` is used by nothing (only --target runs it).
WASMFILE = """\
wasmfile: 1
stages:
  first:
    inputs: [hello.wasm]
    steps: ["cp $SRC/hello.wasm $OUT/hello.wasm", "echo first-ran > $OUT/first.txt"]
    outputs: [hello.wasm, first.txt]
  second:
    inputs: [{from: first, path: hello.wasm, dest: in.wasm}]
    steps: ["cp $SRC/in.wasm $OUT/app.wasm", "mkdir $OUT/share && echo data > $OUT/share/data.txt"]
    outputs: [app.wasm, share]
  extra:
    steps: ["echo extra > $OUT/extra.txt", "ln -s extra.txt $OUT/link"]
    outputs: [extra.txt, link]
image:
  files:
    - {from: second, path: app.wasm, dest: /app.wasm}
    - {from: second, path: share, dest: /share}
  entrypoint: [app.wasm]
  tags: [flags-demo:1]
"""
LINE = re.compile(r"^ *(?P<t>\d+\.\d{3}) (?P<event>start|log  |done |note ) ?(?P<rest>.*)$")


def project(root: Path, wasmfile: str = WASMFILE) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(GOLDEN, root / "hello.wasm")
    (root / "Wasmfile").write_text(wasmfile)
    return root


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_file_flag_takes_the_context_as_argument(wb: Runner, tmp_path: Path) -> None:
    ctx = project(tmp_path / "ctx")
    moved = tmp_path / "elsewhere" / "build.wasmfile"
    moved.parent.mkdir()
    shutil.move(ctx / "Wasmfile", moved)
    # buildx: `build -f FILE CONTEXT`; files resolve against CONTEXT, not the Wasmfile's folder.
    for flag in ("-f", "--file"):
        proc = wb("build", flag, str(moved), str(ctx), "--json")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["tags"] == ["flags-demo:1"]
    # Without CONTEXT the Wasmfile's folder is the context: hello.wasm is not there.
    proc = wb("build", "-f", str(moved))
    assert proc.returncode == 2 and "hello.wasm" in proc.stderr, proc.stderr


def test_progress_plain_is_a_stable_timed_event_per_line(wb: Runner, tmp_path: Path) -> None:
    ctx = project(tmp_path / "ctx")

    def events(proc_stderr: str) -> list[tuple[str, str, str]]:
        out, last = [], 0.0
        for line in proc_stderr.splitlines():
            m = LINE.match(line)
            assert m, f"not a plain progress line: {line!r}"
            assert float(m["t"]) >= last  # timestamps never go back
            last = float(m["t"])
            fields = m["rest"].split(" ", 1)
            out.append((m["event"].strip(), fields[0], fields[1] if len(fields) > 1 else ""))
        return out

    proc = wb("build", str(ctx), "--progress", "plain", "--jobs", "1")
    assert proc.returncode == 0, proc.stderr
    seen = events(proc.stderr)
    stages = [(e, s) for e, s, _ in seen if e in ("start", "done")]
    assert stages == [("start", "first"), ("done", "first"), ("start", "second"), ("done", "second")]
    assert [d.split()[0] for e, _, d in seen if e == "done"] == ["built", "built"]
    # plain shows every step's output (CI logs), each line tagged with its stage.
    logs = [(s, d) for e, s, d in seen if e == "log"]
    assert ("first", "[first] step 2/2: echo first-ran > $OUT/first.txt") in logs
    assert all(s in ("first", "second") for s, _ in logs)

    again = wb("build", str(ctx), "--progress", "plain", "--jobs", "1")
    done = [(s, d.split()[0]) for e, s, d in events(again.stderr) if e == "done"]
    assert done == [("first", "cached"), ("second", "cached")]


def test_progress_json_is_one_object_per_event(wb: Runner, tmp_path: Path) -> None:
    ctx = project(tmp_path / "ctx")
    proc = wb("build", str(ctx), "--progress", "json", "--jobs", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)  # the result stays alone on stdout
    events = [json.loads(line) for line in proc.stderr.splitlines()]
    assert all(isinstance(e["time"], float | int) and e["event"] in ("start", "log", "done", "note")
               for e in events)
    done = [(e["stage"], e["cached"]) for e in events if e["event"] == "done"]
    assert done == [("first", False), ("second", False)]
    assert [s["name"] for s in result["stages"]] == ["first", "second"]


def test_progress_tty_draws_the_live_display_even_in_a_pipe(wb: Runner, tmp_path: Path) -> None:
    ctx = project(tmp_path / "ctx")
    plain = wb("build", str(ctx), "--no-cache")  # auto in a pipe: a line per stage, no colours
    assert "\x1b[" not in plain.stderr and "==> stage first" in plain.stderr
    tty = wb("build", str(ctx), "--no-cache", "--progress", "tty")
    assert tty.returncode == 0, tty.stderr
    assert "\x1b[" in tty.stderr and "[first] DONE" in tty.stderr  # rich's terminal codes


def test_unknown_progress_mode_fails_before_building(wb: Runner, tmp_path: Path) -> None:
    proc = wb("build", str(project(tmp_path / "ctx")), "--progress", "fancy")
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: --progress 'fancy' is not a progress mode "
                                   "(use one of auto, plain, tty, json)")


def test_target_builds_up_to_a_stage_and_exports_its_outputs(wb: Runner, tmp_path: Path) -> None:
    ctx = project(tmp_path / "ctx")
    out = tmp_path / "out"
    proc = wb("build", str(ctx), "--target", "first", "-o", f"local:{out}", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert [s["name"] for s in result["stages"]] == ["first"]  # `second` did not run
    assert result["target"] == "first" and result["exported"] == [f"local:{out}"]
    assert files_under(out) == ["first.txt", "hello.wasm"]
    assert wb("images", "--json").stdout.strip() == "[]"  # a stage, not an image

    # A stage the image does not use, with buildx's spelling of the local exporter; files
    # already in DIR stay (buildx's local exporter writes into DIR, it does not empty it).
    dest = tmp_path / "extra-out"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine\n")
    proc = wb("build", str(ctx), "--target", "extra", "--output", f"type=local,dest={dest}")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"target extra: 1 stage(s), 1 built, exported to local:{dest}"
    assert files_under(dest) == ["extra.txt", "keep.txt", "link"]
    assert (dest / "link").is_symlink() and (dest / "link").read_text() == "extra\n"

    # Without -o the stage is built (and cached) only.
    proc = wb("build", str(ctx), "--target", "second", "--json")
    assert [(s["name"], s["cached"]) for s in json.loads(proc.stdout)["stages"]] == [
        ("first", True), ("second", False)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "nope"], "error: --target names unknown stage 'nope' (stages: first, second, extra)"),
        (["--target", "first", "-t", "x:1"], "error: --target first builds a stage, not an image: "
                                             "-t/--push has nothing to publish (export its outputs with one "
                                             "-o local:DIR, or -o type=local,dest=DIR)"),
        (["--target", "first", "-o", "oci:out"], "error: --target first builds a stage, not an image: "
                                                 "-o oci:out has nothing to publish (export its outputs with one "
                                                 "-o local:DIR, or -o type=local,dest=DIR)"),
        (["-o", "type=zip,dest=x"], "error: --output type=zip is not supported (use one of type=local, "
                                    "type=oci, type=docker, type=registry, type=image)"),
        (["-o", "type=local"], "error: --output 'type=local' has no dest= (e.g. type=local,dest=out)"),
        (["--target", "first", "--format", "docker"], "error: --target first builds a stage, not an image: "
                                                      "--format has no image to apply to (drop --format, or "
                                                      "build the image without --target)"),
        (["--target", "first", "--precompile"], "error: --target first builds a stage, not an image: "
                                                "--precompile has no image to apply to (drop --precompile, or "
                                                "build the image without --target)"),
        (["--metadata-file", "/"], "error: --metadata-file / is a directory (name a file in a writable "
                                   "directory)"),
    ],
)
def test_target_and_output_mistakes_are_one_line(wb: Runner, tmp_path: Path, args: list[str],
                                                 message: str) -> None:
    proc = wb("build", str(project(tmp_path / "ctx")), *args, "--progress", "plain")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == message
    assert " start " not in proc.stderr  # refused before any stage ran


def test_output_local_writes_the_root_filesystem(wb: Runner, tmp_path: Path) -> None:
    ctx = project(tmp_path / "ctx")
    root, oci = tmp_path / "rootfs", tmp_path / "oci"
    meta = tmp_path / "metadata.json"
    proc = wb("build", str(ctx), "-o", f"local:{root}", "-o", f"type=oci,dest={oci},tar=false",
              "--metadata-file", str(meta), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["tags"] == [f"local:{root}", f"oci:{oci}:1"]  # -o repeats: both written
    assert files_under(root) == ["app.wasm", "share", "share/data.txt"]
    assert (root / "app.wasm").read_bytes() == GOLDEN.read_bytes()
    assert (root / "app.wasm").stat().st_mode & 0o777 == 0o644
    assert json.loads((oci / "index.json").read_text())["manifests"][0]["digest"] == result["digest"]
    # --metadata-file: what --json prints, plus buildx's key for the digest.
    data = json.loads(meta.read_text())
    assert data["containerimage.digest"] == data["digest"] == result["digest"]
    assert data["stages"] == result["stages"]
    # The buildx spellings of the archive outputs land where ours do.
    archive = tmp_path / "image.tar"
    proc = wb("build", str(ctx), "-o", f"type=oci,dest={archive}", "--json")
    assert json.loads(proc.stdout)["tags"] == [f"oci-archive:{archive}"]
    inspected = wb("inspect", f"oci-archive:{archive}", "--json")
    assert json.loads(inspected.stdout)["digest"] == result["digest"]


IGNORING = """\
wasmfile: 1
stages:
  listing:
    inputs: [.]
    steps: ["cd $SRC && find . | sort > $OUT/listing.txt", "cp $SRC/hello.wasm $OUT/app.wasm"]
    outputs: [listing.txt, app.wasm]
image:
  files:
    - {from: listing, path: app.wasm, dest: /app.wasm}
    - {from: listing, path: listing.txt, dest: /listing.txt}
    - {src: assets, dest: /assets}
  entrypoint: [app.wasm]
"""


def test_wasmignore_keeps_files_out_of_keys_stages_and_images(wb: Runner, tmp_path: Path) -> None:
    ctx = project(tmp_path / "ctx", IGNORING)
    (ctx / "node_modules" / "dep").mkdir(parents=True)
    (ctx / "node_modules" / "dep" / "index.js").write_text("1\n")
    (ctx / "assets").mkdir()
    (ctx / "assets" / "logo.txt").write_text("logo\n")
    (ctx / "assets" / "draft.tmp").write_text("draft\n")
    (ctx / ".wasmignore").write_text("# as .dockerignore\nnode_modules\n**/*.tmp\nWasmfile\n")
    root = tmp_path / "root"
    proc = wb("build", str(ctx), "-o", f"local:{root}", "--json")
    assert proc.returncode == 0, proc.stderr
    # Neither copied into the stage's $SRC...
    assert (root / "listing.txt").read_text().split() == [".", "./.wasmignore", "./assets", "./assets/logo.txt",
                                                         "./hello.wasm"]
    # ...nor into the image from a `src:` directory.
    assert files_under(root / "assets") == ["logo.txt"]
    # ...nor hashed: changing ignored files (and the Wasmfile's comments) rebuilds nothing.
    (ctx / "node_modules" / "dep" / "index.js").write_text("2\n")
    (ctx / "assets" / "new.tmp").write_text("new\n")
    (ctx / "Wasmfile").write_text("# a comment\n" + IGNORING)
    again = wb("build", str(ctx), "--json")
    assert [s["cached"] for s in json.loads(again.stdout)["stages"]] == [True]
    (ctx / "assets" / "logo.txt").write_text("logo 2\n")  # a kept file still counts
    third = wb("build", str(ctx), "--json")
    assert [s["cached"] for s in json.loads(third.stdout)["stages"]] == [False]


def test_naming_an_ignored_file_is_a_one_line_error(wb: Runner, tmp_path: Path) -> None:
    ctx = project(tmp_path / "ctx")
    (ctx / ".wasmignore").write_text("*.wasm\n")
    proc = wb("build", str(ctx))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"error: {ctx / 'Wasmfile'}:3: stage 'first': input 'hello.wasm' is excluded by "
        f"{ctx / '.wasmignore'} (remove its pattern from .wasmignore, or add the line `!hello.wasm`)")
    (ctx / ".wasmignore").write_text("*.wasm\n!hello.wasm\n")
    assert wb("build", str(ctx)).returncode == 0
