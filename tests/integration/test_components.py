"""WASI 0.2 components and the pip-installed toolchains, with the real tools: wasm-tools,
componentize-py, zig (ziglang wheel), clang-16 + libc++, rustc, and wasmtime's component API.

zig compiles its wasi-libc/libc++ on first use (~40 s for C, ~60 s more for C++ on 2 cores):
those builds go to one cache shared by these tests (WASMBUILD_ZIG_CACHE, under the repo's
.wasmbuild-cache/), not to each test's fresh WASMBUILD_CACHE.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, Runner
from tests.integration.engine_fixtures import docker_engine
from tests.integration.registry_fixtures import RegistryServer
from tests.support import missing
from wasmbuild.errors import BuildError, ToolchainError
from wasmbuild.execute import toolchains
from wasmbuild.oci.layout import Layout
from wasmbuild.runtime.component import run_component
from wasmbuild.runtime.run import rootfs, run_spec
from wasmbuild.wasm import binary, component, python, tools

pytestmark = pytest.mark.integration
__all__ = ["docker_engine"]
FIXTURES = REPO / "tests" / "fixtures"


@pytest.fixture(autouse=True)
def shared_zig_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMBUILD_ZIG_CACHE", str(REPO / ".wasmbuild-cache" / "zig"))


def need(name: str) -> None:
    try:
        toolchains.get(name)
    except ToolchainError as err:
        missing(f"toolchain {name}: {err} (run scripts/bootstrap)")


def build_oci(wb: Runner, project: Path, out: Path) -> dict[str, object]:
    proc = wb("build", str(project), "-o", f"oci:{out}", "--json", timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert isinstance(result, dict)
    return result


def image_root(layout_dir: Path) -> tuple[Path, dict[str, object]]:
    """The layout's image unpacked next to it (with the runtime's own unpacking), and its config."""
    layout = Layout(layout_dir)
    desc = layout.resolve(None)
    manifest = layout.read_json(desc.digest)
    dest = layout_dir.parent / f"{layout_dir.name}-root"
    with rootfs(layout, manifest, desc.digest) as root:
        shutil.copytree(root, dest, symlinks=True, dirs_exist_ok=True)
    return dest, layout.read_json(manifest["config"]["digest"])


def run_image_component(layout_dir: Path, args: list[str] | None = None) -> int:
    """Run the layout's image through run_component directly (the runtime's component path)."""
    layout = Layout(layout_dir)
    desc = layout.resolve(None)
    manifest = layout.read_json(desc.digest)
    config = layout.read_json(manifest["config"]["digest"])
    spec = run_spec(config, list(args or []), {})
    with rootfs(layout, manifest, desc.digest) as root:
        return run_component(root / spec.module.lstrip("/"), spec.argv, spec.env, root, spec.workdir)


def test_hello_rust_wrapped_as_a_component(wb: Runner, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    need("rust")
    shutil.copytree(REPO / "examples" / "hello-rust", tmp_path / "hello-rust")
    (tmp_path / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n"
        "  hello:\n    recipe: rust\n    with: {source: hello-rust/hello.rs, output: hello.wasm}\n"
        "  wrap:\n    recipe: component\n    with: {stage: hello, path: hello.wasm, output: hello.wasm}\n"
        "image:\n  files: [{from: wrap, path: hello.wasm, dest: /hello.wasm}]\n  entrypoint: [hello.wasm]\n")
    build_oci(wb, tmp_path, tmp_path / "oci")
    root, _ = image_root(tmp_path / "oci")
    layer_file = root / "hello.wasm"
    assert binary.kind_of_file(layer_file) == "component"
    wit = subprocess.run([tools.wasm_tools_path(), "component", "wit", str(layer_file)],
                         capture_output=True, text=True, check=True).stdout
    assert "export wasi:cli/run@0.2.12;" in wit
    world = binary.component_world(layer_file)
    assert world.name == "wasi:cli/command" and "wasi:cli/environment@0.2.12" in world.imports
    capfd.readouterr()
    assert run_image_component(tmp_path / "oci") == 0
    assert capfd.readouterr().out == "Hello Wasm\n"
    # Wrapping it again is refused on one line, naming the file.
    with pytest.raises(BuildError, match=r"hello\.wasm is already a component") as caught:
        component.wrap(layer_file, tmp_path / "again.wasm")
    assert "\n" not in str(caught.value)


def test_a_wasm_tools_failure_is_one_line(tmp_path: Path) -> None:
    import wasmtime

    bad = tmp_path / "bad.wasm"  # _start must be () -> (): wasm-tools rejects the component
    bad.write_bytes(bytes(wasmtime.wat2wasm('(module (memory (export "memory") 1) (func (export "_start") '
                                            "(result i32) i32.const 0))")))
    with pytest.raises(BuildError, match=r"^wrapping .*bad\.wasm as a component: wasm-tools failed: failed to "
                                         r"encode a component from module: type mismatch for export `_start`") as e:
        component.wrap(bad, tmp_path / "out.wasm")
    assert "\n" not in str(e.value) and e.value.details and "Caused by" in e.value.details


def test_python_app_becomes_a_component(wb: Runner, tmp_path: Path, capfd: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOST_SECRET", "must-not-leak")
    shutil.copytree(FIXTURES / "python-app", tmp_path / "src")
    start = time.monotonic()
    result = build_oci(wb, tmp_path / "src", tmp_path / "oci")
    cold = time.monotonic() - start
    [stage] = result["stages"]  # type: ignore[misc]
    assert stage["cached"] is False
    capfd.readouterr()
    start = time.monotonic()
    assert run_image_component(tmp_path / "oci") == 0
    first_run = time.monotonic() - start
    with capfd.disabled():
        print(f"\npython-component cold build: stage {stage['seconds']:.1f} s, whole build {cold:.1f} s; "
              f"first run (compiles) {first_run:.1f} s")
    # The seed's main.py output, as the component sees it: only the image's env, and its root.
    assert capfd.readouterr().out == "GREETING=hello\n------\nHello World\n------\n['app.wasm']\n"


def test_python_syntax_error_shows_file_and_line(wb: Runner, tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "python-app", tmp_path / "src")
    with (tmp_path / "src" / "app" / "main.py").open("a") as fh:
        fh.write("import broken  # noqa: E402\n")
    (tmp_path / "src" / "app" / "broken.py").write_text('"""Line 2 opens a paren it never closes."""\n'
                                                        "def half(x:\n    return x / 2\n")
    proc = wb("build", str(tmp_path / "src"))
    assert proc.returncode == 3
    lines = proc.stderr.splitlines()
    assert "error: app/broken.py:2: SyntaxError: '(' was never closed" in lines, proc.stderr
    assert lines[-1].startswith("error: ") and "stage 'app': step 1/1" in lines[-1]
    assert "app/broken.py:2: SyntaxError" in lines[-1]  # the step's last line names the cause


def test_missing_wit_world_fails_before_componentize(wb: Runner, tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "python-app", tmp_path / "src")
    wasmfile = tmp_path / "src" / "Wasmfile"
    wasmfile.write_text(wasmfile.read_text().replace("module: main}", 'module: main, world: "wasi:cli/cmd"}'))
    start = time.monotonic()
    proc = wb("build", str(tmp_path / "src"))
    assert proc.returncode == 3 and time.monotonic() - start < 15  # componentize-py never started
    assert ("error: WIT world 'wasi:cli/cmd' is not in the vendored WASI 0.2.12 WIT (use one of: "
            "wasi:cli/command, wasi:cli/imports") in proc.stderr


def test_componentize_api_reports_python_errors(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.py").write_text("x = 1\n")  # no class Run
    with pytest.raises(BuildError, match=r"^app/main\.py defines no class Run") as e:
        python.componentize(app, "main", tmp_path / "out.wasm", show_as="app")
    assert "\n" not in str(e.value) and not (tmp_path / "out.wasm").exists()


def _two_toolchains(project: Path, recipe: str, sources: list[str], includes: list[str]) -> None:
    files = ", ".join(sources)
    inc = f", include_dirs: [{', '.join(includes)}]" if includes else ""
    for tc in ("auto", "zig"):
        (project / f"Wasmfile.{tc}").write_text(
            f"wasmfile: 1\nstages:\n  app:\n    recipe: {recipe}\n"
            f"    with: {{sources: [{files}]{inc}, output: app.wasm, toolchain: {tc}}}\n"
            "image:\n  files: [{from: app, path: app.wasm, dest: /app.wasm}]\n"
            f"  entrypoint: [app.wasm]\n  tags: ['{recipe}-{tc}']\n")


def _same_output_both_ways(wb: Runner, project: Path, recipe: str) -> str:
    outputs = []
    for tc in ("auto", "zig"):
        start = time.monotonic()
        proc = wb("build", str(project / f"Wasmfile.{tc}"), "--json", timeout=1200)
        assert proc.returncode == 0, proc.stderr[-3000:]
        print(f"\n{recipe} via {tc}: {time.monotonic() - start:.1f} s")
        run = wb("run", f"{recipe}-{tc}")
        assert run.returncode == 0, run.stderr
        outputs.append(run.stdout)
    assert outputs[0] == outputs[1]
    return outputs[0]


def test_cxx_with_clang_and_zig_prints_the_same(wb: Runner, tmp_path: Path) -> None:
    need("cxx")
    need("zig")
    shutil.copy(FIXTURES / "cxx-hello" / "main.cpp", tmp_path / "main.cpp")
    _two_toolchains(tmp_path, "cxx", ["main.cpp"], [])
    assert toolchains.probe("cxx").name == "cxx" and "clang++" in toolchains.probe("cxx").env["CXX"]
    assert _same_output_both_ways(wb, tmp_path, "cxx") == "sorted: component hello wasm (3 words)\n"


def test_c_with_several_sources_and_headers_both_ways(wb: Runner, tmp_path: Path) -> None:
    need("c")
    need("zig")
    shutil.copytree(FIXTURES / "c-multi", tmp_path / "p")
    _two_toolchains(tmp_path / "p", "c", ["src/main.c", "src/greet.c"], ["include"])
    assert _same_output_both_ways(wb, tmp_path / "p", "c") == "Hello from two C files: twice(21) = 42\n"


def test_hello_c_through_zig(wb: Runner, tmp_path: Path) -> None:
    need("zig")
    shutil.copytree(REPO / "examples" / "hello-c", tmp_path / "hello-c")
    (tmp_path / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  env-c:\n    recipe: c\n"
        "    with: {sources: [hello-c/hello.c], output: env.wasm, toolchain: zig}\n"
        "image:\n  files: [{from: env-c, path: env.wasm, dest: /env.wasm}]\n  entrypoint: [env.wasm]\n"
        "  env: {GREETING: hello}\n  tags: [zig-c]\n")
    first = wb("build", str(tmp_path / "Wasmfile"), "--json", timeout=1200)
    assert first.returncode == 0, first.stderr[-3000:]
    again = wb("build", str(tmp_path / "Wasmfile"), "--json", "--no-cache")
    assert json.loads(again.stdout)["digest"] == json.loads(first.stdout)["digest"]  # reproducible
    run = wb("run", "zig-c", "7")
    assert run.returncode == 7
    assert run.stdout == "Hello from C (argv[0]=env.wasm, 2 args)\nenv GREETING=hello\nfile /env.wasm\n"


def test_vendored_crate_builds_offline_and_round_trips(wb: Runner, tmp_path: Path, capfd: pytest.CaptureFixture[str],
                                                      registry: RegistryServer,
                                                      isolated_dirs: dict[str, Path]) -> None:
    need("rust")
    shutil.copytree(FIXTURES / "rust-vendored", tmp_path / "src")
    ref = f"{registry.host}/demo/vendored:1"
    proc = wb("build", str(tmp_path / "src"), "-t", ref, "--push", "--plain-http", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    digest = json.loads(proc.stdout)["digest"]
    shutil.rmtree(isolated_dirs["store"])
    shutil.rmtree(isolated_dirs["cache"])
    # Modules and components come back byte for byte: same manifest digest, same files.
    assert wb("pull", ref, "--plain-http").returncode == 0
    inspect = wb("inspect", ref, "--plain-http", "--json")
    assert json.loads(inspect.stdout)["digest"] == digest
    run = wb("run", "--plain-http", ref)
    assert run.returncode == 0 and run.stdout == "Hello Wasm, 12345 from a vendored crate\n"
    out = tmp_path / "oci"
    assert wb("build", str(tmp_path / "src"), "-o", f"oci:{out}").returncode == 0
    root, _ = image_root(out)
    assert binary.kind_of_file(root / "app.wasm") == "module"
    assert binary.kind_of_file(root / "app.component.wasm") == "component"
    capfd.readouterr()
    assert run_component(root / "app.component.wasm", ["app"], {}, root) == 0
    assert capfd.readouterr().out == "Hello Wasm, 12345 from a vendored crate\n"


def test_pip_install_alone_builds_c_in_a_bare_container(tmp_path: Path, docker_engine: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Acceptance: python3 + `pip install .` (no clang, no wasi-libc) builds Wasmfile.example's C
    stage through zig and runs it; the image is byte-identical to this machine's zig build."""
    proc = subprocess.run([str(REPO / "scripts" / "prove-pip-only"), str(tmp_path / "out")], capture_output=True,
                          text=True, timeout=1800, env={**os.environ, "DOCKER_HOST": docker_engine})
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "Hello from C (argv[0]=bin/env.wasm, 1 args)\nenv GREETING=hello\nfile /bin\n" in proc.stdout
    assert "Hello from C (argv[0]=env, 1 args)\nenv FROM=component\n" in proc.stdout  # the wheel's adapter
    with capsys.disabled():
        print("\n" + "\n".join(ln for ln in proc.stdout.splitlines() if ln.startswith("prove-pip-only:")))
    here = Layout(tmp_path / "here")
    wasmfile = tmp_path / "Wasmfile"
    data = yaml.safe_load((REPO / "Wasmfile.example").read_text())
    stage = data["stages"]["env-c"]
    data["stages"] = {"env-c": {**stage, "with": {**stage["with"], "toolchain": "zig"}}}
    data["image"]["files"] = [f for f in data["image"]["files"] if f.get("from") == "env-c"]
    data["image"].update(entrypoint=["bin/env.wasm"], tags=["env-c:latest"])
    wasmfile.write_text(yaml.safe_dump(data, sort_keys=False))
    build = subprocess.run([sys.executable, "-m", "wasmbuild", "build", str(wasmfile), "--context", str(REPO),
                            "-o", f"oci:{here.path}"], capture_output=True, text=True, timeout=1200)
    assert build.returncode == 0, build.stderr[-3000:]
    there = Layout(tmp_path / "out" / "oci")
    assert here.resolve(None).digest == there.resolve(None).digest


