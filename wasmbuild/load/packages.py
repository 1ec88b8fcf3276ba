"""Downloads that are packages of a registry, named by package and exact version, never by a
registry URL: ``npm:NAME@VERSION`` (fetched by ``npm pack``) and ``pypi:NAME==VERSION`` (a
pure-Python wheel, fetched by pip). Their file name under ``$SRC`` and their package URL; and
what a download is pinned by (:class:`Pin`): one digest, or for a PyPI package several (any of
a release's files, as a requirements line lists them)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from wasmbuild.fsutil import file_digest

#: An npm package name: an optional lowercase ``@scope/``, then letters, digits and ``._-``, not
#: starting with ``.``, ``_`` or ``-``. Uppercase letters are allowed, as validate-npm-package-name's
#: "old" rules allow them for legacy packages (``JSONStream``, ``Base64``) that real lockfiles hold;
#: no ``/`` outside the scope form, no space: the name is a path under node_modules and a file name.
NPM_NAME = r"(?:@[a-z0-9][\w.-]*/)?[A-Za-z0-9][\w.-]*"
_NPM = re.compile(rf"^npm:({NPM_NAME})@(\d+\.\d+\.\d+[\w.+-]*)$")


def npm_package(url: str) -> tuple[str, str] | None:
    """``(name, version)`` of an ``npm:NAME@VERSION`` input (an exact version), else None."""
    found = _NPM.match(url)
    return (found.group(1), found.group(2)) if found else None


# PEP 508 names (letters, digits, `-_.`; starting and ending with a letter or digit) and an exact
# PEP 440 version (`==`, no wildcard, no local-version comparison games).
_PYPI = re.compile(r"^pypi:([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)==((?:\d+!)?\d+(?:\.\d+)*[\w.+-]*)$")


def pypi_package(url: str) -> tuple[str, str] | None:
    """``(normalised name, version)`` of a ``pypi:NAME==VERSION`` input (an exact version), else
    None. The name is normalised as PEP 503 says (``Foo_Bar`` -> ``foo-bar``)."""
    found = _PYPI.match(url)
    if found is None or found.group(2).endswith("."):
        return None
    return re.sub(r"[-_.]+", "-", found.group(1)).lower(), found.group(2)


def download_name(url: str) -> str:
    """The file name of a download: an npm tarball as ``npm pack`` names it, a PyPI package's
    pure-Python wheel as ``NAME-VERSION-py3-none-any.whl`` (a valid wheel name whatever tags
    the file had: pip checked they include these), else the URL's."""
    if (npm := npm_package(url)) is not None:
        return f"{npm[0].lstrip('@').replace('/', '-')}-{npm[1]}.tgz"
    if (pypi := pypi_package(url)) is not None:
        return f"{pypi[0].replace('-', '_')}-{pypi[1]}-py3-none-any.whl"
    return url.rstrip("/").rsplit("/", 1)[-1]


def download_purl(url: str) -> str | None:
    """The package URL of a download that is a package (``pkg:npm/%40scope/name@1.2.3``,
    ``pkg:pypi/six@1.17.0``)."""
    if (pypi := pypi_package(url)) is not None:
        return f"pkg:pypi/{pypi[0]}@{pypi[1]}"
    if (npm := npm_package(url)) is None:
        return None
    name = npm[0].replace("@", "%40", 1)
    return f"pkg:npm/{name}@{npm[1]}"


#: Subresource Integrity algorithms an `integrity:` pin may use, with their digest sizes (sha1,
#: which old npm lockfiles still write, is too weak to pin anything).
SRI_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}


@dataclass(frozen=True)
class Pin:
    """What a download is pinned by: a hex ``sha256:``, or an SRI ``integrity:``
    (``sha512-BASE64`` as npm lockfiles write it; sha256 and sha384 too)."""

    algorithm: str  # a key of SRI_SIZES
    hex: str
    #: Further digests the file may have instead (sorted, all above ``hex``): a requirements
    #: line's several ``--hash``es, one per file of the release, of which pip downloads one (as
    #: pip's ``--require-hashes`` does, any listed one is accepted). Empty: one exact file.
    others: tuple[str, ...] = ()

    @classmethod
    def any_of(cls, algorithm: str, digests: Iterable[str]) -> Pin:
        """A pin accepting a file with any of ``digests`` (one digest: the plain pin). The same
        set in any order or with repeats is the same pin, so the stage key depends on the set only."""
        first, *rest = sorted(set(digests))
        return cls(algorithm, first, tuple(rest))

    @property
    def candidates(self) -> tuple[str, ...]:
        """Every digest the file may have (``hex`` first)."""
        return (self.hex, *self.others)

    def accepts(self, digest: str) -> bool:
        """Whether a file with ``digest`` (hex, in this pin's algorithm) satisfies the pin."""
        return digest in self.candidates

    @property
    def identity(self) -> str:
        """What a stage key takes of the pin, known before anything is downloaded: its cache
        name, or for several digests all of them (sorted)."""
        return self.cache_name if not self.others else "any-" + "-".join(self.candidates)

    @classmethod
    def sri(cls, text: str) -> Pin:
        """The pin of an SRI string; ValueError says what is wrong with it."""
        algorithm, sep, b64 = text.strip().partition("-")
        if algorithm == "sha1":
            raise ValueError("sha1 is too weak to pin a download: use a sha512- integrity "
                             "(npm >= 7 writes one: delete the lockfile's entry and run npm install)")
        if not sep or algorithm not in SRI_SIZES:
            raise ValueError(f"`integrity` must be sha512-BASE64 (or sha256-/sha384-), not {text!r}")
        try:
            raw = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"`integrity` {text!r} is not valid base64") from None
        if len(raw) != SRI_SIZES[algorithm]:
            raise ValueError(f"`integrity` {text!r} is not a {algorithm} digest ({len(raw)} bytes)")
        return cls(algorithm, raw.hex())

    @property
    def cache_name(self) -> str:
        """The file's name in the download cache: the hex sha256 (so an integrity in sha256 and
        a `sha256:` pin share the file), else ``ALGORITHM-HEX``. For several digests, the
        first's: :func:`wasmbuild.execute.fetch.cached` looks for each."""
        return self.hex if self.algorithm == "sha256" else f"{self.algorithm}-{self.hex}"

    @property
    def shown(self) -> str:
        """The pin as a user wrote it: hex sha256 (several: ``A or B``), or the SRI string."""
        if self.algorithm == "sha256":
            return " or ".join(self.candidates)
        return f"{self.algorithm}-{base64.b64encode(bytes.fromhex(self.hex)).decode()}"

    @classmethod
    def of(cls, path: Path, algorithm: str = "sha512") -> Pin:
        """The pin of the file at ``path`` in ``algorithm``."""
        return cls(algorithm, file_digest(path, algorithm))

    def of_file(self, path: Path) -> str:
        """``path``'s digest in this pin's algorithm (hex)."""
        return file_digest(path, self.algorithm)
