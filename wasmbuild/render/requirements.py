"""A pinned requirements file (pip's ``--require-hashes`` form) as ``pypi:`` inputs.

Recipes call ``requirements(PATH)`` while rendering: it reads that one file of the build context
and returns its packages, each pinned to an exact version and to the sha256 of its files::

    six==1.17.0 --hash=sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274
    idna==3.10 \\
        --hash=sha256:946d195a0d259cbba61165e88e65941f16e9b36ea6ddb97f00452bae8b1287d3 \\
        --hash=sha256:12f65c9b470abda6dc35cf8e63cc574b1c52b11df2c86030af0ac09b01b13ea9

Several hashes on a line (``pip-compile --generate-hashes`` and ``uv pip compile
--generate-hashes`` write every wheel's and the sdist's) are accepted as pip accepts them: the
file pip downloads (the pure-Python wheel) must have one of them.

Comments (``#`` at a line's start or after a space), blank lines and ``\\`` continuations are
allowed, as pip allows them. Anything else (a range, no hash, an option such as ``-r`` or
``--index-url``, an environment marker) is one error at ``FILE:LINE``. Pure: the result depends
only on the file's bytes, and the recipe makes the file an input of its stage, so editing it
reruns the stage.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..load.packages import download_name, pypi_package
from ..paths import PathEscape, within

_HASH = re.compile(r"^--hash[=\s]sha256:([0-9a-fA-F]{64})$")
_COMMENT = re.compile(r"(^|\s)#.*$")
HINT = "write each line as NAME==VERSION --hash=sha256:HEX (pip download NAME==VERSION, then sha256sum)"


@dataclass(frozen=True)
class Requirement:
    """One pinned package: its PEP 503 name, exact version, the sha256 hashes its file may have
    (sorted, no repeats: the stage key depends on the set only) and where it was written."""

    name: str
    version: str
    hashes: tuple[str, ...]
    line: int

    @property
    def url(self) -> str:
        """The ``pypi:`` input naming it."""
        return f"pypi:{self.name}=={self.version}"


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each requirement, continuations joined, comments dropped."""
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = _COMMENT.sub("", raw)
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined = (pending + line).strip()
        pending = ""
        if joined:
            out.append((start, joined))
    if pending.strip():
        out.append((start, pending.strip()))
    return out


def parse(text: str, show_as: str) -> list[Requirement]:
    """The requirements in ``text`` (the file ``show_as``), or one :class:`ConfigError` at its line."""
    found: list[Requirement] = []
    seen: dict[str, int] = {}
    for number, line in _logical_lines(text):
        where = f"{show_as}:{number}"
        spec, *options = line.split()
        # `--hash sha256:...` (a space instead of `=`) is one option in two words
        joined: list[str] = []
        for word in options:
            if joined and joined[-1] == "--hash":
                joined[-1] += " " + word
            else:
                joined.append(word)
        if spec.startswith("-"):
            raise ConfigError(f"{spec} is not supported in a requirements file wasmbuild reads", where=where,
                              hint="list each package on its own line; pip's index options come from pip's "
                                   "own configuration (pip config list)")
        if ";" in line or "@" in spec or "[" in spec:
            raise ConfigError(f"{spec.split(';')[0]}: extras, markers and direct URLs are not supported",
                              where=where, hint=HINT)
        package = pypi_package(f"pypi:{spec}")
        if package is None:
            raise ConfigError(f"{spec} is not pinned to one version with ==", where=where,
                              hint=f"e.g. six==1.17.0; {HINT}")
        hashes = [m.group(1).lower() for word in joined if (m := _HASH.match(word))]
        unknown = [word for word in joined if not _HASH.match(word)]
        if unknown:
            raise ConfigError(f"{spec}: {unknown[0]} is not a sha256 hash option", where=where, hint=HINT)
        if not hashes:
            raise ConfigError(f"{spec} has no --hash=sha256:...", where=where, hint=HINT)
        if package[0] in seen:
            raise ConfigError(f"{package[0]} is listed twice (also at line {seen[package[0]]})", where=where,
                              hint="keep one line per package")
        seen[package[0]] = number
        found.append(Requirement(package[0], package[1], tuple(sorted(set(hashes))), number))
    return found


def read(context: Path, path: str) -> list[Requirement]:
    """The requirements file ``path`` of the build ``context``, parsed (see :func:`parse`)."""
    try:
        full = within(context, path, "requirements")
    except PathEscape as exc:
        raise ConfigError(str(exc), hint="keep the requirements file inside the build context") from None
    if not full.is_file():
        raise ConfigError(f"requirements file {path!r} does not exist in the build context ({context})",
                          hint="fix the path or create the file")
    try:
        text = full.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read requirements file {path!r}: {exc}") from None
    shown = os.path.relpath(full)
    return parse(text, shown if not shown.startswith("..") else str(full))


def as_inputs(found: list[Requirement]) -> list[dict[str, str | list[str]]]:
    """What a template needs of each requirement: ``name``, ``version``, ``sha256`` (the one hash,
    or the list of them: the input accepts any), the input's ``url`` and the wheel's ``file`` name
    (the input's default place under ``$SRC``)."""
    return [{"name": r.name, "version": r.version, "sha256": r.hashes[0] if len(r.hashes) == 1 else list(r.hashes),
             "url": r.url, "file": download_name(r.url)} for r in found]
