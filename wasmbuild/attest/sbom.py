"""The SBOM of an image: SPDX 2.3 JSON (and optionally CycloneDX 1.5), from the build's facts.

What it lists (``docs/supply-chain.md``): the image (by manifest digest), every Wasm module and
other file in it (SHA256 + SHA1), every source (context files by digest, downloads by URL +
sha256), the recipes, the toolchains (compiler and version, wasi-libc) and builder images (by
image id), and how they relate: the image CONTAINS its files, a file is GENERATED_FROM the
sources of the stages that made it, toolchains and builders are BUILD_TOOL_OF it, recipes and the
Wasmfile are METAFILE_OF what they describe.

The document is plain data written as canonical JSON (sorted keys): equal facts give equal
bytes. Every document is checked (:func:`check_spdx`) before it is attached; the tests check
the same documents with ``spdx-tools``.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from ..assemble.image import rfc3339
from ..errors import BuildError
from ..oci import Descriptor, canonical_json
from .facts import Facts, FileFact, Tool

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


def _checksums(sha256: str | None, sha1: str | None = None,
               other: tuple[str, str] | None = None) -> list[dict[str, str]]:
    out = []
    if sha1:
        out.append({"algorithm": "SHA1", "checksumValue": sha1})
    if sha256:
        out.append({"algorithm": "SHA256", "checksumValue": sha256})
    if other:  # an `integrity:` pin: SHA384 or SHA512
        out.append({"algorithm": other[0].upper(), "checksumValue": other[1]})
    return out


#: SPDX 2.3's download location form for a URL (its spec's pattern): a domain name, no address.
_SPDX_URL = re.compile(r"^(https?://)([\w\-.!~*'()%;:&=+$,]+@)?[a-z0-9]+([\-.][a-z0-9]+)*\.[a-z]{2,5}(:[0-9]{1,5})?(/.*)?$")


def _package(ident: str, name: str, *, version: str = "", purpose: str = "OTHER",
             sha256: str | None = None, sha1: str | None = None, location: str = NOASSERTION,
             comment: str = "", purl: str | None = None, file_name: str | None = None,
             other: tuple[str, str] | None = None) -> dict[str, Any]:
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
    if sha256 or sha1 or other:
        pkg["checksums"] = _checksums(sha256, sha1, other)
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
        # npm:, pypi: are no location; nor, for SPDX 2.3, a URL whose host is no domain name
        # (an address: a mirror at 127.0.0.1:8080): the comment then says where it came from.
        where = dl.url if _SPDX_URL.match(dl.url) else NOASSERTION
        came = f" from {dl.url}" if where == NOASSERTION and dl.url.startswith(("http://", "https://")) else ""
        packages.append(_package(download_ids[dl.url], dl.name, purpose="SOURCE", sha256=dl.sha256,
                                 location=where, file_name=dl.name, purl=dl.purl,
                                 other=dl.other, comment=f"downloaded{came}, pinned by {', '.join(dl.digests)}; "
                                                         f"input of {', '.join(dl.stages)}"))
    package_ids: dict[str, str] = {}
    for pk in facts.packages:
        package_ids[pk.purl] = ids.new("Package", pk.name)
        pinned = f"pinned by its lockfile ({pk.pin})" if pk.pin else "pinned by its lockfile"
        packages.append(_package(package_ids[pk.purl], pk.name, version=pk.version, purpose="LIBRARY", purl=pk.purl,
                                 comment=f"resolved by the stage's package manager, {pinned}; "
                                         f"input of {', '.join(pk.stages)}"))
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
            rels += [(ident, "GENERATED_FROM", package_ids[p]) for p in upstream.packages]
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


_SPDX_ID = re.compile(r"SPDXRef-[A-Za-z0-9.-]+")
_HEX = {"SHA1": 40, "SHA256": 64, "SHA384": 96, "SHA512": 128}
_RELATIONSHIPS = {"DESCRIBES", "CONTAINS", "COPY_OF", "GENERATED_FROM", "STATIC_LINK", "BUILD_TOOL_OF",
                  "METAFILE_OF"}


def check_spdx(doc: dict[str, Any]) -> list[str]:
    """What makes ``doc`` invalid SPDX 2.3, checked in one pass over its elements: the rules
    ``spdx-tools`` applies to the documents :func:`spdx_document` writes (ids well-formed and
    unique, every relationship and ``DESCRIBES`` naming an element of the document, files with a
    ``./`` name and a SHA1, checksums of the right length, a verification code where files were
    analysed). ``spdx-tools`` itself checks the same documents in the tests: it is quadratic in
    the number of elements (0.73 s against 6 ms for the 1,476 elements of a 736-file context,
    ``benchmarks/sbom_check.py``), too slow for every build."""
    problems: list[str] = []
    if doc.get("spdxVersion") != "SPDX-2.3" or doc.get("SPDXID") != "SPDXRef-DOCUMENT":
        problems.append("not an SPDX-2.3 document with SPDXID SPDXRef-DOCUMENT")
    for key in ("name", "documentNamespace", "dataLicense"):
        if not doc.get(key):
            problems.append(f"document has no {key}")
    info = doc.get("creationInfo") or {}
    if not info.get("created") or not info.get("creators"):
        problems.append("creationInfo needs created and creators")
    ids = {"SPDXRef-DOCUMENT"}
    for kind, required in (("packages", ("name", "downloadLocation")), ("files", ("fileName",))):
        for element in doc.get(kind, []):
            ident = element.get("SPDXID", "")
            if not _SPDX_ID.fullmatch(ident):
                problems.append(f"{kind}: malformed SPDXID {ident!r}")
            elif ident in ids:
                problems.append(f"{kind}: duplicate SPDXID {ident}")
            ids.add(ident)
            problems += [f"{ident}: no {key}" for key in required if not element.get(key)]
            sums = {c.get("algorithm"): c.get("checksumValue", "") for c in element.get("checksums", [])}
            problems += [f"{ident}: {alg} checksum {value!r} is not {_HEX.get(alg, 'known')} hex digits"
                         for alg, value in sums.items()
                         if alg not in _HEX or not re.fullmatch(f"[0-9a-f]{{{_HEX[alg]}}}", value)]
            if kind == "files":
                if not element.get("fileName", "").startswith("./"):
                    problems.append(f"{ident}: fileName must start with ./")
                if "SHA1" not in sums:
                    problems.append(f"{ident}: a file needs a SHA1 checksum")
            elif element.get("filesAnalyzed") and not element.get("packageVerificationCode"):
                problems.append(f"{ident}: filesAnalyzed needs a packageVerificationCode")
    for rel in doc.get("relationships", []):
        a, kind, b = rel.get("spdxElementId"), rel.get("relationshipType"), rel.get("relatedSpdxElement")
        if kind not in _RELATIONSHIPS:
            problems.append(f"unknown relationship type {kind!r}")
        problems += [f"relationship {kind} names {x!r}, not an element of the document"
                     for x in (a, b) if x not in ids]
    return problems


def spdx_bytes(facts: Facts, subject: Descriptor) -> bytes:
    """The SPDX document as canonical JSON bytes, checked with :func:`check_spdx` (a document
    that fails it is a wasmbuild bug, never attached)."""
    data = canonical_json(spdx_document(facts, subject))
    problems = check_spdx(json.loads(data))
    if problems:
        raise BuildError(f"the SBOM of {subject.digest} is not valid SPDX 2.3: {problems[0]}",
                         hint="this is a wasmbuild bug; build with --no-sbom meanwhile and report it")
    return data
