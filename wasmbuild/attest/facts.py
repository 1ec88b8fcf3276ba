"""What a build is made of, for its SBOM and provenance: taken from the plan and the stage results
(what each stage read, with digests, and what ran it), never by scanning the image for packages.

Everything here is a function of the build's inputs: paths are relative to the build context,
times come from ``SOURCE_DATE_EPOCH``, and the order is sorted, so two checkouts of one project
give equal facts and so byte-identical documents.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..assemble.assemble import image_files, image_listers
from ..cache.digests import DigestMemo, file_sha256
from ..execute.fetch import resolved
from ..execute.probing import ToolRecord
from ..execute.scheduler import StageResult
from ..ignore import Lister, load_ignore
from ..load.packages import download_purl
from ..paths import clean_image_path, clean_relative
from ..plan import Plan

WASM_MAGIC = b"\0asm"
#: The version field after the magic: 1 for a core module; components use 0x0d with layer 1.
CORE_VERSION = b"\x01\x00\x00\x00"


@dataclass(frozen=True)
class FileFact:
    """A file: in the image (``path`` absolute) or in the build context (``path`` relative)."""

    path: str
    sha256: str
    sha1: str
    size: int
    kind: str = "file"  # image files: "module", "component" or "file"; context files: "source"
    stage: str | None = None  # the stage that made an image file (None: copied from the context)
    origin: str | None = None  # an image file copied from the context: its context path


@dataclass(frozen=True)
class Download:
    name: str
    url: str  # an http(s) URL, or npm:NAME@VERSION
    sha256: str | None  # None: pinned by another algorithm (`digests`)
    stages: tuple[str, ...]
    purl: str | None = None  # a package's (npm, pypi: the URL then is no download location; an input's `purl:`)
    other: tuple[str, str] | None = None  # (algorithm, hex): an `integrity:` pin (sha512, sha384)

    @property
    def digests(self) -> dict[str, str]:
        """Its pinned digests by algorithm (``sha256``, ``sha512``...): an in-toto DigestSet."""
        return {**({"sha256": self.sha256} if self.sha256 else {}), **dict([self.other] if self.other else [])}

    @property
    def uri(self) -> str:
        """What names the download as a URI: its URL, or its package URL."""
        return self.purl or self.url


@dataclass(frozen=True)
class Tool:
    """What ran stages: a host toolchain (compiler, C library) or a builder image."""

    kind: str  # "toolchain", "library", "builder", "runner" or "tool" (a stage's `tools:`)
    name: str
    version: str  # "" when unknown
    identity: str  # the runner identity the stage cache key holds
    sha256: str | None  # the compiler binary, the C library, or the builder's image id
    uri: str | None
    stages: tuple[str, ...]
    #: The Debian package that installed it, ``(name, version, architecture)``, if any.
    package: tuple[str, str, str] | None = None


@dataclass(frozen=True)
class RecipeFact:
    name: str
    sha256: str  # of the recipe's directory tree (recipe.yaml, template, scripts)
    library: bool  # shipped with wasmbuild (else from WASMBUILD_RECIPES)
    stages: tuple[str, ...]


@dataclass(frozen=True)
class PackageFact:
    """A package a stage's own package manager resolved from a lockfile (``packages:``)."""

    purl: str
    pin: str | None
    stages: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.purl.split("/", 1)[1].split("@", 1)[0].split("?", 1)[0]

    @property
    def version(self) -> str:
        return self.purl.split("@", 1)[1].split("?", 1)[0] if "@" in self.purl else ""


@dataclass(frozen=True)
class StageFact:
    name: str
    key: str
    runner: str
    recipe: str | None
    closure: tuple[str, ...]  # the stage and every stage it takes outputs from, transitively
    sources: tuple[str, ...]  # context paths of its input files
    downloads: tuple[str, ...]  # urls of its downloads
    packages: tuple[str, ...] = ()  # purls of the packages its lockfile resolved


@dataclass(frozen=True)
class Facts:
    name: str  # the image's name from the Wasmfile (first tag), never where it is published
    wasmfile: FileFact
    epoch: int
    platform: str
    version: str  # wasmbuild's
    image_files: tuple[FileFact, ...]
    sources: tuple[FileFact, ...]
    downloads: tuple[Download, ...]
    tools: tuple[Tool, ...]
    recipes: tuple[RecipeFact, ...]
    stages: tuple[StageFact, ...]
    packages: tuple[PackageFact, ...] = ()

    def closure(self, stage: str | None) -> tuple[StageFact, ...]:
        """The facts of ``stage`` and every stage upstream of it."""
        if stage is None:
            return ()
        names = next(s.closure for s in self.stages if s.name == stage)
        return tuple(s for s in self.stages if s.name in names)


def _hashes(path: Path) -> tuple[str, str, int, bytes]:
    """(sha256, sha1, size, first 8 bytes) in one read. SPDX 2.3 requires SHA1 for files. A
    context file copied into the image is both a source and an image file: it is read once."""
    st = os.stat(path)
    return _read_hashes(os.fspath(path), st.st_ino, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=8192)
