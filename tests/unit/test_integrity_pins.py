"""`integrity:` pins (SRI, as npm lockfiles write them): the accepted forms, sha1 refused, a wrong
file is one line naming the package, many npm packages fetched per npm call, and the SBOM."""

from __future__ import annotations

import base64
import hashlib
import textwrap
from pathlib import Path

import pytest

from tests.unit.test_npm_inputs import fake_npm
from wasmbuild.errors import BuildError, ConfigError
from wasmbuild.execute import fetch
from wasmbuild.load.model import Input
from wasmbuild.load.packages import Pin
from wasmbuild.pipeline import prepare


def sri(data: bytes, algorithm: str = "sha512") -> str:
    return f"{algorithm}-{base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


def test_sri_forms_are_accepted_and_sha1_is_refused() -> None:
    for algorithm in ("sha256", "sha384", "sha512"):
        pin = Input.model_validate({"url": "npm:pkg@1.0.0", "integrity": sri(b"x", algorithm)}).pin
        assert pin == Pin(algorithm, hashlib.new(algorithm, b"x").hexdigest())
        assert pin.shown == (pin.hex if algorithm == "sha256" else sri(b"x", algorithm))
    # an integrity in sha256 is the same pin (and cache file) as the hex `sha256:` form
    assert Pin.sri(sri(b"x", "sha256")).cache_name == hashlib.sha256(b"x").hexdigest()
    with pytest.raises(ValueError, match="sha1 is too weak"):
        Pin.sri(sri(b"x", "sha1"))
    for bad, says in ((sri(b"x", "sha256").replace("sha256", "sha512"), "not a sha512 digest"),
                      ("sha512-!!!", "not valid base64"), ("md5-AAAA", "must be sha512-BASE64")):
        with pytest.raises(ValueError, match=says):
            Pin.sri(bad)


def wasmfile(tmp_path: Path, pin: str) -> Path:
    (tmp_path / "Wasmfile").write_text(textwrap.dedent(f"""\
        wasmfile: 1
        stages:
          a:
            inputs:
              - {{url: "npm:pkg@1.0.0", {pin}}}
            steps: ["true"]
            outputs: []
        """))
    return tmp_path / "Wasmfile"


