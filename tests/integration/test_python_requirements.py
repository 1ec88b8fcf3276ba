"""Python apps with dependencies (issue 20): a pinned requirements file's packages are
`pypi:NAME==VERSION` inputs, pure-Python wheels fetched by pip (the package manager, with its
own configuration; never a registry URL written anywhere), checked by sha256, unpacked onto the
component's path, in the SBOM and the provenance with their purl."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from tests.conftest import Runner
from tests.support import one_line, validate_spdx

pytestmark = pytest.mark.integration
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "python-deps"
SIX_SHA256 = "4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274"  # six-1.17.0-py2.py3-none-any.whl


def app(tmp_path: Path, requirements: str | None = None) -> Path:
    ctx = tmp_path / "ctx"
    shutil.copytree(FIXTURE, ctx)
    if requirements is not None:
        (ctx / "requirements.txt").write_text(requirements)
    return ctx


def test_an_app_with_a_pinned_pure_python_package_builds_runs_and_names_it(wb: Runner, tmp_path: Path) -> None:
    ctx = app(tmp_path)
    built = wb("build", str(ctx), "--sbom", "spdx", "--sbom", "cyclonedx", timeout=900)
    assert built.returncode == 0, built.stderr
    ran = wb("run", "python-deps:latest")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "six 1.17.0: hello from a wheel\n"

    docs = json.loads(wb("inspect", "python-deps:latest", "--sbom", "--json").stdout)["sbom"]
    spdx = next(d for d in docs if "spdxVersion" in d)
    assert validate_spdx(spdx) == []
    [wheel] = [p for p in spdx["packages"] if p["name"] == "six-1.17.0-py3-none-any.whl"]
    assert wheel["checksums"] == [{"algorithm": "SHA256", "checksumValue": SIX_SHA256}]
    assert wheel["externalRefs"][0]["referenceLocator"] == "pkg:pypi/six@1.17.0"
    assert wheel["downloadLocation"] == "NOASSERTION"  # pip chose where from, not the Wasmfile
    cdx = next(d for d in docs if d.get("bomFormat") == "CycloneDX")
    assert [c["purl"] for c in cdx["components"] if c.get("purl", "").startswith("pkg:pypi/")] == \
        ["pkg:pypi/six@1.17.0"]
    provenance = json.loads(wb("inspect", "python-deps:latest", "--provenance", "--json").stdout)
    deps = provenance["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert [d["digest"] for d in deps if d["uri"] == "pkg:pypi/six@1.17.0"] == [{"sha256": SIX_SHA256}]

    # The wheel is kept in the downloads cache: a rebuild after an edit of the app needs no pip.
    main = ctx / "app" / "main.py"
    main.write_text(main.read_text().replace("hello from a wheel", "hello again"))
    rebuilt = wb("build", str(ctx), env={"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(tmp_path / "none")})
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert wb("run", "python-deps:latest").stdout == "six 1.17.0: hello again\n"


def test_a_tampered_hash_is_one_line_naming_the_package_and_both_hashes(wb: Runner, tmp_path: Path) -> None:
    wrong = "0" * 64
    ctx = app(tmp_path, f"six==1.17.0 --hash=sha256:{wrong}\n")
    built = wb("build", str(ctx), timeout=900)
    one_line(built, 3, f"PyPI package six==1.17.0 has sha256 {SIX_SHA256}, not the pinned {wrong}")


def native_wheel(folder: Path) -> str:
    """A package with only a platform wheel (native code), in a local find-links folder."""
    folder.mkdir()
    wheel = folder / "nativeonly-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("nativeonly/__init__.py", "")
        archive.writestr("nativeonly-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: nativeonly\nVersion: 1.0\n")
        archive.writestr("nativeonly-1.0.dist-info/WHEEL",
                         "Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp312-cp312-manylinux_2_17_x86_64\n")
        archive.writestr("nativeonly-1.0.dist-info/RECORD", "")
    return hashlib.sha256(wheel.read_bytes()).hexdigest()


def test_a_package_without_a_pure_python_wheel_is_one_clear_error(wb: Runner, tmp_path: Path) -> None:
    links = tmp_path / "links"
    sha = native_wheel(links)
    ctx = app(tmp_path, f"nativeonly==1.0 --hash=sha256:{sha}\n")
    # pip's own configuration: this index only (pip finds the platform wheel and refuses it)
    env = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(links)}
    built = wb("build", str(ctx), env=env, timeout=900)
    one_line(built, 3, "nativeonly has no pure-Python wheel (py3-none-any): it cannot run on WASI")


def test_a_requirement_without_a_hash_fails_at_its_line_before_anything_runs(wb: Runner, tmp_path: Path) -> None:
    ctx = app(tmp_path, "# pinned\n\nsix==1.17.0\n")
    checked = wb("check", str(ctx / "Wasmfile"))
    line = one_line(checked, 2, "requirements.txt:3:", "six==1.17.0 has no --hash=sha256:")
    assert "pip download" in line  # how to fix it


#: What the fixture's app uses of six, as a wheel of a local index's own.
SIX_CODE = '__version__ = "1.17.0"\n\n\ndef ensure_str(b):\n    return b.decode()\n'


def pure_wheel(folder: Path, name: str, version: str, code: str, requires: tuple[str, ...] = ()) -> str:
    """A pure-Python wheel in a local find-links folder (pip's own configuration: no network)."""
    folder.mkdir(exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + \
        "".join(f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"{name}/__init__.py", code)
        archive.writestr(f"{name}-{version}.dist-info/METADATA", metadata)
        archive.writestr(f"{name}-{version}.dist-info/WHEEL",
                         "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{name}-{version}.dist-info/RECORD", "")
    return hashlib.sha256(wheel.read_bytes()).hexdigest()


def test_a_pip_compile_line_with_every_files_hash_builds_and_the_sbom_has_the_wheels(
        wb: Runner, tmp_path: Path) -> None:
    links = tmp_path / "links"
    sha = pure_wheel(links, "six", "1.17.0", SIX_CODE)
    sdist = hashlib.sha256(b"the release's source archive").hexdigest()
    # as `pip-compile --generate-hashes` writes it: the sdist's hash and the wheel's, sorted
    ctx = app(tmp_path, "six==1.17.0 \\\n" + "".join(f"    --hash=sha256:{h} \\\n" for h in sorted([sha, sdist]))
              + "    # via -r requirements.in\n")
    built = wb("build", str(ctx), "--sbom", "spdx", env={"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(links)},
               timeout=900)
    assert built.returncode == 0, built.stderr
    assert wb("run", "python-deps:latest").stdout == "six 1.17.0: hello from a wheel\n"
    spdx = json.loads(wb("inspect", "python-deps:latest", "--sbom", "--json").stdout)  # the one document
    [wheel] = [p for p in spdx["packages"] if p["name"] == "six-1.17.0-py3-none-any.whl"]
    assert wheel["checksums"] == [{"algorithm": "SHA256", "checksumValue": sha}]  # the file's, not the sdist's

    # a wheel matching none of the line's hashes: one line naming the package and every hash
    other = tmp_path / "other"
    pure_wheel(other, "six", "1.17.0", SIX_CODE + "# tampered\n")
    refused = wb("build", str(ctx), env={"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(other),
                                         "WASMBUILD_CACHE": str(tmp_path / "fresh-cache")}, timeout=900)
    pinned = ", ".join(sorted([sha, sdist]))
    one_line(refused, 3, "PyPI package six==1.17.0 has sha256 ", f"not any of the 2 pinned ({pinned})")


def test_a_dependency_missing_from_the_requirements_is_one_line_naming_who_needs_it(
        wb: Runner, tmp_path: Path) -> None:
    links = tmp_path / "links"
    sha = pure_wheel(links, "six", "1.17.0", SIX_CODE, requires=("helper>=1.0", 'pywin32; sys_platform == "win32"'))
    helper = pure_wheel(links, "helper", "1.2", "")
    env = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(links)}
    ctx = app(tmp_path, f"six==1.17.0 --hash=sha256:{sha}\n")
    refused = wb("build", str(ctx), env=env, timeout=900)
    line = one_line(refused, 3, "stage 'app': six==1.17.0 needs helper>=1.0, which the requirements do not pin")
    assert "add `helper==VERSION --hash=sha256:...` to the requirements file" in line

    # pinned too (pywin32 is for Windows only): it builds, and runs
    (ctx / "requirements.txt").write_text(f"six==1.17.0 --hash=sha256:{sha}\nhelper==1.2 --hash=sha256:{helper}\n")
    built = wb("build", str(ctx), env=env, timeout=900)
    assert built.returncode == 0, built.stderr
    assert wb("run", "python-deps:latest").stdout == "six 1.17.0: hello from a wheel\n"
