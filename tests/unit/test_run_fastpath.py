"""``wasmbuild run``'s fast path (``__main__.py``, ``runtime/command.py``) against the Typer command:
the same argv gives the same stdout, stderr and exit code either way (``WASMBUILD_FAST_RUN=0``
forces the full CLI), for every IMAGE form, ``-e``, ``--`` and errors; what the fast path does not
understand goes to the CLI; and it does not import typer, rich or pydantic."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import wasmtime

from tests.conftest import REPO
from wasmbuild.runtime.command import ENV_NAME_RE, RunArgs, parse_run_argv

ECHO_WAT = r"""
;; Prints its argv, a line "--", its environment (one per line), and exits with argc.
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 2)
  (data (i32.const 64) "--\00")
  (func $line (param $p i32) (local $n i32)
    (block $end (loop $next
      (br_if $end (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $next)))
    (i32.store8 (i32.add (local.get $p) (local.get $n)) (i32.const 10))
    (i32.store (i32.const 16) (local.get $p))
    (i32.store (i32.const 20) (i32.add (local.get $n) (i32.const 1)))
    (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24))))
  (func $lines (param $count i32) (local $i i32)
    (block $end (loop $next
      (br_if $end (i32.ge_u (local.get $i) (local.get $count)))
      (call $line (i32.load (i32.add (i32.const 1024) (i32.shl (local.get $i) (i32.const 2)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next))))
  (func (export "_start") (local $argc i32)
    (drop (call $args_sizes_get (i32.const 0) (i32.const 4)))
    (local.set $argc (i32.load (i32.const 0)))
    (drop (call $args_get (i32.const 1024) (i32.const 8192)))
    (call $lines (local.get $argc))
    (call $line (i32.const 64))
    (drop (call $environ_sizes_get (i32.const 0) (i32.const 4)))
    (drop (call $environ_get (i32.const 1024) (i32.const 65536)))
    (call $lines (i32.load (i32.const 0)))
    (call $proc_exit (local.get $argc))))
"""
WASMFILE = """\
wasmfile: 1
image:
  files: [{src: echo.wasm, dest: /echo.wasm}]
  entrypoint: [echo.wasm]
  cmd: [default-arg]
  env: {GREETING: hello}
"""


def _cli(argv: list[str], env: dict[str, str], fast: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wasmbuild", *argv], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**env, "WASMBUILD_FAST_RUN": "1" if fast else "0"})


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """(env with its own store and cache, IMAGE name -> every form naming the echo image)."""
    root = tmp_path_factory.mktemp("fastpath")
    (root / "p").mkdir()
    (root / "p" / "echo.wasm").write_bytes(wasmtime.wat2wasm(ECHO_WAT))
    (root / "p" / "Wasmfile").write_text(WASMFILE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WASMBUILD_")}
    env.update(WASMBUILD_STORE=str(root / "store"), WASMBUILD_CACHE=str(root / "cache"),
               WASMBUILD_REGISTRY_TIMEOUT="2")
    built = _cli(["build", str(root / "p"), "-t", "echo:1", "--no-sbom"], env, fast=False)
    assert built.returncode == 0, built.stderr
    digest = built.stdout.split()[-1]
    out = _cli(["build", str(root / "p"), "--no-sbom", "-o", f"oci:{root / 'oci'}:v1",
                "-o", f"oci-archive:{root / 'a.tar'}"], env, fast=False)
    assert out.returncode == 0, out.stderr
    yield env, {"store": "echo:1", "store-digest": digest, "store-docker": "docker://echo:1",
                "oci": f"oci:{root / 'oci'}", "oci-tag": f"oci:{root / 'oci'}:v1",
                "archive": f"oci-archive:{root / 'a.tar'}"}


FORMS = ["store", "store-digest", "store-docker", "oci", "oci-tag", "archive"]
# (argv with IMAGE standing for the image; whether the fast path takes it)
CASES = [
    (["IMAGE"], True),
    (["IMAGE", "a", "b c"], True),
    (["IMAGE", "--", "-x", "--help"], True),
    (["IMAGE", "--", "--", "y"], True),
    (["--", "IMAGE", "z"], True),
    (["IMAGE", "-e", "X=1", "--debug"], True),  # after IMAGE: the module's arguments
    (["-e", "A=1", "--env", "B=two words", "--env=C=3", "IMAGE"], True),
    (["-e", "GREETING=override", "IMAGE", "q"], True),
    (["--plain-http", "--tls-verify", "maybe", "--ca-file", "/nowhere", "IMAGE"], True),  # unused locally
    (["--trust-precompiled", "IMAGE"], True),
    (["-e", "BAD", "IMAGE"], True),  # one-line error, exit 2
    (["-e", "1A=x", "IMAGE"], True),
    (["-eA=1", "IMAGE"], False),  # click's attached short value: the CLI decides
    (["--env", "-x", "IMAGE"], False),
    (["--help"], False),
    (["-x", "IMAGE"], False),
    (["--plain-http=yes", "IMAGE"], False),
    ([], False),
    (["-e"], False),
]


def _argv(case: list[str], image: str) -> list[str]:
    return ["run", *[image if t == "IMAGE" else t for t in case]]


@pytest.mark.parametrize("form", FORMS)
def test_every_image_form_runs_the_same_both_ways(images: tuple[dict[str, str], dict[str, str]], form: str) -> None:
    env, names = images
    argv = _argv(["-e", "X=1", "IMAGE", "a", "--", "b"], names[form])
    fast, full = _cli(argv, env), _cli(argv, env, fast=False)
    assert (fast.returncode, fast.stdout, fast.stderr) == (full.returncode, full.stdout, full.stderr)
    assert fast.stdout == "echo.wasm\na\n--\nb\n--\nGREETING=hello\nX=1\n" and fast.returncode == 4


@pytest.mark.parametrize(("case", "fast_path"), CASES, ids=[" ".join(c) or "(none)" for c, _ in CASES])
def test_fast_path_and_typer_command_agree(images: tuple[dict[str, str], dict[str, str]], case: list[str],
                                           fast_path: bool) -> None:
    env, names = images
    argv = _argv(case, names["store"])
    assert (parse_run_argv(argv[1:]) is not None) == fast_path
    fast, full = _cli(argv, env), _cli(argv, env, fast=False)
    assert (fast.returncode, fast.stdout, fast.stderr) == (full.returncode, full.stdout, full.stderr)
    if fast_path and "error:" in fast.stderr:
        assert len(fast.stderr.splitlines()) == 1 and fast.returncode == 2  # one line, ConfigError's code


def test_errors_are_one_line_with_the_kinds_exit_code(images: tuple[dict[str, str], dict[str, str]]) -> None:
    env, _names = images
    for argv, code, message in [
        (["run", "nothing:here"], 6, "error: no image 'nothing:here' in the local store"),
        (["run", "oci:/nonexistent/layout"], 6, "error: /nonexistent/layout is not an OCI image layout"),
        (["run", "-e", "NOPE", "echo:1"], 2, "error: --env 'NOPE' is not KEY=VALUE"),
        (["run", "--tls-verify", "maybe", "127.0.0.1:9/none:1"], 2, "error: --tls-verify expects true or false"),
        (["run", "--plain-http", "127.0.0.1:9/none:1"], 5, "error: "),
    ]:
        fast, full = _cli(argv, env), _cli(argv, env, fast=False)
        assert (fast.returncode, fast.stdout, fast.stderr) == (full.returncode, full.stdout, full.stderr)
        assert fast.returncode == code and fast.stderr.startswith(message), (argv, fast.stderr)
        assert len(fast.stderr.splitlines()) == 1 and fast.stdout == ""


def test_fast_path_imports_no_cli_framework(images: tuple[dict[str, str], dict[str, str]]) -> None:
    env, names = images
    probe = ("import sys; from wasmbuild.__main__ import main; code = main(['run', sys.argv[1]]); "
             "heavy = sorted({'typer', 'click', 'rich', 'pydantic'} & set(sys.modules)); "
             "print(heavy, file=sys.stderr); sys.exit(code)")
    proc = subprocess.run([sys.executable, "-c", probe, names["store"]], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip() == "[]"
    assert proc.stdout == "echo.wasm\ndefault-arg\n--\nGREETING=hello\n"


def test_parsing_matches_the_commands_options() -> None:
    from wasmbuild.load.model import ENV_NAME_RE as MODEL_ENV_NAME_RE

    assert ENV_NAME_RE == MODEL_ENV_NAME_RE
    assert parse_run_argv(["-e", "A=1", "--tls-verify=false", "--ca-file", "ca.pem", "img", "x", "-e"]) == RunArgs(
        "img", ["x", "-e"], ["A=1"], False, "false", Path("ca.pem"), False)
    assert parse_run_argv(["--", "img", "--", "a"]) == RunArgs("img", ["--", "a"])
    # Every option of the Typer command is known to the fast path (a new one must be added there).
    import inspect

    from wasmbuild.cli.images import run_cmd

    declared = {p.name for p in inspect.signature(run_cmd).parameters.values()}
    assert declared - {"image", "args"} == set(RunArgs.__dataclass_fields__) - {"image", "args"}