@pytest.mark.parametrize(("pin", "says"), [
    (f"integrity: {sri(b'x', 'sha1')}", r"Wasmfile:5: .*sha1 is too weak"),
    (f"sha256: {'ab' * 32}, integrity: {sri(b'x')}", r"Wasmfile:5: .*exactly one of `sha256`.* or `integrity`"),
    ("dest: x.tgz", r"Wasmfile:5: .*exactly one of `sha256`"),
])
def test_a_wasmfile_pin_mistake_is_one_line(tmp_path: Path, pin: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        prepare(wasmfile(tmp_path, pin))


def test_integrity_pins_npm_packages_only() -> None:
    with pytest.raises(ValueError, match="`integrity` pins npm packages only"):
        Input.model_validate({"url": "https://example.test/a.tgz", "integrity": sri(b"x")})


def test_a_wrong_file_names_the_package_and_a_right_one_is_kept(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    fake_npm(tmp_path, 'printf tarball > "$4/pkg-1.0.0.tgz"\n', monkeypatch)
    good = Pin.sri(sri(b"tarball"))
    kept = fetch.fetch("npm:pkg@1.0.0", good)
    assert kept.read_bytes() == b"tarball" and kept.name == good.cache_name
    assert fetch.cached(good) == kept
    with pytest.raises(BuildError) as info:
        fetch.npm_pack("pkg", "1.0.0", Pin.sri(sri(b"other")))
    message = str(info.value)
    assert "\n" not in message.split(" (")[0]
    assert f"npm package pkg@1.0.0 has sha512 {sri(b'tarball')}, the pinned integrity is {sri(b'other')}" in message
    kept.write_bytes(b"corrupt")  # a corrupt cache entry is dropped, not used
    assert fetch.cached(good) is None and not kept.exists()


def test_many_npm_packages_are_fetched_per_npm_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the fake writes NAME-VERSION.tgz with content NAME for each spec after the destination
    calls = tmp_path / "calls"
    fake_npm(tmp_path, f'echo "$@" >> {calls}\ndest=$4; shift 4\n'
             'for spec in "$@"; do printf "%s" "${spec%@*}" > "$dest/${spec%@*}-${spec##*@}.tgz"; done\n',
             monkeypatch)
    monkeypatch.setattr(fetch, "NPM_BATCH", 10)
    names = [f"p{i}" for i in range(25)]
    fetch.prefetch([(f"npm:{n}@1.0.0", Pin.sri(sri(n.encode()))) for n in names])
    assert len(calls.read_text().splitlines()) == 3  # 25 specs, 10 per call
    assert all(fetch.cached(Pin.sri(sri(n.encode()))) for n in names)
    calls.unlink()
    fetch.prefetch([(f"npm:{n}@1.0.0", Pin.sri(sri(n.encode()))) for n in names])
    assert not calls.exists()  # all in the cache: npm is not run


def test_the_sbom_and_provenance_carry_an_integrity_pin(tmp_path: Path) -> None:
    """A download pinned by sha512 only: its SPDX package has the SHA512 checksum (valid SPDX),
    its CycloneDX component the SHA-512 hash, its provenance dependency a sha512 digest."""
    from tests.support import validate_spdx
    from tests.support.pipeline import attested_documents
    from wasmbuild.oci.referrers import ARTIFACT_CYCLONEDX, ARTIFACT_INTOTO, ARTIFACT_SPDX

    tarball = tmp_path / "pkg-1.0.0.tgz"
    tarball.write_bytes(b"tarball")
    pin = Pin.sri(sri(b"tarball"))
    fetch.add(tarball, pin=pin)  # in the download cache: no npm needed
    docs = attested_documents(tmp_path, f'{{url: "npm:pkg@1.0.0", integrity: "{pin.shown}"}}', ["spdx", "cyclonedx"])
    spdx = docs[ARTIFACT_SPDX]
    assert validate_spdx(spdx) == []
    [package] = [p for p in spdx["packages"] if p["name"] == "pkg-1.0.0.tgz"]
    assert package["checksums"] == [{"algorithm": "SHA512", "checksumValue": pin.hex}]
    assert package["externalRefs"][0]["referenceLocator"] == "pkg:npm/pkg@1.0.0"
    [component] = [c for c in docs[ARTIFACT_CYCLONEDX]["components"] if c["name"] == "pkg-1.0.0.tgz"]
    assert component["hashes"] == [{"alg": "SHA-512", "content": pin.hex}]
    [dep] = [d for d in docs[ARTIFACT_INTOTO]["predicate"]["buildDefinition"]["resolvedDependencies"]
             if d["name"] == "pkg-1.0.0.tgz"]
    assert dep["digest"] == {"sha512": pin.hex}


def test_a_failing_batch_names_the_package_npm_failed_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_npm(tmp_path, "cat >&2 <<'EOF'\nnpm error code E404\nnpm error 404 Not Found - GET somewhere\nnpm error 404\n"
             "npm error 404  The requested resource 'gone@2.0.0' could not be found\n"
             "npm error A complete log of this run can be found in: /x.log\nEOF\nexit 1\n", monkeypatch)
    with pytest.raises(BuildError) as info:
        fetch.npm_pack_many([("ok", "1.0.0", Pin.sri(sri(b"a"))), ("gone", "2.0.0", Pin.sri(sri(b"b")))])
    assert str(info.value).startswith("npm pack gone@2.0.0 failed: npm error 404  The requested resource 'gone@2.0.0'")


def test_a_big_files_sha512_is_remembered_by_its_signature(tmp_path: Path) -> None:
    from wasmbuild.cache.digests import MEMO_MIN_SIZE, DigestMemo

    big = tmp_path / "big.tgz"
    big.write_bytes(b"x" * (MEMO_MIN_SIZE + 1))
    memo = DigestMemo(tmp_path / "memo.json")
    want = hashlib.sha512(big.read_bytes()).hexdigest()
    assert memo.file_digest(big, "sha512") == want == memo.file_digest(big, "sha512")
    assert memo.hashed == 1
    assert memo.file_sha256(big) == hashlib.sha256(big.read_bytes()).hexdigest()  # its own entry
    assert memo.hashed == 2


def test_a_seeded_npm_tarball_serves_an_integrity_pin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`wasmbuild fetch --add pkg-1.0.0.tgz` (offline builds): found by its lockfile's integrity."""
    monkeypatch.setenv("PATH", str(tmp_path / "no-npm"))
    tarball = tmp_path / "pkg-1.0.0.tgz"
    tarball.write_bytes(b"seeded tarball")
    seeded = fetch.seed(tarball)
    assert seeded == {"sha256": hashlib.sha256(b"seeded tarball").hexdigest(), "integrity": sri(b"seeded tarball")}
    assert fetch.fetch("npm:pkg@1.0.0", Pin.sri(seeded["integrity"])).read_bytes() == b"seeded tarball"
    other = tmp_path / "zlib.tar.gz"
    other.write_bytes(b"not npm")
    assert set(fetch.seed(other)) == {"sha256"}
