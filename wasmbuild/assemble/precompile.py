"""``build --precompile``: wasmtime-precompiled code for every image manifest a build wrote,
attached as OCI 1.1 referrers (the format: ``wasm/precompiled.py``; docs/precompiled.md).

For each image manifest under the built descriptor (one, or each entry of an index) the module
``wasmbuild run`` would start is found (the entrypoint file in the image's layers, or the Wasm
layer of a runwasi or artifact image), compiled for each target's baseline ISA and attached
through the same referrer mechanism as the SBOM (``oci/referrers.attach``), so the store, every
``-o oci:DIR`` and every registry the image goes to get it too. The image is not touched.

Compiling CPython takes seconds and its code does not change while the module does not, so the
compressed code is memoised in the cache area ``precompiled`` by module digest, kind, target and
wasmtime version: a cached rebuild attaches it again in milliseconds. Cranelift's output is
deterministic and the compressor pinned (zstd, ``compress.py``), so the referrer is too.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from ..dirs import cache_area
from ..fsutil import atomic_write_bytes
from ..oci import TITLE, Descriptor, sha256_digest
from ..oci.layout import Layout
from ..oci.referrers import Document, attach, image_manifests
from ..oci.targets import WASM_LAYER_TYPES, is_tar_layer
from ..paths import PathEscape, clean_image_path
from ..wasm import binary
from ..wasm.precompiled import (
    ANN_COMPAT,
    ANN_ENGINE,
    ANN_ENGINE_VERSION,
    ANN_KIND,
    ANN_MODULE,
    ANN_MODULE_DIGEST,
    ANN_TARGET,
    ANN_UNCOMPRESSED,
    ARTIFACT_TYPE,
    MEDIA_CWASM_ZSTD,
    PrecompileError,
    baseline_engine,
    compat_key,
    compile_native,
    wasmtime_version,
)
from .compress import Compression, ZstdWriter
from .image import rfc3339

#: zstd 19: the CPython code is 3.9 MB instead of 4.7 MB with gzip -9, decompresses as fast
#: (~0.04 s), and the 5 s it costs are paid once per module (memoised).
CODE_COMPRESSION = Compression("zstd", 19)


@dataclass(frozen=True)
class Code:
    """One module's compiled code for one target: the compressed blob and its facts."""

    blob: bytes
    uncompressed: str  # sha256 digest of the code
    size: int  # bytes of the code
    memoised: bool


def entry_module(layout: Layout, manifest: dict[str, Any]) -> tuple[str, bytes] | None:
    """(image path, bytes) of the module ``run`` starts, or None if the image has none."""
    for layer in manifest.get("layers") or []:
        if layer.get("mediaType") in WASM_LAYER_TYPES:  # runwasi, artifact: the layer is the module
            title = (layer.get("annotations") or {}).get(TITLE) or "module.wasm"
            return "/" + title.lstrip("/"), layout.read_blob(layer["digest"])
    cfg = layout.read_json(manifest["config"]["digest"]).get("config") or {}
    argv = list(cfg.get("Entrypoint") or []) + list(cfg.get("Cmd") or [])
    if not argv:
        return None
    workdir = cfg.get("WorkingDir") or "/"
    try:  # as runtime.run.run_spec: a relative argv[0] is found against the workdir
        path = clean_image_path(argv[0] if argv[0].startswith("/") else f"{workdir}/{argv[0]}")
    except PathEscape:
        return None
    data = _file_in_layers(layout, manifest, path)
    return (path, data) if data is not None else None


def _file_in_layers(layout: Layout, manifest: dict[str, Any], path: str) -> bytes | None:
    """A regular file's bytes from the image's tar layers (the last layer holding it wins)."""
    from .compress import open_layer

    wanted = path.lstrip("/")
    found: bytes | None = None
    for layer in manifest.get("layers") or []:
        if not is_tar_layer(layer["mediaType"]):
            continue
        with open_layer(layout.blob_path(layer["digest"]), layer["mediaType"]) as fh, \
                tarfile.open(fileobj=fh, mode="r|") as tar:
            for member in tar:
                if member.name.lstrip("./") == wanted:
                    handle = tar.extractfile(member) if member.isfile() else None
                    found = handle.read() if handle is not None else None
    return found


