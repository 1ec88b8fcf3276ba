"""The pipeline with an injected executor: scheduling, caching and assembly, no toolchain."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.pipeline import GOLDEN, WASMFILE, FakeExecutor
from wasmbuild.oci.layout import Layout
from wasmbuild.pipeline import BuildOptions, ExecuteOptions, build, prepare


def test_injected_executor_runs_each_stage_once_then_the_cache_answers(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    shutil.copy(GOLDEN, tmp_path / "p" / "hello.wasm")
    (tmp_path / "p" / "Wasmfile").write_text(WASMFILE)
    fake = FakeExecutor()
    store = Layout(tmp_path / "store").init()
    options = BuildOptions(store=store, execute=ExecuteOptions(executor_factory=fake.factory), uncached=True)
    first = build(prepare(tmp_path / "p"), options)
    assert fake.ran == [("first", "copy hello.wasm"), ("second", "copy in.wasm")]
    assert [s.cached for s in first.stages] == [False, False]
    second = build(prepare(tmp_path / "p"), options)
    assert len(fake.ran) == 2 and [s.cached for s in second.stages] == [True, True]
    assert second.digest == first.digest
    manifest = store.read_json(first.digest)
    assert store.has_blob(manifest["layers"][0]["digest"])


def test_the_default_image_name_is_the_directory_made_a_valid_reference(tmp_path: Path) -> None:
    from wasmbuild.pipeline import image_names
    from wasmbuild.reference import parse

    for dirname, expected in (("My_Project", "my-project"), ("wb-project-_x7", "wb-project-x7"),
                              ("__", "image"), ("hello", "hello")):
        project = tmp_path / dirname
        project.mkdir()
        shutil.copy(GOLDEN, project / "hello.wasm")
        (project / "Wasmfile").write_text(
            "wasmfile: 1\nimage:\n  files: [{src: hello.wasm, dest: /hello.wasm}]\n  entrypoint: [hello.wasm]\n")
        [name] = image_names(prepare(project), [])
        assert name == expected and str(parse(name)) == f"{expected}:latest"


def test_a_script_step_is_named_by_its_first_command_in_logs_and_errors() -> None:
    """A recipe's build.sh is one step of ~250 lines: the log and a failure name it by its first
    command and length, not by its comment header (a one-line step stays as written)."""
    from wasmbuild.errors import StepFailed, step_title

    script = "#!/bin/sh\n# Build things.\n#\nset -eu\nmake all\nmake install\n"
    assert step_title(script) == "set -eu ... (6 lines)"
    assert step_title("echo hi > $OUT/x") == "echo hi > $OUT/x"
    failed = StepFailed(stage="py", index=1, total=1, step=script, exit_code=2, tail=["make: *** [all] Error 1"])
    assert failed.message == ("stage 'py': step 1/1 `set -eu ... (6 lines)` exited with code 2: "
                              "make: *** [all] Error 1")
