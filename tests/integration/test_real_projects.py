"""Real upstream C projects from Debian source packages (examples/real-*, docs/real-projects.md),
each built by its own build system and run under ``wasmbuild run`` doing real work: cmark
(CMake), its library used by a program of ours in a second stage, bzip2 (plain Makefile) and GNU
hello (autotools). Each is built once per run (a module fixture, one stage cache: the second
Wasmfile takes the CMake stage from it); the tarballs are fetched once and kept by sha256."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Runner
from tests.support import one_line, require
from tests.support.realprojects import RealProjects

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealProjects]:
    for tool in ("apt-get", "cmake", "make", "clang-16"):
        require(tool)
    yield RealProjects(tmp_path_factory.mktemp("real"))


def test_cmake_cmark_renders_markdown(real: RealProjects) -> None:
    html = real.run("real-cmark", "/README.md").decode()  # cmark's own README, a file in the image
    assert html.startswith("<h1>cmark</h1>\n") and "<code>cmark</code> is the C reference implementation" in html
    piped = real.run("real-cmark", "--to", "man", stdin=b"# Title\n\n*emph* and `code`\n").decode()
    assert piped == '.SH\nTitle\n.PP\n\\f[I]emph\\f[] and \\f[C]code\\f[]\n'


def test_cmarks_library_is_used_by_a_program_in_a_second_stage(real: RealProjects) -> None:
    _, first = real.build("real-cmark")
    _, report = real.build("real-cmark", "Wasmfile.mdstat")
    stages = {s["name"]: s for s in report["stages"]}  # type: ignore[attr-defined]
    assert stages["cmark"]["cached"] is True and stages["mdstat"]["cached"] is False
    assert stages["cmark"]["key"] == {s["name"]: s for s in first["stages"]}["cmark"]["key"]  # type: ignore[attr-defined]
    out = real.run("real-cmark", "/README.md", wasmfile="Wasmfile.mdstat").decode()
    assert out == ("libcmark 0.30.2\nheadings: 7\nlinks: 24\ncode blocks: 12\nfirst heading: cmark\n"
                   "html bytes: 8063\n")


@pytest.mark.parametrize("n", [1, 2])
def test_make_bzip2_reproduces_its_own_samples(real: RealProjects, n: int) -> None:
    """bzip2's `make test`: sampleN.ref compressed with -N is sampleN.bz2, and back."""
    upstream = real.example("real-bzip2") / "upstream"
    assert real.run("real-bzip2", "-dc", f"/sample{n}.bz2") == (upstream / f"sample{n}.ref").read_bytes()
    assert real.run("real-bzip2", f"-{n}", "-c", f"/sample{n}.ref") == (upstream / f"sample{n}.bz2").read_bytes()
    data = b"wasmbuild " * 5000
    packed = real.run("real-bzip2", "-9", "-c", stdin=data)
    assert packed.startswith(b"BZh9") and len(packed) < 200
    assert real.run("real-bzip2", "-dc", stdin=packed) == data


def test_autotools_gnu_hello_greets(real: RealProjects) -> None:
    assert real.run("real-hello") == b"Hello, world!\n"
    assert real.run("real-hello", "-g", "Bonjour, WASI") == b"Bonjour, WASI\n"
    assert real.run("real-hello", "--traditional") == b"hello, world\n"
    assert real.run("real-hello", "--version").decode().splitlines()[0] == "hello (GNU Hello) 2.10"

    # a one-line edit: make compiles hello.c only; the tarball's configure, aclocal.m4 and
    # Makefile.in stay up to date (no aclocal-1.14, automake or configure run)
    source = real.example("real-hello") / "upstream" / "src" / "hello.c"
    text = source.read_text()
    assert text.count('_("Hello, world!")') == 1
    source.write_text(text.replace('_("Hello, world!")', '_("Hello from WASI!")'))
    proc = real.wb("build", str(source.parents[2]), "--verbose", "-o", f"oci:{real.root / 'hello-edited'}")
    log = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, log[-3000:]
    assert re.findall(r" -c -o (\S+\.o)", log) == ["src/hello.o"], log[-3000:]
    assert "aclocal" not in log and "checking for" not in log, log[-3000:]
    run = real.wb("run", f"oci:{real.root / 'hello-edited'}")
    assert (run.returncode, run.stdout) == (0, b"Hello from WASI!\n"), run.stderr


