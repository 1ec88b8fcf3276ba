"""The `ruby` recipe (issue 20, Ruby part): examples/hello-ruby, CRuby for WASI from npm's
@ruby/3.4-wasm-wasi made a WASI command with npm's binaryen, run by `wasmbuild run` and by podman
through crun, reproducible, both npm packages in the SBOM; `wasmbuild init` on a Ruby app."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, Runner
from tests.integration.consumer_fixtures import Podman
from tests.support import examples, require

pytestmark = pytest.mark.integration
# the seed article's point: only the image's env and the image's files
OUT = "env: GREETING=hi\nargs: {args}\nHello from Ruby on WASI\nroot: app etc ruby.wasm\n"


def test_hello_ruby_builds_runs_and_reproduces(wb: Runner, tmp_path: Path) -> None:
    require("npm")
    layout, digest = examples.build_example(wb, "hello-ruby", tmp_path)
    examples.assert_runs(wb, layout, OUT)
    ctx = tmp_path / "hello-ruby"
    # the standard library is embedded (json), a script's error is ruby's message and exit 1
    (ctx / "main.rb").write_text('require "json"\nputs JSON.generate([RUBY_VERSION[0, 3]])\nraise "boom"\n')
    rebuilt = wb("build", str(ctx), "-o", f"oci:{tmp_path / 'oci2'}", timeout=900)
    assert rebuilt.returncode == 0, rebuilt.stderr
    raised = wb("run", f"oci:{tmp_path / 'oci2'}")
    assert (raised.returncode, raised.stdout) == (1, '["3.4"]\n'), raised.stderr
    assert "/app/main.rb:3:in '<top (required)>': boom (RuntimeError)" in raised.stderr, raised.stderr
    # from scratch, in another checkout: the same bytes
    examples.assert_reproduces(wb, "hello-ruby", tmp_path, digest)
    purls = examples.purls(examples.sbom(wb, "hello-ruby:latest"))
    assert {"pkg:npm/%40ruby/3.4-wasm-wasi@2.10.1", "pkg:npm/binaryen@132.0.0"} <= purls, purls


def test_a_missing_main_script_is_one_clear_error(wb: Runner, tmp_path: Path) -> None:
    ctx = tmp_path / "app"
    shutil.copytree(REPO / "examples" / "hello-ruby", ctx)
    (ctx / "main.rb").unlink()
    built = wb("build", str(ctx), timeout=900)
    assert built.returncode != 0
    assert "the app's main script main.rb is not in .: set the ruby recipe's `main`" in built.stderr, built.stderr


def test_init_writes_a_ruby_wasmfile_that_builds_and_runs(wb: Runner, tmp_path: Path) -> None:
    require("npm")
    app = tmp_path / "greeter"
    app.mkdir()
    (app / "app.rb").write_text('require_relative "words"\nputs WORDS.join(" "), ARGV.inspect\n')
    (app / "words.rb").write_text('WORDS = %w[hello from init]\n')
    (app / "Gemfile").write_text('source "https://example.invalid"\n')
    init = wb("init", str(app), "--json")
    assert init.returncode == 0, init.stderr
    assert json.loads(init.stdout)["detected"]["recipe"] == "ruby"
    text = (app / "Wasmfile").read_text()
    assert "entrypoint: [/ruby.wasm, /app/app.rb]" in text, text
    assert "the Gemfile's gems are not installed without a Gemfile.lock" in text, text
    built = wb("build", str(app), "-o", f"oci:{tmp_path / 'oci'}", timeout=900)
    assert built.returncode == 0, built.stderr
    run = wb("run", f"oci:{tmp_path / 'oci'}", "x")
    assert (run.returncode, run.stdout) == (0, 'hello from init\n["x"]\n'), run.stderr


def test_podman_runs_the_ruby_image_through_crun(wb: Runner, tmp_path: Path, podman: Podman) -> None:
    """crun's wasmtime handler runs the merged module (args, a file, the exit code). What it
    shows is the container's, not only the image's: podman's default env joins the image's, and
    the root holds the mount points crun adds (dev, proc, run, sys), as docs/languages.md says."""
    built = wb("build", str(REPO / "examples" / "hello-ruby"), "-o", f"oci:{tmp_path / 'oci'}", timeout=900)
    assert built.returncode == 0, built.stderr
    proc = podman.run_layout(tmp_path / "oci", ["x"])
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1:] == ["args: x", "Hello from Ruby on WASI", "root: app dev etc proc ruby.wasm run sys"], proc.stdout
    env = lines[0].removeprefix("env: ").split(" ")
    assert "GREETING=hi" in env and "container=podman" in env, lines[0]
    failing = podman.run_layout(tmp_path / "oci", ["fail"])
    assert failing.returncode == 7, (failing.stdout, failing.stderr)
