""".wasmignore: .dockerignore's rules, applied to hashing, copying into $SRC, and image layers."""

from __future__ import annotations

from pathlib import Path

import pytest

from wasmbuild.assemble.layer import collect
from wasmbuild.cache.digests import tree_sha256
from wasmbuild.errors import ConfigError
from wasmbuild.execute.inputs import copy_in
from wasmbuild.ignore import ContextIgnore, load_ignore


def spec(*lines: str, root: Path = Path("/ctx")) -> ContextIgnore:
    return ContextIgnore.parse(root, "\n".join(lines) + "\n", root / ".wasmignore")


@pytest.mark.parametrize(
    ("lines", "path", "excluded"),
    [
        # A pattern is relative to the context root, not matched at any depth (unlike .gitignore).
        (["node_modules"], "node_modules", True),
        (["node_modules"], "node_modules/a/b.js", True),
        (["node_modules"], "web/node_modules/a.js", False),
        (["**/node_modules"], "web/node_modules/a.js", True),
        (["*.o"], "main.o", True),
        (["*.o"], "src/main.o", False),
        (["*/*.o"], "src/main.o", True),
        (["**/*.o"], "a/b/c/main.o", True),
        # A leading "/" changes nothing; a trailing "/" is cleaned away (a file matches too).
        (["/target"], "target/debug/x", True),
        (["target/"], "target", True),
        (["./target/"], "target/x", True),
        # "?" is one character within a component; "#" starts a comment line.
        (["file?.txt"], "file1.txt", True),
        (["file?.txt"], "file10.txt", False),
        (["# target"], "target", False),
        # The last matching line wins; "!" re-includes, also inside an ignored folder.
        (["*.md", "!README.md"], "README.md", False),
        (["*.md", "!README.md"], "NOTES.md", True),
        (["target", "!target/app.wasm"], "target/app.wasm", False),
        (["target", "!target/app.wasm"], "target/other", True),
        (["!keep", "keep"], "keep", True),
    ],
)
def test_dockerignore_rules(lines: list[str], path: str, excluded: bool) -> None:
    assert spec(*lines).excluded(path) is excluded


def _context(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "main.c").write_text("int main(void) { return 0; }\n")
    (root / "node_modules" / "dep").mkdir(parents=True)
    (root / "node_modules" / "dep" / "index.js").write_text("module.exports = 1\n")
    (root / "src" / "main.o").write_bytes(b"\x7fELF")
    (root / "README.md").write_text("hello\n")
    return root


def test_ignored_files_change_no_digest_and_are_not_copied(tmp_path: Path) -> None:
    ctx = _context(tmp_path / "ctx")
    (ctx / ".wasmignore").write_text("# build output\nnode_modules\n**/*.o\n")
    ignore = load_ignore(ctx)
    assert ignore is not None
    before = tree_sha256(ctx, ignore.lister)
    (ctx / "node_modules" / "dep" / "index.js").write_text("module.exports = 2\n")
    (ctx / "src" / "other.o").write_bytes(b"more")
    assert tree_sha256(ctx, ignore.lister) == before  # ignored changes: the same key
    assert tree_sha256(ctx) != before  # without the ignore file they would count
    (ctx / "src" / "main.c").write_text("int main(void) { return 1; }\n")
    assert tree_sha256(ctx, ignore.lister) != before  # a kept file still does

    dest = tmp_path / "copy"
    assert copy_in(ctx, dest, lister=ignore.lister) == tree_sha256(ctx, ignore.lister)
    copied = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*"))
    assert copied == [".wasmignore", "README.md", "src", "src/main.c"]


def test_an_exception_inside_an_ignored_folder_is_kept(tmp_path: Path) -> None:
    ctx = _context(tmp_path / "ctx")
    (ctx / ".wasmignore").write_text("node_modules\n!node_modules/dep/index.js\n")
    ignore = load_ignore(ctx)
    assert ignore is not None
    (ctx / "node_modules" / "dep" / "other.js").write_text("x\n")
    (ctx / "node_modules" / "empty").mkdir()
    kept = [p.name for p in ignore.lister(ctx / "node_modules" / "dep")]
    assert kept == ["index.js"]
    assert [p.name for p in ignore.lister(ctx / "node_modules")] == ["dep"]  # not "empty"


def test_image_layer_leaves_ignored_files_out(tmp_path: Path) -> None:
    ctx = _context(tmp_path / "ctx")
    (ctx / ".wasmignore").write_text("node_modules\n*.md\n")
    ignore = load_ignore(ctx)
    assert ignore is not None
    outputs = tmp_path / "out"  # a stage's outputs are never filtered, even with the same names
    (outputs / "node_modules").mkdir(parents=True)
    (outputs / "node_modules" / "x.js").write_text("1\n")
    entries = collect([("/app", ctx, None), ("/out", outputs, None)], [ignore.lister, None])
    paths = [e.path for e in entries]
    assert "app/src/main.c" in paths and "out/node_modules/x.js" in paths
    assert not [p for p in paths if p.startswith("app/node_modules") or p.endswith(".md")]


