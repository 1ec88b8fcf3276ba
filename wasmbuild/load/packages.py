"""Downloads that are packages of a registry, named by package and exact version, never by a
registry URL: ``npm:NAME@VERSION`` (fetched by ``npm pack``) and ``pypi:NAME==VERSION`` (a
pure-Python wheel, fetched by pip). Their file name under ``$SRC`` and their package URL."""

from __future__ import annotations

import re

_NPM = re.compile(r"^npm:((?:@[a-z0-9][\w.-]*/)?[a-z0-9][\w.-]*)@(\d+\.\d+\.\d+[\w.+-]*)$")


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
