"""Ruby gems from Gemfile.lock (issue 20, item 2, Ruby part): pure-Ruby gems fetched from a gem
source served from this machine (or a mirror of it), each pinned by the lockfile's CHECKSUMS,
installed into the app's vendor/gems and found by `require`; in the SBOM by purl. A gem with a C
extension, a wrong checksum and a missing one are each one clear line naming the gem."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, Runner
from tests.support import examples, require
from tests.support.gems import gem_source, lockfile, make_gem

pytestmark = pytest.mark.integration

GREETER = {"lib/greeter.rb": 'require "greeter/version"\nmodule Greeter\n  def self.hello(who) = '
                             '"Hello, #{who}! (greeter #{VERSION})"\nend\n',
           "lib/greeter/version.rb": 'module Greeter\n  VERSION = "1.2.0"\nend\n'}
WASMFILE = """\
wasmfile: 1
stages:
  app:
    recipe: ruby
    with: {app: ., main: main.rb, gems: Gemfile.lock, gem_mirror: MIRROR}
image:
  files:
    - {from: app, path: ruby.wasm, dest: /ruby.wasm}
    - {from: app, path: app, dest: /app}
  entrypoint: [ruby.wasm, /app/main.rb]
  tags: [gems:1]
"""


def app(tmp_path: Path, mirror: str, gems: dict[tuple[str, str], str | None], remote: str) -> Path:
    ctx = tmp_path / "app"
    ctx.mkdir(exist_ok=True)
    (ctx / "main.rb").write_text('require "greeter"\nputs Greeter.hello(ARGV[0] || "world")\n')
    (ctx / "Gemfile").write_text('source "https://gems.example"\ngem "greeter"\n')
    (ctx / "Gemfile.lock").write_text(lockfile(remote, gems))
    (ctx / "Wasmfile").write_text(WASMFILE.replace("MIRROR", mirror))
    return ctx


def test_a_locked_gem_is_installed_and_required(wb: Runner, tmp_path: Path) -> None:
    require("npm")
    served = tmp_path / "source"
    digest = make_gem(served, "greeter", "1.2.0", GREETER)
    with gem_source(served) as url:
        # the lockfile names the public source; the build fetches from the mirror given
        ctx = app(tmp_path, url, {("greeter", "1.2.0"): digest}, "https://gems.example/")
        built = wb("build", str(ctx), "-o", f"oci:{tmp_path / 'oci'}", timeout=900)
        assert built.returncode == 0, built.stderr
    ran = wb("run", f"oci:{tmp_path / 'oci'}", "wasm")
    assert (ran.returncode, ran.stdout) == (0, "Hello, wasm! (greeter 1.2.0)\n"), ran.stderr
    assert "pkg:gem/greeter@1.2.0" in examples.purls(examples.sbom(wb, f"oci:{tmp_path / 'oci'}"))


def test_gems_the_recipe_cannot_pin_or_install_are_one_line(wb: Runner, tmp_path: Path) -> None:
    require("npm")
    served = tmp_path / "source"
    digest = make_gem(served, "greeter", "1.2.0", GREETER)
    native = make_gem(served, "greeter", "2.0.0", GREETER, extensions=("ext/greeter/extconf.rb",))
    with gem_source(served) as url:
        ctx = app(tmp_path, url, {("greeter", "1.2.0"): "0" * 64}, url)
        bad = wb("build", str(ctx), timeout=900)
        assert bad.returncode != 0 and "greeter-1.2.0.gem" in bad.stderr and "sha256" in bad.stderr, bad.stderr
        assert digest not in bad.stderr.splitlines()[-1] or "0" * 64 in bad.stderr
        ctx = app(tmp_path, url, {("greeter", "1.2.0"): None}, url)
        bad = wb("build", str(ctx), timeout=900)
        assert bad.returncode == 2, bad.stderr
        want = "Gemfile.lock:4: stage 'app': gem greeter 1.2.0 has no sha256 in the lockfile's CHECKSUMS"
        assert want in bad.stderr, bad.stderr
        ctx = app(tmp_path, url, {("greeter", "2.0.0"): native}, url)
        bad = wb("build", str(ctx), timeout=900)
        assert bad.returncode != 0
        assert "gem greeter-2.0.0 has a C extension: the ruby recipe installs pure-Ruby gems only" in bad.stderr, \
            bad.stderr


def test_a_gems_require_paths_are_its_load_path(wb: Runner, tmp_path: Path) -> None:
    """A gem whose code is not under lib/ (its gemspec's require_paths says where) is required as
    Bundler would; a require path that leaves the gem is refused in one line."""
    require("npm")
    served = tmp_path / "source"
    moved = {f"src/{k.removeprefix('lib/')}": v for k, v in GREETER.items()}
    digest = make_gem(served, "greeter", "1.2.0", moved, require_paths=("src",))
    escaping = make_gem(served, "greeter", "3.0.0", moved, require_paths=("../../etc",))
    with gem_source(served) as url:
        ctx = app(tmp_path, url, {("greeter", "1.2.0"): digest}, url)
        built = wb("build", str(ctx), "-o", f"oci:{tmp_path / 'oci'}", timeout=900)
        assert built.returncode == 0, built.stderr
        ctx = app(tmp_path, url, {("greeter", "3.0.0"): escaping}, url)
        bad = wb("build", str(ctx), timeout=900)
    ran = wb("run", f"oci:{tmp_path / 'oci'}", "src")
    assert (ran.returncode, ran.stdout) == (0, "Hello, src! (greeter 1.2.0)\n"), ran.stderr
    assert bad.returncode != 0
    assert "gem greeter-3.0.0: its require path '../../etc' is not a folder inside the gem" in bad.stderr, bad.stderr


def test_init_sets_gems_from_a_lockfile(wb: Runner, tmp_path: Path) -> None:
    ctx = tmp_path / "p"
    shutil.copytree(REPO / "examples" / "hello-ruby", ctx)
    (ctx / "Wasmfile").unlink()
    (ctx / "Gemfile.lock").write_text(lockfile("https://gems.example/", {("greeter", "1.2.0"): "ab" * 32}))
    init = wb("init", str(ctx), "--json")
    assert init.returncode == 0, init.stderr
    assert json.loads(init.stdout)["detected"]["with"]["gems"] == "Gemfile.lock"
