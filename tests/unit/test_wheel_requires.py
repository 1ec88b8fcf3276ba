"""A stage's wheels declare dependencies (METADATA Requires-Dist): each must be pinned too, as
pip's --require-hashes insists, with markers evaluated for CPython on WASI at the stage's
Python and extras counted only when asked for (issue 20)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from wasmbuild.errors import BuildError
from wasmbuild.execute.wheels import check, environment, requires_dist
from wasmbuild.render.project import StageSpec


def wheel(folder: Path, name: str, version: str, *requires: str) -> tuple[str, Path]:
    path = folder / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name.replace('-', '_')}/__init__.py", "")
        archive.writestr(f"{name.replace('-', '_')}-{version}.dist-info/METADATA",
                         f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                         + "".join(f"Requires-Dist: {r}\n" for r in requires) + "\nA long description.\n")
    return f"pypi:{name}=={version}", path


def spec(python: str | None = None) -> StageSpec:
    return StageSpec(name="app", steps=("true",), inputs=(), outputs=(), env={"PY_VERSION": python} if python else {},
                     network=False, builder=None, toolchain=None, recipe="python-component", where="Wasmfile:4")


def test_the_wasi_environment() -> None:
    env = environment("3.14")
    assert (env["sys_platform"], env["os_name"], env["platform_system"]) == ("wasi", "posix", "")
    assert (env["python_version"], env["python_full_version"]) == ("3.14", "3.14.0")
    assert environment("3.11.2")["python_version"] == "3.11"


def test_every_dependency_pinned_passes(tmp_path: Path) -> None:
    wheels = [wheel(tmp_path, "requests", "2.32.3", "idna<4,>=2.5", "urllib3 (>=1.21.1,<3)",
                    'PySocks!=1.5.7,>=1.5.6; extra == "socks"', 'pywin32; sys_platform == "win32"',
                    'tomli; python_version < "3.11"'),
              wheel(tmp_path, "idna", "3.10"), wheel(tmp_path, "urllib3", "2.2.3")]
    assert requires_dist(wheels[0][1])[0] == "idna<4,>=2.5"
    check(spec("3.12"), wheels)  # pywin32 (Windows), tomli (< 3.11) and the socks extra are not needed


def test_a_missing_dependency_is_one_line_naming_who_needs_it(tmp_path: Path) -> None:
    wheels = [wheel(tmp_path, "requests", "2.32.3", "idna<4,>=2.5", "Charset_Normalizer<4,>=2"),
              wheel(tmp_path, "idna", "3.10")]
    with pytest.raises(BuildError) as info:
        check(spec("3.12"), wheels)
    assert info.value.message == ("stage 'app': requests==2.32.3 needs Charset_Normalizer<4,>=2, "
                                  "which the requirements do not pin")
    assert info.value.where == "Wasmfile:4"
    assert "add `charset-normalizer==VERSION --hash=sha256:...` to the requirements file" in (info.value.hint or "")


def test_markers_follow_the_stages_python(tmp_path: Path) -> None:
    wheels = [wheel(tmp_path, "app-lib", "1.0", 'tomli>=1.1; python_version < "3.11"')]
    check(spec("3.12"), wheels)
    with pytest.raises(BuildError, match=r"app-lib==1\.0 needs tomli>=1\.1, which the requirements do not pin"):
        check(spec("3.10.4"), wheels)  # cpython-wasi's `version`


def test_a_pinned_version_the_dependent_refuses_is_named(tmp_path: Path) -> None:
    wheels = [wheel(tmp_path, "requests", "2.32.3", "idna<4,>=2.5"), wheel(tmp_path, "idna", "2.0")]
    with pytest.raises(BuildError, match=r"requests==2\.32\.3 needs idna<4,>=2\.5, but the requirements pin "
                                         r"idna==2\.0"):
        check(spec(), wheels)


def test_an_extra_counts_only_when_a_pinned_package_asks_for_it(tmp_path: Path) -> None:
    lib = wheel(tmp_path, "lib", "1.0", 'helper; extra == "fast"')
    check(spec(), [lib])
    asks = wheel(tmp_path, "app", "1.0", "lib[fast]==1.0")
    with pytest.raises(BuildError) as info:
        check(spec(), [lib, asks])
    assert info.value.message == ("stage 'app': lib==1.0 needs helper (for its extra 'fast'), "
                                  "which the requirements do not pin")
    check(spec(), [lib, asks, wheel(tmp_path, "helper", "0.1")])