def _read_hashes(path: str, _ino: int, _size: int, _mtime: int) -> tuple[str, str, int, bytes]:
    h256, h1 = hashlib.sha256(), hashlib.sha1(usedforsecurity=False)
    size, head = 0, b""
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            if not head:
                head = chunk[:8]
            h256.update(chunk)
            h1.update(chunk)
            size += len(chunk)
    return h256.hexdigest(), h1.hexdigest(), size, head


def _files_under(root: Path, lister: Lister | None = None) -> list[tuple[str, Path]]:
    """(relative POSIX path, path) of every regular file at or under ``root``, sorted; symlinks
    are not followed (the layer keeps them as links). ``lister`` lists a folder's entries to
    take (the context's ``.wasmignore``, as the layer and a stage's inputs take them)."""
    if root.is_symlink() or not root.exists():
        return []
    if root.is_file():
        return [("", root)]
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        if lister is not None:
            kept = {p.name for p in lister(Path(dirpath))}
            dirnames[:] = [d for d in dirnames if d in kept]
            filenames = [f for f in filenames if f in kept]
        dirnames.sort()
        for name in filenames:
            p = Path(dirpath) / name
            if p.is_file() and not p.is_symlink():
                found.append((p.relative_to(root).as_posix(), p))
    return sorted(found)


def _join(base: str, rel: str) -> str:
    return f"{base.rstrip('/')}/{rel}" if rel else base


def _kind(head: bytes) -> str:
    if head[:4] != WASM_MAGIC:
        return "file"
    return "module" if head[4:8] == CORE_VERSION else "component"


def _image_files(plan: Plan, outputs: Mapping[str, Path]) -> list[FileFact]:
    """The image's regular files as the layer has them: a ``src:`` folder less what the
    context's ``.wasmignore`` (and wasmbuild's own store or cache inside it) leaves out."""
    found: dict[str, FileFact] = {}
    specs = plan.project.model.image.files
    for (dest, source, _mode), spec, lister in zip(image_files(plan, outputs), specs, image_listers(plan),
                                                   strict=True):
        for rel, path in _files_under(source, lister):
            sha256, sha1, size, head = _hashes(path)
            image_path = clean_image_path(_join(dest, rel))
            origin = _join(clean_relative(spec.src), rel) if spec.src is not None else None
            found[image_path] = FileFact(image_path, sha256, sha1, size, _kind(head), spec.from_, origin)
    return [found[k] for k in sorted(found)]


def _context_files(context: Path, rel: str) -> list[FileFact]:
    ignore = load_ignore(context)
    out = []
    for sub, path in _files_under(context / rel, ignore.lister if ignore is not None else None):
        sha256, sha1, size, _ = _hashes(path)
        out.append(FileFact(_join(rel, sub), sha256, sha1, size, "source"))
    return out


def _digest_of(path: str, memo: DigestMemo | None) -> str | None:
    real = os.path.realpath(path)
    try:
        return memo.file_sha256(Path(real)) if memo is not None else file_sha256(Path(real))
    except OSError:
        return None


def tools_of(records: Sequence[ToolRecord], identity: str, memo: DigestMemo | None = None) -> list[Tool]:
    """The SBOM's tools for the records of what ran a stage (``StageResult.tools``: the toolchain
    folder's ``facts``, declared tools, the builder): each file hashed, with its Debian package."""
    tools = []
    for r in records:
        real = os.path.realpath(r.path) if r.path else None
        sha = r.sha256 or (_digest_of(r.path, memo) if r.path else None)
        package = debian_package(real) if real else None
        version = r.version or (package[1] if package and r.kind == "library" else "")
        tools.append(Tool(r.kind, r.name, version, identity, sha, f"file://{real}" if real else None, (), package))
    return tools


DPKG_STATUS = Path("/var/lib/dpkg/status")


@functools.cache
def debian_package(path: str) -> tuple[str, str, str] | None:
    """(name, version, architecture) of the Debian package that owns ``path``, or None (not a
    Debian system, or a file no package installed). ``dpkg-query -S`` reads every package's file
    list (~0.2 s), so answers are remembered in the toolchains cache area until dpkg's status
    file changes (any install, upgrade or removal)."""
    import json

    from ..dirs import cache_area
    from ..fsutil import atomic_write_bytes

    try:
        stamp = DPKG_STATUS.stat().st_mtime_ns
    except OSError:
        return None
    memo = cache_area("toolchains") / "debian-owners.json"
    try:
        rows = json.loads(memo.read_bytes())
        rows = rows if isinstance(rows, dict) and rows.get("stamp") == stamp else {"stamp": stamp}
    except (OSError, ValueError):
        rows = {"stamp": stamp}
    if path in rows:
        hit = rows[path]
        return (str(hit[0]), str(hit[1]), str(hit[2])) if hit else None
    found = _dpkg_owner(path)
    rows[path] = list(found) if found else None
    with contextlib.suppress(OSError):  # a read-only cache only costs the lookup next time
        atomic_write_bytes(memo, json.dumps(rows).encode())
    return found


