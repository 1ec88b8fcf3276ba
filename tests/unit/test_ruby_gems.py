"""The ruby folder's Gemfile.lock reader (recipes/ruby/gems.py): gems with their checksums as
pinned inputs; a platform gem, a GIT/PATH gem, a missing checksum, a gem locked twice: one line
at Gemfile.lock:LINE."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.gems import lockfile
from wasmbuild.errors import ConfigError
from wasmbuild.render.folders import load_module

REPO = Path(__file__).resolve().parents[2]
gems: Any = load_module(REPO / "recipes" / "ruby" / "gems.py")
SUM = "ab" * 32


def test_the_gems_of_a_lockfile_become_pinned_downloads() -> None:
    text = lockfile("https://gems.example/", {("rainbow", "3.1.1"): SUM, ("tzinfo", "2.0.6"): "cd" * 32})
    found = gems.as_inputs(gems.parse(text, "Gemfile.lock"))
    assert [(g["name"], g["url"], g["sha256"], g["purl"]) for g in found] == [
        ("rainbow", "https://gems.example/gems/rainbow-3.1.1.gem", SUM, "pkg:gem/rainbow@3.1.1"),
        ("tzinfo", "https://gems.example/gems/tzinfo-2.0.6.gem", "cd" * 32, "pkg:gem/tzinfo@2.0.6")]
    mirrored = gems.as_inputs(gems.parse(text, "Gemfile.lock"), "http://127.0.0.1:8/mirror")
    assert mirrored[0]["url"] == "http://127.0.0.1:8/mirror/gems/rainbow-3.1.1.gem"


@pytest.mark.parametrize(("text", "message"), [
    (lockfile("https://g.example/", {("rainbow", "3.1.1"): None}),
     r"Gemfile.lock:4: gem rainbow 3.1.1 has no sha256 in the lockfile's CHECKSUMS"),
    (lockfile("https://g.example/", {("nokogiri", "1.16.0-x86_64-linux"): SUM}),
     r"Gemfile.lock:4: gem nokogiri 1.16.0-x86_64-linux is built for a platform \(native code\)"),
    ("GIT\n  remote: https://g.example/x.git\n  specs:\n    x (1.0)\n", r"Gemfile.lock:1: GIT gems are not supported"),
    ("PATH\n  remote: ../x\n", r"Gemfile.lock:1: PATH gems are not supported"),
    ("GEM\n  remote: https://g.example/\n  specs:\n    a (1.0)\n    a (1.0)\n\nCHECKSUMS\n  a (1.0) sha256=" + SUM,
     r"Gemfile.lock:5: gem a is locked twice \(also at line 4\)"),
    ("GEM\n  specs:\n    a (1.0)\n", r"Gemfile.lock:3: gem a: its GEM section has no http\(s\) `remote:`"),
    (lockfile("https://g.example/", {("a", "1.0"): "not-hex"}), r"gem a 1.0 has no sha256"),
])
def test_what_the_recipe_cannot_pin_or_install_is_one_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        gems.parse(text, "Gemfile.lock")
