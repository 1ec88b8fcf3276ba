"""The pipeline's test doubles: the golden module, a two-stage Wasmfile and an executor that
understands one step (no toolchain), shared by the unit and integration tiers."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wasmbuild.execute.executors import Log, StageJob
from wasmbuild.render.project import StageSpec

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden" / "hello.wasm"

WASMFILE = """\
wasmfile: 1
stages:
  first:
    inputs: [hello.wasm]
    steps: ["copy hello.wasm"]
    outputs: [hello.wasm]
  second:
    inputs: [{from: first, path: hello.wasm, dest: in.wasm}]
    steps: ["copy in.wasm"]
    outputs: [in.wasm]
image:
  files: [{from: second, path: in.wasm, dest: /app.wasm}]
  entrypoint: [app.wasm]
"""


class FakeExecutor:
    """Understands one step, ``copy NAME``: $SRC/NAME -> $OUT/NAME."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, str]] = []
        #: The ``sandbox`` setting each stage's factory call was given, by stage.
        self.sandbox: dict[str, bool] = {}

    def factory(self, spec: StageSpec, *, sandbox: bool) -> FakeExecutor:
        """An ``ExecutorFactory`` that gives this executor for every stage and records the
        sandbox setting it was given (a fake has nothing to confine; tests check it arrived)."""
        self.sandbox[spec.name] = sandbox
        return self

    def identity(self, spec: StageSpec) -> str:
        return "fake-1"

    @contextlib.contextmanager
    def session(self, job: StageJob) -> Iterator[FakeExecutor._Session]:
        yield FakeExecutor._Session(self, job)

    class _Session:
        def __init__(self, owner: FakeExecutor, job: StageJob):
            self.owner, self.job = owner, job
            self.src = str(job.src)

        def copy_in(self, src: Path) -> None:
            pass

        def run_step(self, step: str, log: Log) -> int:
            self.owner.ran.append((self.job.name, step))
            _verb, name = step.split()
            shutil.copy(self.job.src / name, self.job.out / name)
            log(f"copied {name}")
            return 0

        def copy_out(self, out: Path) -> None:
            pass


def attested_documents(root: Path, extra_input: str, formats: list[str]) -> dict[str, Any]:
    """Build the golden project in ``root/p`` with one more input of its first stage
    (``extra_input``, YAML flow) and the attestations ``formats``; the documents attached, by
    artifact type (SPDX, CycloneDX, in-toto)."""
    import json

    from wasmbuild.assemble.assemble import AssembleOptions
    from wasmbuild.attest import AttestOptions
    from wasmbuild.oci.layout import Layout
    from wasmbuild.oci.referrers import document_bytes, referrers
    from wasmbuild.pipeline import BuildOptions, ExecuteOptions, build, prepare

    (root / "p").mkdir()
    shutil.copy(GOLDEN, root / "p" / "hello.wasm")
    (root / "p" / "Wasmfile").write_text(WASMFILE.replace("    inputs: [hello.wasm]",
                                                          f"    inputs: [hello.wasm, {extra_input}]"))
    options = BuildOptions(store=Layout(root / "store").init(),
                           execute=ExecuteOptions(executor_factory=FakeExecutor().factory),
                           assemble=AssembleOptions(), attest=AttestOptions.parse(formats))
    built = build(prepare(root / "p" / "Wasmfile"), options)
    return {d.artifact_type: json.loads(document_bytes(built.layout.read_blob, built.layout.read_json(d.digest)))
            for d in referrers(built.layout, built.digest)}
