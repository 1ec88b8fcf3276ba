"""Typed options and results (issue 18, item 3): the ``--sandbox`` setting reaches every executor
factory, one :class:`BuildResult` gives ``--json``, ``--metadata-file`` and the Action's outputs,
``build --target`` is its own entry point, and the CLI opens the store once."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.pipeline import GOLDEN, WASMFILE, FakeExecutor
from wasmbuild import pipeline
from wasmbuild.cli.build import build_cmd
from wasmbuild.oci.layout import Layout
from wasmbuild.pipeline import BuildOptions, BuildResult, ExecuteOptions, build_and_publish, build_target, prepare
from wasmbuild.publish import LayoutPublisher, MultiPublisher, Published, StorePublisher
from wasmbuild.ui import NullReporter

ROOT = Path(__file__).resolve().parents[2]


def _project(root: Path) -> Path:
    root.mkdir(parents=True)
    shutil.copy(GOLDEN, root / "hello.wasm")
    (root / "Wasmfile").write_text(WASMFILE)
    return root


def _inject(monkeypatch: pytest.MonkeyPatch, fake: FakeExecutor) -> None:
    """Every build's stages run by ``fake.factory``, whatever factory the CLI chose, with the
    rest of the execute options (``--sandbox`` among them) as the CLI set them."""
    real = pipeline.Scheduler

    def scheduler(the_plan: Any, options: ExecuteOptions, *rest: Any) -> Any:
        return real(the_plan, dataclasses.replace(options, executor_factory=fake.factory), *rest)

    monkeypatch.setattr(pipeline, "Scheduler", scheduler)


@pytest.mark.parametrize(("flag", "sandboxed"), [("off", False), ("on", True)])
def test_the_sandbox_setting_reaches_an_injected_executor_factory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        flag: str, sandboxed: bool) -> None:
    fake = FakeExecutor()
    _inject(monkeypatch, fake)
    build_cmd(wasmfile=_project(tmp_path / "p"), sandbox=flag, json_out=True, progress="plain")
    assert fake.sandbox == {"first": sandboxed, "second": sandboxed}
    out = capsys.readouterr()
    assert json.loads(out.out)["tags"] == ["p:latest"]
    assert ("warning: --sandbox=off" in out.err) is not sandboxed


def _built(tmp_path: Path) -> tuple[BuildResult, Path, FakeExecutor]:
    store = Layout(tmp_path / "store").init()
    fake = FakeExecutor()
    options = BuildOptions(store=store, execute=ExecuteOptions(executor_factory=fake.factory))
    oci = tmp_path / "oci"
    multi = MultiPublisher([StorePublisher(store, ["demo:1"]), LayoutPublisher(oci, ["1"])])
    return build_and_publish(prepare(_project(tmp_path / "p")), options, multi, NullReporter()), oci, fake


def _documented_metadata() -> tuple[set[str], set[str]]:
    """The keys action.yml's ``metadata`` output documents: top level, and of each stage."""
    outputs = yaml.safe_load((ROOT / "action.yml").read_text())["outputs"]
    listed = outputs["metadata"]["description"].split("):", 1)[1].strip().rstrip(".")
    stage = re.search(r"stages \(([^)]*)\)", listed)
    assert stage is not None, listed
    top = {k.strip() for k in re.sub(r"\([^)]*\)", "", listed).split(",")}
    return top, {k.strip() for k in stage.group(1).split(",")}