def test_bzip2_one_line_edit_recompiles_one_file(tmp_path: Path) -> None:
    """A one-line edit of bzip2.c: make recompiles bzip2.c only (the build directory persisted,
    the other sources kept their mtimes); the image is the one a clean build makes."""
    own = RealProjects(tmp_path)
    ctx = own.example("real-bzip2")

    def build(*extra: str) -> tuple[str, str]:
        proc = own.wb("build", str(ctx), "--json", "--verbose", *extra)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
        return json.loads(proc.stdout)["digest"], proc.stderr.decode(errors="replace")

    def compiled(log: str) -> list[str]:
        return sorted(set(re.findall(r" -c (\w+\.c)\b", log)))

    _, log = build()
    assert compiled(log) == ["blocksort.c", "bzip2.c", "bzlib.c", "compress.c", "crctable.c",
                             "decompress.c", "huffman.c", "randtable.c"]
    source = ctx / "upstream" / "bzip2.c"
    text = source.read_text(encoding="latin-1")
    assert text.count("print this message") == 1  # a line of usage()
    source.write_text(text.replace("print this message", "print this message, in wasm"), encoding="latin-1")
    edited, log = build()
    assert compiled(log) == ["bzip2.c"], log[-3000:]
    usage = own.wb("run", "real-bzip2", "--", "--help")
    assert b"-h --help           print this message, in wasm\n" in usage.stderr, usage.stderr
    clean, log = build("--no-cache")
    assert len(compiled(log)) == 8 and clean == edited


WASI_LACKS = {  # name: (app.c, its extra compiler flags, what the one error line says)
    "pthread": ("#include <pthread.h>\nstatic void *f(void *a) { return a; }\n"
                "int main(void) { pthread_t t; pthread_create(&t, 0, f, 0); return pthread_join(t, 0); }\n",
                "", "<pthread.h> threads: the wasm32-wasi target has no pthreads"),
    "setjmp": ("#include <setjmp.h>\nstatic jmp_buf env;\n"
               "int main(void) { if (!setjmp(env)) longjmp(env, 1); return 0; }\n",
               "", "<setjmp.h> setjmp/longjmp: this wasi-libc has none"),
    # the header's define given, the library forgotten: the link names the library
    "signal": ("#include <signal.h>\nstatic void h(int s) { (void)s; }\n"
               "int main(void) { signal(SIGINT, h); return 0; }\n",
               "-D_WASI_EMULATED_SIGNAL", "`signal` is in wasi-libc's emulation library (WASI has no such "
               "call): compile with -D_WASI_EMULATED_SIGNAL and link with -lwasi-emulated-signal"),
}


@pytest.mark.parametrize(("lacking", "recipe"), [("pthread", "make"), ("setjmp", "make"), ("setjmp", "c"),
                                                 ("signal", "make"), ("signal", "c")])
def test_what_wasi_lacks_is_one_plain_line(wb: Runner, tmp_path: Path, lacking: str, recipe: str) -> None:
    """A program needing what WASI lacks fails with one line naming it (recipes/c/cross.py's
    headers and compiler wrapper), not with glibc's headers failing deep inside /usr/include
    or a bare `undefined symbol`."""
    require("clang-16")
    source, flags, says = WASI_LACKS[lacking]
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "app.c").write_text(source)
    (tmp_path / "proj" / "Makefile").write_text(f"app.wasm: app.c\n\t$(CC) -O2 {flags} -o $@ app.c\n")
    params = ("{project: proj, outputs: [app.wasm]}" if recipe == "make"
              else f"{{sources: [proj/app.c], output: app.wasm, flags: [-O2{', ' + flags if flags else ''}]}}")
    (tmp_path / "Wasmfile").write_text(
        f"wasmfile: 1\nstages:\n  app:\n    recipe: {recipe}\n    with: {params}\n"
        "image:\n  files: [{from: app, path: app.wasm, dest: /app.wasm}]\n  entrypoint: [app.wasm]\n")
    proc = wb("build", str(tmp_path / "Wasmfile"), timeout=600)
    line = one_line(proc, 3, "Wasmfile:3: stage 'app'", says)
    assert "bits/" not in line and "not among the stage's inputs" not in line, line