def _dpkg_owner(path: str) -> tuple[str, str, str] | None:
    import shutil
    import subprocess

    if shutil.which("dpkg-query") is None:
        return None
    try:
        owner = subprocess.run(["dpkg-query", "-S", path], capture_output=True, text=True, timeout=10)
        name = owner.stdout.split(":", 1)[0].strip() if owner.returncode == 0 else ""
        if not name or "," in name or " " in name:  # unowned, or diverted/shared: no single answer
            return None
        shown = subprocess.run(["dpkg-query", "-W", "-f=${Version} ${Architecture}", name],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    parts = shown.stdout.split()
    return (name, parts[0], parts[1]) if shown.returncode == 0 and len(parts) == 2 else None


def gather(plan: Plan, results: Sequence[StageResult], outputs: Mapping[str, Path],
           memo: DigestMemo | None = None) -> Facts:
    """The facts of one build: ``results`` are the scheduler's, ``outputs`` each stage's $OUT."""
    project = plan.project
    context = project.context
    sources: dict[str, FileFact] = {}
    downloads: dict[str, Download] = {}
    tools: dict[tuple[str, str, str], Tool] = {}
    recipes: dict[str, RecipeFact] = {}
    packages: dict[str, PackageFact] = {}
    stages: list[StageFact] = []
    closure: dict[str, tuple[str, ...]] = {}
    for name in plan.order:
        closure[name] = tuple(sorted({name, *(s for d in plan.deps[name] for s in closure[d])}))
    for result in results:
        spec = project.stages[result.name]
        own_sources: list[str] = []
        own_downloads: list[str] = []
        for inp in spec.inputs:
            if inp.src is not None:
                for f in _context_files(context, clean_relative(inp.src)):
                    sources.setdefault(f.path, f)
                    own_sources.append(f.path)
            elif inp.url is not None:
                prior = downloads.get(inp.url)
                users = (*prior.stages, spec.name) if prior else (spec.name,)
                pin = resolved(inp.url, inp.pin, memo)  # several accepted digests: the file's
                sha256 = pin.hex if pin.algorithm == "sha256" else None
                downloads[inp.url] = Download(Path(inp.file_name).name, inp.url, sha256, users,
                                              inp.purl or download_purl(inp.url),
                                              None if sha256 else (pin.algorithm, pin.hex))
                own_downloads.append(inp.url)
        for tool in tools_of(result.tools, result.runner, memo):
            key = (tool.kind, tool.name, tool.identity)
            prior_tool = tools.get(key)
            users = (*prior_tool.stages, spec.name) if prior_tool else (spec.name,)
            tools[key] = Tool(tool.kind, tool.name, tool.version, tool.identity, tool.sha256, tool.uri, users,
                              tool.package)
        if spec.recipe is not None and spec.recipe_sha256 is not None:  # from render: no re-reading
            prior_recipe = recipes.get(spec.recipe)
            users = (*prior_recipe.stages, spec.name) if prior_recipe else (spec.name,)
            recipes[spec.recipe] = RecipeFact(spec.recipe, spec.recipe_sha256, spec.recipe_library, users)
        for purl, locked in spec.packages:
            prior_package = packages.get(purl)
            users = (*prior_package.stages, spec.name) if prior_package else (spec.name,)
            packages[purl] = PackageFact(purl, locked or (prior_package.pin if prior_package else None), users)
        stages.append(StageFact(spec.name, result.key, result.runner, spec.recipe, closure[spec.name],
                                tuple(sorted(set(own_sources))), tuple(sorted(set(own_downloads))),
                                tuple(sorted({purl for purl, _ in spec.packages}))))
    for item in project.model.image.files:
        if item.src is not None:
            for fact in _context_files(context, clean_relative(item.src)):
                sources.setdefault(fact.path, fact)
    wasmfile = project.path
    sha256, sha1, size, _ = _hashes(wasmfile)
    rel = os.path.relpath(wasmfile.resolve(), context.resolve())
    image = project.model.image
    return Facts(
        name=image.tags[0] if image.tags else "image",
        wasmfile=FileFact(Path(rel).as_posix(), sha256, sha1, size, "wasmfile"),
        epoch=_epoch(),
        platform=image.platform,
        version=__version__,
        image_files=tuple(_image_files(plan, outputs)),
        sources=tuple(sources[k] for k in sorted(sources)),
        downloads=tuple(downloads[k] for k in sorted(downloads)),
        tools=tuple(tools[k] for k in sorted(tools)),
        recipes=tuple(recipes[k] for k in sorted(recipes)),
        stages=tuple(sorted(stages, key=lambda s: s.name)),
        packages=tuple(packages[k] for k in sorted(packages)),
    )


def _epoch() -> int:
    from ..dirs import source_date_epoch

    return source_date_epoch()
