"""Stage cache entries as OCI artifacts, for sharing a cache through a registry.

``--cache-to REF`` exports entries into a local OCI layout and pushes it; ``--cache-from REF``
pulls into a layout and imports. This module is the layout half; the registry transfer is the
publisher's (``wasmbuild.publish.registry``), so no HTTP here.

The shape, one artifact per stage key, so a registry deduplicates unchanged stages between pushes::

    index (tagged REF)   mediaType image.index, artifactType STAGE_CACHE_ARTIFACT
      manifests[i]       annotations {dev.wasmbuild.stage-key: KEY, dev.wasmbuild.stage: NAME}
        -> manifest      artifactType STAGE_ARTIFACT, config = the OCI empty descriptor
             layers[0]   mediaType OUTPUTS_MEDIA: the entry's outputs.tar (sha256-checked)

Importing trusts the exporter the way a stage cache trusts itself: keys are not re-derived from
the outputs, so only use ``--cache-from`` with a repository your CI controls.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from wasmbuild.cache.stages import StageCache
from wasmbuild.errors import ConfigError
from wasmbuild.oci import MEDIA_INDEX, MEDIA_MANIFEST, Descriptor
from wasmbuild.oci.layout import Layout

STAGE_CACHE_ARTIFACT = "application/vnd.wasmbuild.stage-cache.v1+json"
STAGE_ARTIFACT = "application/vnd.wasmbuild.stage.v1"
OUTPUTS_MEDIA = "application/vnd.wasmbuild.stage.outputs.v1.tar"
KEY_ANNOTATION = "dev.wasmbuild.stage-key"
STAGE_ANNOTATION = "dev.wasmbuild.stage"
# The OCI 1.1 "empty" config for artifacts: the two bytes `{}`.
EMPTY_CONFIG = Descriptor(
    "application/vnd.oci.empty.v1+json",
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", 2)
_KEY_RE = re.compile(r"^[0-9a-f]{64}$")


def export_to_layout(cache: StageCache, keys: Iterable[str], layout: Layout) -> Descriptor:
    """Write one artifact per (intact) entry of ``keys`` and an index listing them into
    ``layout``; returns the index's descriptor (not tagged: the caller names it).

    Keys missing from the cache or failing their checksum are left out, not an error: a cache
    export is best effort, the importer rebuilds what it does not find.
    """
    layout.init()
    layout.write_blob(b"{}")
    manifests: list[dict[str, Any]] = []
    for key in sorted(set(keys)):
        found = cache.verified(key)
        if found is None:
            continue
        tar_path, meta = found
        digest, size = layout.add_blob_file(tar_path, "sha256:" + str(meta["sha256"]))
        stage = str(meta.get("stage", ""))
        annotations = {KEY_ANNOTATION: key, STAGE_ANNOTATION: stage}
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "artifactType": STAGE_ARTIFACT,
            "config": EMPTY_CONFIG.to_json(),
            "layers": [{"mediaType": OUTPUTS_MEDIA, "digest": digest, "size": size}],
            "annotations": annotations,
        }
        desc = layout.write_json(manifest, MEDIA_MANIFEST)
        manifests.append(desc.with_annotations(annotations).to_json())
    index = {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "artifactType": STAGE_CACHE_ARTIFACT,
             "manifests": manifests}
    return layout.write_json(index, MEDIA_INDEX)


def import_from_layout(layout: Layout, desc: Descriptor, cache: StageCache) -> list[str]:
    """Add every stage entry the index ``desc`` lists to ``cache``; returns the keys imported.

    Entries already cached are skipped; a blob whose content does not match its digest is
    skipped too (the stage will just rebuild). A document that is not a stage cache index is a
    :class:`WasmbuildError`.
    """
    index = layout.read_json(desc.digest)
    if not isinstance(index, dict) or index.get("artifactType") != STAGE_CACHE_ARTIFACT:
        raise ConfigError(f"{desc.digest} in {layout.path} is not a wasmbuild stage cache",
                             hint="point --cache-from at a reference written by --cache-to")
    imported: list[str] = []
    for item in index.get("manifests") or []:
        key = str((item.get("annotations") or {}).get(KEY_ANNOTATION, ""))
        if not _KEY_RE.match(key) or cache.has(key):
            continue  # the key names a directory: never let an annotation pick the path
        manifest = layout.read_json(item["digest"])
        layers = manifest.get("layers") or []
        if len(layers) != 1 or layers[0].get("mediaType") != OUTPUTS_MEDIA:
            continue
        blob = layers[0]["digest"]
        if not layout.has_blob(blob):
            continue
        stage = str((manifest.get("annotations") or {}).get(STAGE_ANNOTATION, "?"))
        with cache.locked(key), open(layout.blob_path(blob), "rb") as fh:
            if cache.store_tar(key, stage, fh, blob.removeprefix("sha256:")):
                imported.append(key)
    return imported