def test_naming_an_ignored_path_is_an_error(tmp_path: Path) -> None:
    ctx = _context(tmp_path / "ctx")
    (ctx / ".wasmignore").write_text("node_modules\n!node_modules/dep/index.js\n**/*.o\n")
    ignore = load_ignore(ctx)
    assert ignore is not None
    with pytest.raises(ConfigError, match=r"input 'src/main\.o' is excluded by .*\.wasmignore "
                                          r"\(remove its pattern from \.wasmignore, or add the line "
                                          r"`!src/main\.o`\)"):
        ignore.check_named("src/main.o", "input")
    with pytest.raises(ConfigError, match="excluded"):
        spec("src", root=ctx).check_named("src", "input")
    ignore.check_named("node_modules", "input")  # something in it is re-included
    ignore.check_named("src/main.c", "input")
    ignore.check_named(".", "input")


def test_no_ignore_file(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()  # (tmp_path itself holds the tests' cache and store)
    assert load_ignore(tmp_path / "p") is None


def test_ignore_file_is_reread_when_it_changes(tmp_path: Path) -> None:
    (tmp_path / ".wasmignore").write_text("a\n")
    first = load_ignore(tmp_path)
    assert first is not None and first.excluded("a") and not first.excluded("bb")
    (tmp_path / ".wasmignore").write_text("bb\n")
    second = load_ignore(tmp_path)
    assert second is not None and second.excluded("bb") and not second.excluded("a")


def test_unreadable_ignore_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / ".wasmignore").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError, match=r"cannot read .*\.wasmignore.*UTF-8"):
        load_ignore(tmp_path)


@pytest.mark.parametrize(
    ("exception", "folder", "entered"),
    [
        ("!node_modules/dep/index.js", "node_modules", True),
        ("!node_modules/dep/index.js", "node_modules/dep", True),
        ("!node_modules/dep/index.js", "node_modules/other", False),
        ("!node_modules/dep/index.js", "node_modules/dep/sub", False),
        ("!node_modules/d*/x", "node_modules/dep", True),
        ("!**/keep.txt", "node_modules/a/b", True),
        ("!keep.txt", "node_modules", False),
    ],
)
def test_an_ignored_folder_is_entered_only_if_an_exception_may_match_inside(
        exception: str, folder: str, entered: bool) -> None:
    assert spec("node_modules", exception)._may_reinclude(folder) is entered


def test_wasmbuilds_own_cache_and_store_inside_the_context_are_never_taken(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """WASMBUILD_CACHE / WASMBUILD_STORE under the project folder (a CI job caching `.wasmbuild/`):
    a stage taking the whole context used to copy the cache into itself until the path was too
    long, and the store (which changes with every build) would change every cache key."""
    import json
    import shutil
    import tarfile

    from tests.support.pipeline import GOLDEN, FakeExecutor
    from wasmbuild.oci.layout import Layout
    from wasmbuild.pipeline import BuildOptions, ExecuteOptions, build, prepare

    ctx = tmp_path / "p"
    ctx.mkdir()
    shutil.copy(GOLDEN, ctx / "hello.wasm")
    (ctx / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  first:\n    inputs: [.]\n    steps: [\"copy hello.wasm\"]\n"
        "    outputs: [hello.wasm]\nimage:\n  files:\n    - {from: first, path: hello.wasm, dest: /app.wasm}\n"
        "    - {src: ., dest: /ctx}\n  entrypoint: [app.wasm]\n")
    monkeypatch.setenv("WASMBUILD_CACHE", str(ctx / ".wasmbuild" / "cache"))
    monkeypatch.setenv("WASMBUILD_STORE", str(ctx / ".wasmbuild" / "store"))
    ignore = load_ignore(ctx)
    assert ignore is not None and ignore.own == (".wasmbuild/cache", ".wasmbuild/store")
    assert ignore.excluded(".wasmbuild/cache/stages/x") and not ignore.excluded(".wasmbuild")
    fake = FakeExecutor()
    store = Layout(ctx / ".wasmbuild" / "store").init()
    first = build(prepare(ctx), BuildOptions(store=store, execute=ExecuteOptions(executor_factory=fake.factory)))
    second = build(prepare(ctx), BuildOptions(store=store, execute=ExecuteOptions(executor_factory=fake.factory)))
    assert [s.cached for s in first.stages] == [False] and [s.cached for s in second.stages] == [True]
    assert second.digest == first.digest
    manifest = store.read_json(first.digest)
    with tarfile.open(store.blob_path(manifest["layers"][0]["digest"])) as layer:
        names = sorted(m.name for m in layer.getmembers())
    assert names == ["app.wasm", "ctx", "ctx/.wasmbuild", "ctx/Wasmfile", "ctx/hello.wasm"], names
    with pytest.raises(ConfigError, match=r"inside wasmbuild's own cache or store"):
        ignore.check_named(".wasmbuild/store", "image file")
    assert json.loads((ctx / ".wasmbuild" / "store" / "index.json").read_text())["manifests"]
