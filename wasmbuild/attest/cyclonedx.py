"""The SBOM as CycloneDX 1.5 JSON (``--sbom cyclonedx``), with ``cyclonedx-python-lib``.

The same facts as the SPDX document (``sbom.py``): the image is the BOM's subject component;
modules, image files, sources, downloads, recipes, toolchains and builders are components; the
dependency graph says what each image file was made from and with. Serial number and timestamp
derive from the image digest and ``SOURCE_DATE_EPOCH``, so equal builds give equal bytes.
"""

from __future__ import annotations

import datetime as _dt
import json
import uuid
from typing import Any

from ..errors import BuildError
from ..oci import Descriptor, canonical_json
from .facts import Facts
from .sbom import NAMESPACE


def cyclonedx_bytes(facts: Facts, subject: Descriptor) -> bytes:
    """The CycloneDX 1.5 JSON document for image manifest ``subject``, schema-checked."""
    from cyclonedx.model import ExternalReference, ExternalReferenceType, HashAlgorithm, HashType, XsUri
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.dependency import Dependency
    from cyclonedx.output.json import JsonV1Dot5
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    from packageurl import PackageURL

    def sha256(value: str | None) -> list[Any]:
        return [HashType(alg=HashAlgorithm.SHA_256, content=value)] if value else []

    image = Component(name=facts.name, type=ComponentType.CONTAINER, version=subject.digest,
                      bom_ref="image", hashes=sha256(subject.digest.removeprefix("sha256:")))
    parts: dict[str, Component] = {}
    for s in facts.sources:
        parts[f"source:{s.path}"] = Component(name=s.path, type=ComponentType.FILE, bom_ref=f"source:{s.path}",
                                              hashes=sha256(s.sha256), description="from the build context")
    algorithms = {"sha384": HashAlgorithm.SHA_384, "sha512": HashAlgorithm.SHA_512}
    for d in facts.downloads:
        where = [ExternalReference(type=ExternalReferenceType.DISTRIBUTION, url=XsUri(d.url))] if d.url.startswith(
            ("http://", "https://")) else []  # npm:, pypi: name no location
        pinned = sha256(d.sha256) + ([HashType(alg=algorithms[d.other[0]], content=d.other[1])] if d.other else [])
        parts[f"download:{d.url}"] = (
            Component(name=d.name, type=ComponentType.LIBRARY, bom_ref=f"download:{d.url}", hashes=pinned,
                      purl=PackageURL.from_string(d.purl), external_references=where) if d.purl else
            Component(name=d.name, type=ComponentType.FILE, bom_ref=f"download:{d.url}", hashes=pinned,
                      external_references=where))
    for pk in facts.packages:
        parts[f"package:{pk.purl}"] = Component(
            name=pk.name, type=ComponentType.LIBRARY, version=pk.version or None, bom_ref=f"package:{pk.purl}",
            purl=PackageURL.from_string(pk.purl),
            description="resolved by the stage's package manager, pinned by its lockfile"
                        + (f" ({pk.pin})" if pk.pin else ""))
    for t in facts.tools:
        kind = {"builder": ComponentType.CONTAINER, "library": ComponentType.LIBRARY}.get(
            t.kind, ComponentType.APPLICATION)
        ref = f"{t.kind}:{t.name}:{t.identity}"
        parts[ref] = Component(name=t.name, type=kind, version=t.version or None, bom_ref=ref,
                               hashes=sha256(t.sha256), description=f"runner {t.identity}")
    for r in facts.recipes:
        ref = f"recipe:{r.name}"
        parts[ref] = Component(name=f"wasmbuild-recipe-{r.name}", type=ComponentType.FILE, bom_ref=ref,
                               version=facts.version if r.library else None, hashes=sha256(r.sha256))
    made: dict[str, list[str]] = {}
    for f in facts.image_files:
        ref = f"image:{f.path}"
        kind = ComponentType.APPLICATION if f.kind in ("module", "component") else ComponentType.FILE
        parts[ref] = Component(name=f.path, type=kind, bom_ref=ref, hashes=sha256(f.sha256))
        below: list[str] = [f"source:{f.origin}"] if f.origin else []
        for stage in facts.closure(f.stage):
            below += [f"source:{p}" for p in stage.sources] + [f"download:{u}" for u in stage.downloads]
            below += [f"package:{p}" for p in stage.packages]
            below += [k for k, t in ((k, t) for t in facts.tools for k in [f"{t.kind}:{t.name}:{t.identity}"])
                      if stage.name in t.stages]
            below += [f"recipe:{stage.recipe}"] if stage.recipe else []
        made[ref] = sorted(set(below) & set(parts))

    serial = uuid.uuid5(uuid.NAMESPACE_URL, f"{NAMESPACE}/cyclonedx/{subject.digest}")
    when = _dt.datetime.fromtimestamp(facts.epoch, _dt.UTC)
    bom = Bom(serial_number=serial, metadata=BomMetaData(component=image, timestamp=when))
    for ref in sorted(parts):
        bom.components.add(parts[ref])
    bom.dependencies.add(Dependency(ref=image.bom_ref,
                                    dependencies=[Dependency(ref=parts[r].bom_ref) for r in sorted(made)]))
    for ref, below in made.items():
        bom.dependencies.add(Dependency(ref=parts[ref].bom_ref,
                                        dependencies=[Dependency(ref=parts[b].bom_ref) for b in below]))
    text = JsonV1Dot5(bom).output_as_string()
    error = JsonStrictValidator(SchemaVersion.V1_5).validate_str(text)
    if error is not None:
        raise BuildError(f"the CycloneDX SBOM of {subject.digest} does not match the 1.5 schema: {error}",
                         hint="this is a wasmbuild bug; build with --sbom spdx meanwhile and report it")
    return canonical_json(json.loads(text))
