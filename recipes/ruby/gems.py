"""Gemfile.lock, read for the ruby recipe: the gems to install, each a pinned download.

A lockfile names its gems in ``GEM`` sections (``remote:`` the source, ``specs:`` one
``name (version)`` line per gem at four spaces) and, since Bundler 2.6, their sha256 in
``CHECKSUMS`` (``name (version) sha256=HEX``; ``bundle lock --add-checksums`` writes it). Each gem
becomes an input fetched from ``REMOTE/gems/NAME-VERSION.gem`` (or a mirror of it) and checked
against that sha256; the recipe installs pure-Ruby gems only: a gem built for a platform
(``name (version-x86_64-linux)``), one from ``GIT`` or ``PATH``, or one without a checksum is one
clear error naming it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from wasmbuild.errors import ConfigError

_SPEC = re.compile(r"^    ([A-Za-z0-9_.-]+) \(([^()\s]+)\)$")
_SUM = re.compile(r"^  ([A-Za-z0-9_.-]+) \(([^()\s]+)\)(?: (.*))?$")
_VERSION = re.compile(r"^[0-9][0-9A-Za-z.]*$")
_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Gem:
    name: str
    version: str
    remote: str
    sha256: str
    line: int


def parse(text: str, shown: str) -> list[Gem]:
    """The gems of a Gemfile.lock's ``GEM`` sections, with their checksums (see the module)."""
    section, remote = "", ""
    specs: list[tuple[str, str, str, int]] = []
    sums: dict[tuple[str, str], str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not line:
            continue
        if not line.startswith(" "):
            section = line.strip()
            if section in ("GIT", "PATH"):
                raise ConfigError(f"{section} gems are not supported: the ruby recipe installs gems from a gem "
                                  "source (GEM) only", where=f"{shown}:{number}",
                                  hint="publish the gem to a gem source, or copy its lib/ into the app")
            continue
        if section == "GEM":
            if line.startswith("  remote: "):
                remote = line.split(":", 1)[1].strip()
            elif (m := _SPEC.match(line)) is not None:
                name, version = m.groups()
                if not _VERSION.match(version):  # 1.16.0-x86_64-linux, 1.0-java: built for a platform
                    raise ConfigError(f"gem {name} {version} is built for a platform (native code): the ruby recipe "
                                      "installs pure-Ruby gems only", where=f"{shown}:{number}",
                                      hint=f"drop {name}, or use a pure-Ruby alternative (CRuby for WASI loads no "
                                           "C extensions)")
                if not remote.startswith(("http://", "https://")):
                    raise ConfigError(f"gem {name}: its GEM section has no http(s) `remote:`",
                                      where=f"{shown}:{number}")
                specs.append((name, version, remote, number))
        elif section == "CHECKSUMS" and (m := _SUM.match(line)) is not None:
            name, version, rest = m.groups()
            found = [p.split("=", 1)[1] for p in (rest or "").split(",") if p.strip().startswith("sha256=")]
            if found:
                sums[(name, version)] = found[0].strip()
    gems: list[Gem] = []
    seen: dict[str, int] = {}
    for name, version, where, number in specs:
        if name in seen:
            raise ConfigError(f"gem {name} is locked twice (also at line {seen[name]})", where=f"{shown}:{number}",
                              hint="run `bundle lock` again")
        seen[name] = number
        digest = sums.get((name, version))
        if digest is None or not _HEX.match(digest):
            raise ConfigError(f"gem {name} {version} has no sha256 in the lockfile's CHECKSUMS",
                              where=f"{shown}:{number}",
                              hint="run `bundle lock --add-checksums` (Bundler 2.6+): wasmbuild pins every gem "
                                   "by its checksum")
        gems.append(Gem(name, version, where if where.endswith("/") else where + "/", digest, number))
    return gems


def as_inputs(gems: list[Gem], mirror: str = "") -> list[dict[str, Any]]:
    """What the stage template needs of each gem: the download (from ``mirror`` instead of the
    lockfile's remote when given), its sha256, its file name and its purl."""
    out = []
    for g in gems:
        base = (mirror.rstrip("/") + "/") if mirror else g.remote
        file = f"{g.name}-{g.version}.gem"
        out.append({"name": g.name, "version": g.version, "sha256": g.sha256, "url": f"{base}gems/{file}",
                    "file": file, "purl": f"pkg:gem/{g.name}@{g.version}"})
    return out
