"""The SBOM of an image: SPDX 2.3 JSON (and optionally CycloneDX 1.5), from the build's facts.

What it lists (``docs/supply-chain.md``): the image (by manifest digest), every Wasm module and
other file in it (SHA256 + SHA1), every source (context files by digest, downloads by URL +
sha256), the recipes, the toolchains (compiler and version, wasi-libc) and builder images (by
image id), and how they relate: the image CONTAINS its files, a file is GENERATED_FROM the
sources of the stages that made it, toolchains and builders are BUILD_TOOL_OF it, recipes and the
Wasmfile are METAFILE_OF what they describe.

The document is plain data written as canonical JSON (sorted keys): equal facts give equal
bytes. Every document is checked with ``spdx-tools`` before it is attached.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
from pathlib import Path
from typing import Any

from ..errors import BuildError
from ..oci import Descriptor, canonical_json
from .facts import Facts, FileFact, Tool
from .image import rfc3339

NAMESPACE = "https://wasmbuild.dev/spdx"
NOASSERTION = "NOASSERTION"


class _Ids:
    """SPDX ids (``SPDXRef-[A-Za-z0-9.-]+``), unique and stable for equal facts."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def new(self, kind: str, name: str) -> str:
        base = f"SPDXRef-{kind}-" + (re.sub(r"[^A-Za-z0-9.]+", "-", name).strip("-.") or "x")
        ident, n = base, 1
        while ident in self.used:
            n += 1
            ident = f"{base}-{n}"
        self.used.add(ident)
        return ident


def purl_oci(name: str, digest: str, platform: str | None = None) -> str:
    """``pkg:oci/NAME@sha256%3A...`` (purl-spec's oci type; NAME is the last path segment)."""
    repo = name.split("@")[0]
    last = repo.rsplit("/", 1)[-1]
    if ":" in last:
        last = last.split(":", 1)[0]
    purl = f"pkg:oci/{last.lower()}@{digest.replace(':', '%3A')}"
    if platform:
        os_, arch = [*platform.split("/"), "", ""][:2]
        purl += f"?arch={arch}&os={os_}"
    return purl


def purl_deb(package: tuple[str, str, str]) -> str:
    """``pkg:deb/debian/NAME@VERSION?arch=ARCH`` for the Debian package that installed a tool."""
    from urllib.parse import quote

    name, version, arch = package
    return f"pkg:deb/debian/{name}@{quote(version, safe='.~-')}?arch={arch}"


def _checksums(sha256: str | None, sha1: str | None = None) -> list[dict[str, str]]:
    out = []
    if sha1:
        out.append({"algorithm": "SHA1", "checksumValue": sha1})
    if sha256:
        out.append({"algorithm": "SHA256", "checksumValue": sha256})
    return out


def _package(ident: str, name: str, *, version: str = "", purpose: str = "OTHER",
             sha256: str | None = None, sha1: str | None = None, location: str = NOASSERTION,
             comment: str = "", purl: str | None = None, file_name: str | None = None) -> dict[str, Any]:
    pkg: dict[str, Any] = {
        "SPDXID": ident,
        "name": name,
        "downloadLocation": location,
        "filesAnalyzed": False,
        "primaryPackagePurpose": purpose,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": NOASSERTION,
        "copyrightText": NOASSERTION,
    }
    if version:
        pkg["versionInfo"] = version
    if sha256 or sha1:
        pkg["checksums"] = _checksums(sha256, sha1)
    if comment:
        pkg["comment"] = comment
    if purl:
        pkg["externalRefs"] = [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                                "referenceLocator": purl}]
    if file_name:
        pkg["packageFileName"] = file_name
    return pkg


def _file(ident: str, fact: FileFact, file_type: str, comment: str) -> dict[str, Any]:
    return {
        "SPDXID": ident,
        "fileName": "./" + fact.path.lstrip("/"),
        "fileTypes": [file_type],
        "checksums": _checksums(fact.sha256, fact.sha1),
        "licenseConcluded": NOASSERTION,
        "copyrightText": NOASSERTION,
        "comment": comment,
    }