def compile_code(module: bytes, kind: str, target: str) -> Code:
    """``module`` compiled for ``target``'s baseline ISA and compressed (memoised)."""
    key = hashlib.sha256("\0".join([sha256_digest(module), kind, target, wasmtime_version(),
                                    CODE_COMPRESSION.key]).encode()).hexdigest()
    memo = cache_area("precompiled") / key
    try:
        facts = json.loads((memo / "facts.json").read_text())
        blob = (memo / "code.zst").read_bytes()
        if sha256_digest(blob) == facts["blob"]:
            return Code(blob, facts["uncompressed"], int(facts["size"]), True)
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not memoised yet, or damaged: compile
    code = _compile(module, kind, target)
    blob = _compress(code)
    facts = {"blob": sha256_digest(blob), "uncompressed": sha256_digest(code), "size": len(code)}
    atomic_write_bytes(memo / "code.zst", blob)
    atomic_write_bytes(memo / "facts.json", json.dumps(facts).encode())  # last: marks it complete
    return Code(blob, facts["uncompressed"], len(code), False)


def _compress(code: bytes) -> bytes:
    """zstd in the layers' multi-threaded framing: the same bytes for any number of workers."""
    buf = io.BytesIO()
    writer = ZstdWriter(buf, CODE_COMPRESSION.level)
    writer.write(code)
    writer.close()
    return buf.getvalue()


def _compile(module: bytes, kind: str, target: str) -> bytes:
    import wasmtime

    engine = baseline_engine(target)
    try:
        return bytes(compile_native(engine, module, kind).serialize())
    except wasmtime.WasmtimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "error"
        raise PrecompileError(f"wasmtime cannot compile the {kind}: {first}") from None


def document(path: str, module: bytes, kind: str, target: str, code: Code, compat: str) -> Document:
    """The referrer document carrying ``code`` (see docs/precompiled.md for the layout)."""
    return Document(
        ARTIFACT_TYPE, code.blob, f"{PurePosixPath(path).stem}.{target}.cwasm",
        {ANN_MODULE: path, ANN_MODULE_DIGEST: sha256_digest(module), ANN_KIND: kind,
         ANN_UNCOMPRESSED: code.uncompressed},
        media_type=MEDIA_CWASM_ZSTD,
        manifest_annotations={ANN_ENGINE: "wasmtime", ANN_ENGINE_VERSION: wasmtime_version(),
                              ANN_TARGET: target, ANN_COMPAT: compat},
    )


def precompile(layout: Layout, top: Descriptor, targets: Sequence[str],
               note: Callable[[str], None] | None = None) -> tuple[Descriptor, ...]:
    """Attach precompiled code for ``targets`` (triples, see ``resolve_targets``) to every image
    manifest under ``top`` in ``layout``; returns the referrer descriptors."""
    if not targets:
        return ()
    from ..dirs import source_date_epoch

    created = rfc3339(source_date_epoch())
    keys = {t: compat_key(t) for t in targets}
    attached: list[Descriptor] = []
    for subject in image_manifests(top, layout.read_json):
        found = entry_module(layout, layout.read_json(subject.digest))
        if found is None:
            if note is not None:
                note(f"precompile: image {subject.digest[:19]} has no module to run; nothing attached")
            continue
        path, module = found
        kind = binary.kind(module, path)
        docs = []
        for target in targets:
            t0 = time.monotonic()
            code = compile_code(module, kind, target)
            if note is not None:
                how = "memoised" if code.memoised else f"{time.monotonic() - t0:.1f} s"
                note(f"precompiled {path} for {target}: {code.size:,} bytes of code, "
                     f"{len(code.blob):,} zstd ({how})")
            docs.append(document(path, module, kind, target, code, keys[target]))
        attached += attach(layout, subject, docs, created)
    return tuple(attached)


def code_bytes(blob: bytes) -> bytes:
    """The code inside a ``+zstd`` blob (tests, tools)."""
    from .compress import _zstandard

    with _zstandard().ZstdDecompressor().stream_reader(io.BytesIO(blob), read_across_frames=True) as r:
        return bytes(r.read())
