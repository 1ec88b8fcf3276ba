"""The Action on a stock machine: its install and run scripts in a container that has python3 and
venv and nothing else (no clang, no wasi-libc, no Rust), as a fresh GitHub runner job has them.

One container run installs wasmbuild from this checkout with pip (like action.yml), then runs the
action script several times, each like one CI job step: a project with a shell stage (outputs,
summary, and the stage cache reused by the second run), a Rust project (no Rust there: one clear
error, exit 4), the C example, which builds with the zig that pip brought (the `c` recipe's
fallback when clang is missing), the Zig example (the same zig), the Go example, whose Go
the action installs first (the `go` folder's `setup`: wasmbuild's `go` extra), and the
JavaScript, AssemblyScript and Ruby examples, whose Node.js (none in the container) the action
installs from PyPI (the `node` toolchain's `setup`: wasmbuild's `node` extra), its npm fetching
their pinned packages.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import STAGED, missing

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "fixtures" / "golden" / "hello.wasm"
DOCKERFILE = """\
FROM debian:bookworm-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null \\
    && rm -rf /var/lib/apt/lists/*
"""
RUST = """\
wasmfile: 1
stages:
  hello:
    recipe: rust
    with: {source: hello.rs, output: hello.wasm}
image:
  files: [{from: hello, path: hello.wasm, dest: /hello.wasm}]
  entrypoint: [hello.wasm]
"""
C = """\
wasmfile: 1
stages:
  env-c:
    recipe: c
    with: {sources: [hello.c], output: env.wasm}
image:
  files: [{from: env-c, path: env.wasm, dest: /bin/env.wasm}]
  entrypoint: [bin/env.wasm]
  env: {GREETING: hello}
"""
DRIVER = r"""
set -u
export RUNNER_TEMP=/work/tmp GITHUB_PATH=/work/github_path ACTION_PATH=/action PIP_CERT=/host-ca.crt
mkdir -p "$RUNNER_TEMP"
for tool in clang clang-16 cc gcc c++ rustc cargo rustup wasm-ld zig go node npm; do
  if command -v "$tool" >/dev/null; then echo "not python-only: $tool is installed" >&2; exit 90; fi
done
for dir in /usr/lib/wasm32-wasi /usr/include/wasm32-wasi /opt/wasi-sdk; do
  if [ -e "$dir" ]; then echo "not python-only: $dir exists" >&2; exit 90; fi
done
bash /action/scripts/action-install.sh >/work/install.log 2>&1 || exit 91
PATH="$(cat "$GITHUB_PATH"):$PATH"
export PATH WASMBUILD_CACHE=/work/runner-cache WASMBUILD_STORE=/work/store
step() {  # step NAME PROJECT: one run of the action's script, as a job step
  # A container without privileges cannot create user namespaces, so no bubblewrap sandbox:
  # the workflow says so (sandbox: false), and the build log warns.
  (cd "/work/$2" && INPUT_TAGS="$2:1" INPUT_SANDBOX=false \
    GITHUB_OUTPUT="/work/$1.out" GITHUB_STEP_SUMMARY="/work/$1.md" \
    bash /action/scripts/action-run.sh) >"/work/$1.log" 2>&1
  echo $? >"/work/$1.rc"
}
: >/work/staged1.out; : >/work/staged2.out; : >/work/rust.out
step staged1 staged
step staged2 staged
step rust rust
if [ -n "${WITH_C:-}" ]; then
  : >/work/c.out
  step c c
  wasmbuild run c:1 >/work/c-run.out 2>&1; echo $? >/work/c-run.rc
  for lang in zig go js assemblyscript ruby; do
    : >"/work/$lang.out"
    step "$lang" "$lang"
    wasmbuild run "$lang:1" a >"/work/$lang-run.out" 2>&1; echo $? >"/work/$lang-run.rc"
  done
fi
"""


def _engine_run(args: list[str], timeout: float = 1500) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False,
                          env=dict(os.environ))


def python_only_image() -> str:
    tag = "wasmbuild-test/python-only:" + hashlib.sha256(DOCKERFILE.encode()).hexdigest()[:12]
    if _engine_run(["image", "inspect", tag], 60).returncode != 0:
        built = subprocess.run(["docker", "build", "--network", "host", "-t", tag, "-"], input=DOCKERFILE,
                               capture_output=True, text=True, timeout=900, check=False)
        if built.returncode != 0:
            missing(f"cannot build the python-only image: {built.stderr.strip()[-400:]}")
    return tag


def checkout_copy(dest: Path) -> Path:
    """This checkout as git sees it (tracked and untracked, not ignored): no .venv, no caches."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / os.fsdecode(name)
        if src.is_file():
            (dest / os.fsdecode(name)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / os.fsdecode(name))
    return dest


def projects(work: Path) -> None:
    for name, wasmfile in (("staged", STAGED), ("rust", RUST), ("c", C)):
        (work / name).mkdir(parents=True)
        (work / name / "Wasmfile").write_text(wasmfile)
    shutil.copy(GOLDEN, work / "staged" / "app.wasm")
    shutil.copy(ROOT / "examples" / "hello-rust" / "hello.rs", work / "rust" / "hello.rs")
    shutil.copy(ROOT / "examples" / "hello-c" / "hello.c", work / "c" / "hello.c")
    for lang in ("zig", "go", "js", "assemblyscript", "ruby"):  # the examples as they are, tags from the step
        shutil.copytree(ROOT / "examples" / f"hello-{lang}", work / lang)


def outputs(work: Path, step: str) -> dict[str, str]:
    text = (work / f"{step}.out").read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


@pytest.fixture(scope="module")
def ran(docker_engine: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The work folder after one container run of every step (see DRIVER)."""
    image = python_only_image()
    tmp = tmp_path_factory.mktemp("action-container")
    action, work = checkout_copy(tmp / "action"), tmp / "work"
    projects(work)
    (work / "driver.sh").write_text(DRIVER)
    ca = os.environ.get("PIP_CERT", "/etc/ssl/certs/ca-certificates.crt")
    proc = _engine_run(["run", "--rm", "--network", "host", "-v", f"{action}:/action:ro", "-v", f"{work}:/work",
                        "-v", f"{ca}:/host-ca.crt:ro", "-e", "WITH_C=1", "-e", "NODE_EXTRA_CA_CERTS=/host-ca.crt",
                        image, "bash", "/work/driver.sh"])
    install = (work / "install.log").read_text() if (work / "install.log").exists() else ""
    assert proc.returncode == 0, f"{proc.stdout}{proc.stderr}\n{install}"
    return work


def test_outputs_summary_and_stage_cache(ran: Path) -> None:
    for step in ("staged1", "staged2"):
        assert (ran / f"{step}.rc").read_text().strip() == "0", (ran / f"{step}.log").read_text()
        assert "warning: --sandbox=off: host stages run unconfined" in (ran / f"{step}.log").read_text()
    first, second = outputs(ran, "staged1"), outputs(ran, "staged2")
    assert first["digest"].startswith("sha256:") and first["digest"] == second["digest"]
    assert first["image"] == f"staged@{first['digest']}"
    assert [s["cached"] for s in json.loads(first["metadata"])["stages"]] == [False]
    assert [s["cached"] for s in json.loads(second["metadata"])["stages"]] == [True]
    assert "| app | built |" in (ran / "staged1.md").read_text()
    assert "| app | cached |" in (ran / "staged2.md").read_text()


def test_a_missing_toolchain_is_one_clear_error(ran: Path) -> None:
    """Rust with neither rustup nor rustc: the action says which toolchain and how to get it."""
    log = (ran / "rust.log").read_text()
    assert (ran / "rust.rc").read_text().strip() == "4", log
    errors = [line for line in log.splitlines() if line.startswith("::error::")]
    assert len(errors) == 1, log
    assert errors[0].startswith("::error::wasmbuild: rust (stages hello): MISSING: no Rust compiler")
    assert "rustup target add wasm32-wasip1" in errors[0]
    assert outputs(ran, "rust") == {}


def test_the_c_example_builds_with_pip_only_toolchains(ran: Path) -> None:
    log = (ran / "c.log").read_text()
    assert (ran / "c.rc").read_text().strip() == "0", log
    assert outputs(ran, "c")["digest"].startswith("sha256:")
    run = (ran / "c-run.out").read_text()
    assert (ran / "c-run.rc").read_text().strip() == "0", run
    assert run.startswith("Hello from C (argv[0]=bin/env.wasm, 1 args)\nenv GREETING=hello\n"), run


@pytest.mark.parametrize("lang", ["zig", "go"])
def test_the_zig_and_go_examples_build_on_a_stock_runner(ran: Path, lang: str) -> None:
    """zig came with wasmbuild; Go is installed by the action's set-up of the `go` toolchain."""
    log = (ran / f"{lang}.log").read_text()
    assert (ran / f"{lang}.rc").read_text().strip() == "0", log
    assert outputs(ran, lang)["digest"].startswith("sha256:")
    if lang == "go":
        assert "go: \"$WASMBUILD_PYTHON\" -m pip install" in log, log  # the folder's set-up ran
    run = (ran / f"{lang}-run.out").read_text()
    assert (ran / f"{lang}-run.rc").read_text().strip() == "0", run
    title = {"zig": "Zig", "go": "Go"}[lang]
    assert run == f"env: GREETING=hi\nargs: a\nHello from {title} on WASI\n", run


@pytest.mark.parametrize(("lang", "title"), [("js", "JavaScript"), ("assemblyscript", "AssemblyScript"),
                                             ("ruby", "Ruby")])
def test_the_node_examples_build_on_a_runner_without_node(ran: Path, lang: str, title: str) -> None:
    """No Node.js in the container: the `node` toolchain's set-up brings PyPI's; npm fetches the
    packages the recipes and the lockfiles pin; the stages run that node."""
    log = (ran / f"{lang}.log").read_text()
    assert (ran / f"{lang}.rc").read_text().strip() == "0", log
    assert outputs(ran, lang)["digest"].startswith("sha256:")
    assert "node: node -e" in log and "[node]" in log, log  # the folder's set-up ran
    assert "node (stages app): ok (node v24." in log, log
    run = (ran / f"{lang}-run.out").read_text()
    assert (ran / f"{lang}-run.rc").read_text().strip() == "0", run
    expected = f"env: GREETING=hi\nargs: a\nHello from {title} on WASI\n"
    if lang == "ruby":
        expected += "root: app etc ruby.wasm\n"
    assert run == expected, run