def _tool_package(ids: _Ids, tool: Tool) -> dict[str, Any]:
    if tool.kind == "builder":
        purl = None
        if "@sha256:" in tool.name:  # pinned by its registry digest
            purl = purl_oci(tool.name, tool.name.split("@", 1)[1])
        return _package(ids.new("Builder", tool.name), tool.name, version=tool.version, purpose="CONTAINER",
                        sha256=tool.sha256, purl=purl,
                        comment=f"builder image (image id = config digest) that ran stages "
                                f"{', '.join(tool.stages)}; runner {tool.identity}")
    purpose = "LIBRARY" if tool.kind == "library" else "APPLICATION"
    return _package(ids.new("Tool", tool.name), tool.name, version=tool.version, purpose=purpose,
                    sha256=tool.sha256, purl=purl_deb(tool.package) if tool.package else None,
                    comment=f"host toolchain of stages {', '.join(tool.stages)} ({tool.uri or ''}); "
                            f"runner {tool.identity}")


def spdx_document(facts: Facts, subject: Descriptor) -> dict[str, Any]:
    """The SPDX 2.3 document for image manifest ``subject`` built from ``facts``."""
    ids = _Ids()
    image_id = "SPDXRef-Image"
    ids.used.add(image_id)
    platform = "/".join(v for v in ((subject.platform or {}).get("os"),
                                     (subject.platform or {}).get("architecture")) if v) or facts.platform
    packages = [_package(image_id, facts.name, version=subject.digest, purpose="CONTAINER",
                         sha256=subject.digest.removeprefix("sha256:"),
                         purl=purl_oci(facts.name, subject.digest, platform),
                         comment=f"the image manifest ({platform}), built by wasmbuild {facts.version} "
                                 f"from {facts.wasmfile.path}")]
    files: list[dict[str, Any]] = []
    rels: list[tuple[str, str, str]] = [("SPDXRef-DOCUMENT", "DESCRIBES", image_id)]

    source_ids: dict[str, str] = {}
    for src in facts.sources:
        source_ids[src.path] = ids.new("Source", src.path)
        files.append(_file(source_ids[src.path], src, "SOURCE", "from the build context"))
    download_ids: dict[str, str] = {}
    for dl in facts.downloads:
        download_ids[dl.url] = ids.new("Download", dl.name)
        packages.append(_package(download_ids[dl.url], dl.name, purpose="SOURCE", sha256=dl.sha256,
                                 location=dl.url, file_name=dl.name,
                                 comment=f"downloaded, pinned by sha256; input of {', '.join(dl.stages)}"))
    wasmfile_id = ids.new("Wasmfile", facts.wasmfile.path)
    files.append(_file(wasmfile_id, facts.wasmfile, "TEXT", "the Wasmfile the image was built from"))
    rels.append((wasmfile_id, "METAFILE_OF", image_id))
    tool_ids: dict[str, list[str]] = {}
    libraries: set[str] = set()
    for tool in facts.tools:
        pkg = _tool_package(ids, tool)
        packages.append(pkg)
        if tool.kind == "library":
            libraries.add(pkg["SPDXID"])
        for stage in tool.stages:
            tool_ids.setdefault(stage, []).append(pkg["SPDXID"])
    recipe_ids: dict[str, str] = {}
    for recipe in facts.recipes:
        recipe_ids[recipe.name] = ids.new("Recipe", recipe.name)
        origin = "the wasmbuild recipe library" if recipe.library else "WASMBUILD_RECIPES"
        packages.append(_package(recipe_ids[recipe.name], f"wasmbuild-recipe-{recipe.name}",
                                 version=facts.version if recipe.library else "",
                                 comment=f"recipe {recipe.name!r} from {origin}; directory tree "
                                         f"sha256 {recipe.sha256}"))

    for f in facts.image_files:
        if f.kind in ("module", "component"):
            ident = ids.new("Module", f.path)
            what = "WebAssembly core module" if f.kind == "module" else "WebAssembly component"
            packages.append(_package(ident, f.path.rsplit("/", 1)[-1], purpose="APPLICATION",
                                     sha256=f.sha256, sha1=f.sha1, file_name=f.path,
                                     comment=f"{what} at {f.path} in the image, "
                                             + (f"made by stage {f.stage}" if f.stage else "from the context")))
        else:
            ident = ids.new("File", f.path)
            files.append(_file(ident, f, "BINARY" if f.stage else "OTHER",
                               f"in the image at {f.path}" + (f", made by stage {f.stage}" if f.stage else "")))
        rels.append((image_id, "CONTAINS", ident))
        if f.origin is not None and f.origin in source_ids:
            rels.append((ident, "COPY_OF", source_ids[f.origin]))
        for upstream in facts.closure(f.stage):
            rels += [(ident, "GENERATED_FROM", source_ids[p]) for p in upstream.sources]
            rels += [(ident, "GENERATED_FROM", download_ids[u]) for u in upstream.downloads]
            for tool_id in tool_ids.get(upstream.name, []):
                # wasi-libc is linked into the module; compilers and builders only made it
                rels.append((ident, "STATIC_LINK", tool_id) if tool_id in libraries
                            else (tool_id, "BUILD_TOOL_OF", ident))
            if upstream.recipe is not None:
                rels.append((recipe_ids[upstream.recipe], "METAFILE_OF", ident))

    contained = [f.sha1 for f in facts.image_files if f.kind not in ("module", "component")]
    if contained:
        # A package that CONTAINS files must say it analysed them, with their verification code
        # (SPDX 2.3 section 7.9: sha1 over the sorted sha1s of its files).
        packages[0]["filesAnalyzed"] = True
        code = hashlib.sha1("".join(sorted(contained)).encode(), usedforsecurity=False).hexdigest()
        packages[0]["packageVerificationCode"] = {"packageVerificationCodeValue": code}
    unique = sorted(set(rels))
    return {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{facts.name}@{subject.digest}",
        "documentNamespace": f"{NAMESPACE}/{subject.digest.replace(':', '-')}",
        "creationInfo": {
            "created": rfc3339(facts.epoch),
            "creators": [f"Tool: wasmbuild-{facts.version}"],
            "comment": "From the Wasmfile, the build plan and the stage results (inputs by digest, "
                       "runner identities); times come from SOURCE_DATE_EPOCH.",
        },
        "packages": packages,
        "files": files,
        "relationships": [{"spdxElementId": a, "relationshipType": t, "relatedSpdxElement": b}
                          for a, t, b in unique],
    }