def test_one_result_gives_json_and_the_metadata_file_with_the_documented_keys(tmp_path: Path) -> None:
    result, oci, _ = _built(tmp_path)
    data = result.to_json()
    assert json.loads(json.dumps(data)) == data  # plain JSON: nothing a reader would see change
    assert set(data) == {"digest", "size", "layer_reused", "platform", "targets", "stages", "referrers",
                         "tags", "pushed", "attached"}
    assert result.published == Published(tags=("demo:1", f"oci:{oci}:1"))
    assert (data["tags"], data["pushed"], data["attached"]) == (["demo:1", f"oci:{oci}:1"], [], [f"oci:{oci}"])
    assert data["digest"] == result.digest == json.loads((oci / "index.json").read_text())["manifests"][0]["digest"]
    assert [(s["name"], s["cached"]) for s in data["stages"]] == [("first", False), ("second", False)]
    assert {r["artifactType"] for r in data["referrers"]} == {r.artifact_type for r in result.image.referrers}  # type: ignore[union-attr]

    meta = result.metadata()
    assert meta == {**data, "containerimage.digest": data["digest"], "image.name": "demo:1"}
    top, stage = _documented_metadata()
    assert top - {"image"} <= set(meta)  # `image` is the Action's own (name@digest)
    assert all(set(s) == stage for s in meta["stages"])
    # Keys that only apply to some builds are there exactly when they do.
    more = dataclasses.replace(result, cache_imported=0, cache_to="r/c@sha256:1", signed=({"digest": "d"},))
    assert (more.to_json()["cache_imported"], more.to_json()["cache_to"], more.to_json()["signed"]) == (
        0, "r/c@sha256:1", [{"digest": "d"}])
    assert not {"cache_imported", "cache_to", "signed"} & set(data)


def test_target_is_its_own_entry_point(tmp_path: Path) -> None:
    fake = FakeExecutor()
    options = BuildOptions(store=Layout(tmp_path / "store").init(),
                           execute=ExecuteOptions(executor_factory=fake.factory, sandbox=False))
    project = _project(tmp_path / "p")
    out = tmp_path / "out"
    result = build_target(prepare(project, target="first"), options, NullReporter(), export=out)
    assert fake.ran == [("first", "copy hello.wasm")] and fake.sandbox == {"first": False}
    assert (out / "hello.wasm").read_bytes() == GOLDEN.read_bytes()
    assert result.image is None and result.digest is None
    data = result.to_json()
    assert json.loads(json.dumps(data)) == data
    assert (data["target"], [s["name"] for s in data["stages"]], data["exported"]) == ("first", ["first"],
                                                                                       [f"local:{out}"])
    assert result.metadata() == data  # no image: no buildx digest keys
    # Each entry point takes its own kind of plan.
    with pytest.raises(ValueError, match="build_target"):
        build_and_publish(prepare(project, target="first"), options, MultiPublisher(), NullReporter())
    with pytest.raises(ValueError, match="target"):
        build_target(prepare(project), options, NullReporter())


def test_the_cli_opens_the_store_once_and_target_goes_to_build_target(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[tuple[str, BuildOptions, Any]] = []

    def image(the_plan: Any, options: BuildOptions, multi: MultiPublisher, *rest: Any) -> BuildResult:
        calls.append(("image", options, multi))
        return BuildResult(())

    def target(the_plan: Any, options: BuildOptions, reporter: Any, export: Path | None, *rest: Any) -> BuildResult:
        calls.append(("target", options, export))
        return BuildResult((), target=the_plan.target, exported=(f"local:{export}",))

    monkeypatch.setattr(pipeline, "build_and_publish", image)
    monkeypatch.setattr(pipeline, "build_target", target)
    project = _project(tmp_path / "p")
    build_cmd(wasmfile=project, progress="plain")
    build_cmd(wasmfile=project, target="first", output=[f"local:{tmp_path / 'out'}"], progress="plain")
    [(kind, options, multi), (kind2, _, export)] = calls
    assert (kind, kind2, export) == ("image", "target", tmp_path / "out")
    [store_publisher] = multi.publishers
    assert isinstance(store_publisher, StorePublisher) and store_publisher.store is options.store
    said = capsys.readouterr().out.splitlines()[-1]
    assert said == f"target first: 0 stage(s), 0 built, exported to local:{tmp_path / 'out'}"