def test_component_on_a_stage_wraps_its_modules_and_run_runs_it(wb: Runner, tmp_path: Path) -> None:
    """`component: command` on a recipe stage: the rust module is wrapped after it is built,
    `wasmbuild run` runs the component (wasmtime's component API), the manifest names its world."""
    need("rust")
    shutil.copytree(REPO / "examples" / "hello-rust", tmp_path / "hello-rust")
    (tmp_path / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n"
        "  hello:\n    recipe: rust\n    component: command\n"
        "    with: {source: hello-rust/hello.rs, output: hello.wasm}\n"
        "image:\n  files: [{from: hello, path: hello.wasm, dest: /hello.wasm}]\n"
        "  entrypoint: [hello.wasm]\n  env: {GREETING: hi}\n  tags: [hello-component:1]\n")
    built = wb("build", str(tmp_path), "--json", "-v")
    assert built.returncode == 0, built.stderr
    assert "wrapped hello.wasm as a command component" in built.stderr
    run = wb("run", "hello-component:1")
    assert run.returncode == 0 and run.stdout == "Hello Wasm\n", run.stderr
    info = json.loads(wb("inspect", "hello-component:1", "--json").stdout)
    assert info["annotations"]["dev.wasmbuild.component.world"] == "wasi:cli/command"
    again = wb("build", str(tmp_path), "--json")  # cached, same bytes
    assert json.loads(again.stdout)["digest"] == json.loads(built.stdout)["digest"]
    assert [s["cached"] for s in json.loads(again.stdout)["stages"]] == [True]
    # every image shape that can carry a component runs it: runwasi's Wasm layer (the target a
    # component wants) and the Wasm OCI artifact (wkg, Spin, wasmCloud; no files, no env)
    for fmt in ("runwasi", "artifact"):
        out = tmp_path / f"oci-{fmt}"
        shaped = wb("build", str(tmp_path), "--format", fmt, "-o", f"oci:{out}:1", "--json")
        assert shaped.returncode == 0, shaped.stderr
        assert [s["cached"] for s in json.loads(shaped.stdout)["stages"]] == [True]
        run = wb("run", f"oci:{out}:1")
        assert run.returncode == 0 and run.stdout == "Hello Wasm\n", (fmt, run.stderr)