def validate_spdx(doc: dict[str, Any]) -> list[str]:
    """Problems ``spdx-tools`` finds in ``doc`` (empty: valid SPDX 2.3)."""
    from spdx_tools.spdx.parser.error import SPDXParsingError
    from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    try:
        document = JsonLikeDictParser().parse(doc)  # type: ignore[no-untyped-call]
    except SPDXParsingError as exc:
        return [str(m) for m in exc.get_messages()]  # type: ignore[no-untyped-call]
    return [m.validation_message for m in validate_full_spdx_document(document)]


def spdx_bytes(facts: Facts, subject: Descriptor, valid_memo: Path | None = None) -> bytes:
    """The SPDX document as canonical JSON bytes, checked with ``spdx-tools``. A document checked
    once is not checked again (importing and running the validator takes ~0.5 s): a marker in
    ``valid_memo`` names its digest and the spdx-tools install."""
    data = canonical_json(spdx_document(facts, subject))
    marker = None
    if valid_memo is not None:
        spec = importlib.util.find_spec("spdx_tools")
        origin = os.stat(spec.origin).st_mtime_ns if spec and spec.origin else 0
        marker = valid_memo / f"spdx-{hashlib.sha256(data).hexdigest()}-{origin}"
        if marker.exists():
            return data
    problems = validate_spdx(json.loads(data))
    if problems:
        raise BuildError(f"the SBOM of {subject.digest} is not valid SPDX 2.3: {problems[0]}",
                         hint="this is a wasmbuild bug; build with --no-sbom meanwhile and report it")
    if marker is not None:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    return data
