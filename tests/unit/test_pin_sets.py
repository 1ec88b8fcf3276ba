"""A download pinned by several sha256 (a requirements line's hashes, issue 20): any one is
accepted, the stage key depends on the set only, the cache finds the file by its own digest, a
file matching none is one line naming the package and every hash, and the SBOM records the
file's own sha256."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from wasmbuild.errors import BuildError
from wasmbuild.execute import fetch
from wasmbuild.execute.inputs import url_digest
from wasmbuild.load.model import Input
from wasmbuild.load.packages import Pin

ZERO = "0" * 64
A, B, C = (hashlib.sha256(x).hexdigest() for x in (b"a", b"b", b"c"))


def test_a_set_pin_is_its_sorted_set() -> None:
    pin = Pin.any_of("sha256", [C, A, B, A])
    assert pin == Pin.any_of("sha256", [B, C, A])
    assert pin.candidates == tuple(sorted([A, B, C]))
    assert pin.accepts(B) and not pin.accepts(hashlib.sha256(b"d").hexdigest())
    assert Pin.any_of("sha256", [A]) == Pin("sha256", A)  # one hash: the plain pin, the same key as before
    assert url_digest(Pin.any_of("sha256", [A])) == url_digest(A)
    assert url_digest(pin) == url_digest(Pin.any_of("sha256", [B, A, C])) != url_digest(Pin.any_of("sha256", [A, B]))
    assert pin.shown == " or ".join(sorted([A, B, C]))


def test_a_list_of_sha256_pins_pypi_inputs_only() -> None:
    pin = Input.model_validate({"url": "pypi:six==1.17.0", "sha256": [B, A]}).pin
    assert pin.candidates == tuple(sorted([A, B]))
    with pytest.raises(ValueError, match="a list of `sha256` pins `pypi:` inputs only"):
        Input.model_validate({"url": "https://example.test/a.tgz", "sha256": [A, B]})
    with pytest.raises(ValueError, match="a list of `sha256` pins `pypi:` inputs only"):
        Input.model_validate({"url": "npm:pkg@1.0.0", "sha256": [A, B]})
    with pytest.raises(ValueError, match="`sha256` is an empty list"):
        Input.model_validate({"url": "pypi:six==1.17.0", "sha256": []})


def wheel(folder: Path, name: str = "demo", version: str = "1.0") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}/__init__.py", "")
        archive.writestr(f"{name}-{version}.dist-info/METADATA",
                         f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        archive.writestr(f"{name}-{version}.dist-info/WHEEL",
                         "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{name}-{version}.dist-info/RECORD", "")
    return path


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pip's own configuration: a local find-links folder, no index (no network)."""
    links = tmp_path / "links"
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    return links


def test_the_wheel_matching_any_hash_is_fetched_and_cached_by_its_own(index: Path) -> None:
    real = hashlib.sha256(wheel(index).read_bytes()).hexdigest()
    pin = Pin.any_of("sha256", [A, real, B])  # an sdist's and another wheel's hash besides
    got = fetch.fetch("pypi:demo==1.0", pin)
    assert got.name == real and hashlib.sha256(got.read_bytes()).hexdigest() == real
    assert fetch.cached(pin) == got
    assert fetch.resolved("pypi:demo==1.0", pin) == Pin("sha256", real)  # what the SBOM records
    assert fetch.resolved("pypi:demo==1.0", Pin("sha256", A)) == Pin("sha256", A)


def test_a_cached_non_wheel_with_a_listed_hash_is_not_taken_for_the_wheel(index: Path) -> None:
    sdist = index.parent / "demo-1.0.tar.gz"
    sdist.write_bytes(b"not a zip")
    fetch.add(sdist)  # `wasmbuild fetch --add` of the source archive
    real = hashlib.sha256(wheel(index).read_bytes()).hexdigest()
    pin = Pin.any_of("sha256", [hashlib.sha256(b"not a zip").hexdigest(), real])
    assert fetch.cached(pin) is None
    assert fetch.fetch("pypi:demo==1.0", pin).name == real


def test_a_wheel_matching_none_is_one_line_naming_the_package_and_every_hash(index: Path) -> None:
    real = hashlib.sha256(wheel(index).read_bytes()).hexdigest()
    with pytest.raises(BuildError) as info:
        fetch.fetch("pypi:demo==1.0", Pin.any_of("sha256", [B, A]))
    first, second = sorted([A, B])
    assert str(info.value).startswith(
        f"PyPI package demo==1.0 has sha256 {real}, not any of the 2 pinned ({first}, {second})")
    assert "\n" not in info.value.message
    assert fetch.cached(Pin("sha256", real)) is None  # a refused file is not kept


def test_the_sbom_records_the_sha256_of_the_file_pip_chose(tmp_path: Path) -> None:
    from tests.support import validate_spdx
    from tests.support.pipeline import attested_documents
    from wasmbuild.oci.referrers import ARTIFACT_INTOTO, ARTIFACT_SPDX

    real = hashlib.sha256(wheel(tmp_path / "w").read_bytes()).hexdigest()
    # ZERO sorts first: the SBOM shows the file's own hash, not the first of the list
    fetch.add(tmp_path / "w" / "demo-1.0-py3-none-any.whl")  # in the download cache: no pip needed
    docs = attested_documents(tmp_path, f'{{url: "pypi:demo==1.0", sha256: ["{ZERO}", {real}]}}', ["spdx"])
    assert validate_spdx(docs[ARTIFACT_SPDX]) == []
    [package] = [p for p in docs[ARTIFACT_SPDX]["packages"] if p["name"] == "demo-1.0-py3-none-any.whl"]
    assert package["checksums"] == [{"algorithm": "SHA256", "checksumValue": real}]
    [dep] = [d for d in docs[ARTIFACT_INTOTO]["predicate"]["buildDefinition"]["resolvedDependencies"]
             if d["uri"] == "pkg:pypi/demo@1.0"]
    assert dep["digest"] == {"sha256": real}
