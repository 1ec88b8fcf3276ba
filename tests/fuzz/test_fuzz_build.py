"""Fuzzing ``build`` past the plan: mutated Wasmfiles run through the scheduler, the stage cache
and ``assemble`` with an executor that fills each declared output with a file, a directory or a
symlink (no compiler), then the image is tagged and inspected. Only a WasmbuildError may end
it; and ``run``'s reading of an image config (``run_spec``) takes any JSON."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import REPO
from tests.fuzz.strategies import ANY, PLAUSIBLE, dump, mutated_data
from wasmbuild.assemble.assemble import AssembleOptions
from wasmbuild.errors import WasmbuildError
from wasmbuild.execute.executors import Log, StageJob
from wasmbuild.inspect import inspect_layout
from wasmbuild.oci.layout import Layout
from wasmbuild.pipeline import BuildOptions, ExecuteOptions, build, prepare
from wasmbuild.render.project import StageSpec
from wasmbuild.runtime.run import run_spec

EXAMPLES = int(os.environ.get("WASMBUILD_FUZZ_EXAMPLES", "800")) // 8
GOLDEN = (REPO / "tests/fixtures/golden/hello.wasm").read_bytes()


class Filling:
    """An executor whose steps do nothing and whose outputs appear: shape chosen by ``kinds``."""

    def __init__(self, spec: StageSpec, kinds: list[str]):
        self.spec, self.kinds = spec, kinds
        self.src = "/src"

    def identity(self, spec: StageSpec) -> str:
        return "fuzz"

    @contextlib.contextmanager
    def session(self, job: StageJob) -> Iterator[Filling]:
        yield self

    def copy_in(self, src: Path) -> None:
        pass

    def run_step(self, step: str, log: Log) -> int:
        return 0

    def copy_out(self, out: Path) -> None:
        for i, name in enumerate(self.spec.outputs):
            path = out / name
            kind = self.kinds[i % len(self.kinds)] if self.kinds else "wasm"
            try:  # outputs may overlap (lib, lib/x.wasm): a file where a directory goes stays
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError:
                continue
            if path.exists() or path.is_symlink():
                continue
            if kind == "wasm":
                path.write_bytes(GOLDEN)
            elif kind == "dir":
                (path / "sub").mkdir(parents=True)
                (path / "sub" / "f.txt").write_text("x")
                os.symlink("../../../../etc/passwd", path / "sub" / "escape")
            elif kind == "symlink":
                os.symlink("/etc/passwd", path)
            else:
                path.write_text("not wasm")


def builds_or_refuses(ctx: Path, text: str, kinds: list[str], tmp: Path) -> None:
    wasmfile = ctx / "Wasmfile"
    wasmfile.write_text(text)
    try:
        plan = prepare(wasmfile)
    except WasmbuildError:
        event("refused by prepare")
        return
    store = Layout(tmp / "store").init()
    execute = ExecuteOptions(jobs=1, executor_factory=lambda spec, *, sandbox: Filling(spec, kinds))
    options = BuildOptions(store=store, execute=execute, assemble=AssembleOptions())
    try:
        built = build(plan, options)
        store.tag("fuzz:latest", built.descriptor)
        inspect_layout(store, "fuzz:latest", source="store", ref="fuzz")
        event("built")
    except WasmbuildError as exc:
        event(f"refused by build: {type(exc).__name__}")
        assert "\n" not in str(exc)


WEIRD = st.one_of(st.text(max_size=12), st.sampled_from(["", "\x00", "é", "\u202e", "a=b", "x" * 300, "\n"]))
OUTPUTS = st.lists(st.sampled_from(["app.wasm", "lib", "lib/x.wasm", "a/b/c", "share", "m.wasm", "o"]),
                   min_size=1, max_size=3, unique=True)


@st.composite
def buildable(draw: st.DrawFn) -> str:
    """A Wasmfile that gets past the plan: explicit stages (the executor fills their outputs),
    image files from them or the context, and odd but valid image settings."""
    stages: dict[str, Any] = {}
    for i in range(draw(st.integers(1, 3))):
        outputs = draw(OUTPUTS)
        stage: dict[str, Any] = {"steps": ["true"], "outputs": outputs}
        if stages and draw(st.booleans()):
            source = draw(st.sampled_from(sorted(stages)))
            stage["inputs"] = [{"from": source, "path": stages[source]["outputs"][0]}]
        stages[f"s{i}"] = stage
    files = []
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            name = draw(st.sampled_from(sorted(stages)))
            files.append({"from": name, "path": draw(st.sampled_from(stages[name]["outputs"])),
                          "dest": draw(st.sampled_from(["/app.wasm", "/lib", "/a/b", "/app.wasm/x", "/x.wasm"]))})
        else:
            files.append({"src": draw(st.sampled_from(["app.wasm", "dir", "data.txt", "link-out"])),
                          "dest": draw(st.sampled_from(["/app.wasm", "/dir", "/data.txt", "/etc"]))})
        if draw(st.booleans()):
            files[-1]["mode"] = draw(st.sampled_from([0, 0o644, 0o4755, 0o7777]))
    image = {"files": files,
             "entrypoint": [draw(st.sampled_from(["/app.wasm", "app.wasm", "/x.wasm", "/lib", "/a/b"])),
                            *draw(st.lists(WEIRD, max_size=2))],
             "cmd": draw(st.lists(WEIRD, max_size=2)),
             "env": draw(st.dictionaries(st.sampled_from(["A", "B_1", "x"]), WEIRD, max_size=2)),
             "workdir": draw(st.sampled_from(["/", "/lib", "/a/../..", "/nope", "/app.wasm"])),
             "labels": draw(st.dictionaries(WEIRD, WEIRD, max_size=2)),
             "annotations": draw(st.dictionaries(WEIRD, WEIRD, max_size=2)),
             "variant": draw(st.sampled_from(["compat", None, "x"])),
             "tags": draw(st.lists(st.sampled_from(["a:1", "localhost:5000/x/y:2", "b"]), max_size=2))}
    return dump({"wasmfile": 1, "stages": stages, "image": image})


KINDS = st.lists(st.sampled_from(["wasm", "wasm", "dir", "symlink", "text"]), max_size=3)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@FUZZ
@given(text=st.one_of(buildable(), buildable(), mutated_data(), PLAUSIBLE.map(dump)), kinds=KINDS)
def test_build_with_filled_outputs(context: Path, tmp_path: Path, text: str, kinds: list[str]) -> None:
    tmp = tmp_path / "case"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    builds_or_refuses(context, text, kinds, tmp)


@settings(max_examples=EXAMPLES * 4, deadline=None, database=None)
@given(config=st.one_of(ANY, st.fixed_dictionaries({"config": st.dictionaries(
    st.sampled_from(["Entrypoint", "Cmd", "Env", "WorkingDir"]), ANY)})),
       args=st.lists(st.text(max_size=5), max_size=2))
def test_run_reads_any_config(config: Any, args: list[str]) -> None:
    try:
        run_spec(config, args, {})
    except WasmbuildError as exc:
        assert "\n" not in str(exc)
