"""A stage's PyPI wheels checked as pip's ``--require-hashes`` checks them: every dependency a
wheel declares (its METADATA ``Requires-Dist``) for the target must be pinned too.

pip refuses to install a package whose dependency is not itself pinned; without this check a
wheel whose dependency is missing from the requirements file would be installed without it, and
the app would fail at import time, in WASI. Markers are evaluated for CPython on WASI
(``sys_platform == "wasi"``) at the stage's Python version; an extra's dependencies count only
when some pinned package asks for that extra (a requirements file names no extras itself).
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from email.parser import HeaderParser
from pathlib import Path

from packaging.markers import InvalidMarker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..errors import BuildError
from ..load.packages import pypi_package
from ..render.project import StageSpec
from .fetch import PURE_WHEEL

#: The Python pip downloads wheels for, when the stage does not say (``PY_VERSION``).
DEFAULT_PYTHON = PURE_WHEEL[PURE_WHEEL.index("--python-version") + 1]
HINT = ("add `{name}==VERSION --hash=sha256:...` to the requirements file (pip-compile --generate-hashes "
        "and uv pip compile --generate-hashes list every dependency)")


def environment(python: str) -> dict[str, str]:
    """PEP 508 marker values of CPython ``python`` (``3.14`` or ``3.14.2``) built for WASI."""
    parts = python.split(".")
    full = python if len(parts) > 2 else ".".join([*parts, "0"][:3])
    return {"sys_platform": "wasi", "os_name": "posix", "platform_system": "", "platform_machine": "wasm32",
            "platform_release": "", "platform_version": "", "implementation_name": "cpython",
            "platform_python_implementation": "CPython", "implementation_version": full,
            "python_version": ".".join(parts[:2]), "python_full_version": full}


def requires_dist(wheel: Path) -> list[str]:
    """The ``Requires-Dist`` lines of a wheel's ``*.dist-info/METADATA``."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
            if len(names) != 1:
                raise BuildError(f"the wheel {wheel.name} has {len(names)} .dist-info/METADATA files, not one",
                                 hint="a wheel pip downloaded is broken: check the package and version")
            text = archive.read(names[0]).decode("utf-8", "replace")
    except (OSError, zipfile.BadZipFile) as exc:
        raise BuildError(f"cannot read the wheel {wheel.name}: {exc}") from None
    return HeaderParser().parsestr(text).get_all("Requires-Dist") or []


def check(spec: StageSpec, wheels: Sequence[tuple[str, Path]]) -> None:
    """Raise one :class:`BuildError` for the first dependency of ``wheels`` (``pypi:`` url, file)
    that the stage does not pin, or pins at a version the dependent does not accept."""
    pinned: dict[str, tuple[str, Path]] = {}
    for url, path in wheels:
        package = pypi_package(url)
        assert package is not None, url
        pinned[package[0]] = (package[1], path)
    env = environment(spec.env.get("PY_VERSION") or DEFAULT_PYTHON)
    asked = {(name, "") for name in pinned}  # (package, extra) whose dependencies count
    todo = sorted(asked)
    while todo:
        name, extra = todo.pop(0)
        version, path = pinned[name]
        for line in requires_dist(path):
            try:
                req = Requirement(line)
                wanted = req.marker is None or req.marker.evaluate({**env, "extra": extra})
            except (InvalidRequirement, InvalidMarker, UndefinedComparison, UndefinedEnvironmentName) as exc:
                raise BuildError(f"{name}=={version} declares a dependency wasmbuild cannot read: {line!r} ({exc})",
                                 where=spec.where, hint="report it to the package; pin another version") from None
            if not wanted:
                continue
            dep = canonicalize_name(req.name)
            needs = f"{name}=={version} needs {req.name}{req.specifier}"
            needs += f" (for its extra {extra!r})" if extra else ""
            if dep not in pinned:
                raise BuildError(f"stage {spec.name!r}: {needs}, which the requirements do not pin",
                                 where=spec.where, hint=HINT.format(name=dep))
            if not _satisfies(pinned[dep][0], req):
                raise BuildError(f"stage {spec.name!r}: {needs}, but the requirements pin {dep}=={pinned[dep][0]}",
                                 where=spec.where, hint=f"pin a version of {dep} that {name} accepts, or "
                                                        f"another version of {name}")
            for wanted_extra in sorted(canonicalize_name(e) for e in req.extras):
                if (dep, wanted_extra) not in asked:
                    asked.add((dep, wanted_extra))
                    todo.append((dep, wanted_extra))


def _satisfies(version: str, req: Requirement) -> bool:
    try:
        return req.specifier.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return False
