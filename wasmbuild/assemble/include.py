"""Images included by reference in the index a build writes (a mixed-platform tag).

``image.include`` (or ``build --include``) names existing images -- typically the ``linux/amd64``
and ``linux/arm64`` builds of the same application -- by ``oci:DIR[:TAG]`` or by
``REGISTRY/NAME@sha256:...``. Their blobs are copied into the build's layout byte for byte (never
re-encoded), so their manifest digests stay what they were; an included index contributes each of
its entries. The index then resolves like any multi-platform image: ``podman pull --platform
linux/amd64`` gets the Linux entry, ``--platform wasi/wasm`` the Wasm one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, ImageNotFound, RegistryError
from ..oci import REF_NAME, Descriptor
from ..oci.graph import is_index, platform_text
from ..oci.layout import Layout
from ..oci.targets import include_problem
from ..reference import split_path_name

if TYPE_CHECKING:
    from ..registry.transport import RegistryOptions

#: buildx's attestation manifests: BuildKit lists them as ``unknown/unknown`` index entries,
#: which break Wasm pulls (deislabs/containerd-wasm-shims#139); they are left out of our index.
ATTESTATION = ("vnd.docker.reference.type", "attestation-manifest")


def _fetch(text: str, layout: Layout, opts: RegistryOptions | None) -> Descriptor:
    """Copy the image ``text`` names (and everything under it) into ``layout``."""
    if text.startswith("oci:"):
        path, tag = split_path_name(text.removeprefix("oci:"))
        src = Layout(path)
        desc = src.resolve(tag)
        layout.copy_from(src, desc)
        return desc
    from ..registry.ops import pull_tree

    return pull_tree(text.removeprefix("docker://"), layout, opts)


def _platform(layout: Layout, entry: dict[str, Any]) -> dict[str, str] | None:
    if entry.get("platform"):
        return dict(entry["platform"])
    return layout.config_platform(entry["digest"])


def resolve(texts: Sequence[str], layout: Layout, taken: dict[str, str], *,
            where: Callable[[int], str | None], opts: RegistryOptions | None = None,
            note: Callable[[str], None] = lambda _: None) -> list[dict[str, Any]]:
    """Index entries (descriptor JSON with platform) for the images ``texts`` name, their
    content copied into ``layout``. ``taken`` maps platforms already in the index (``os/arch``)
    to the target holding them: an included image may not collide with one."""
    entries: list[dict[str, Any]] = []
    taken = dict(taken)
    for i, text in enumerate(texts):
        label = f"include {text!r}"
        why = include_problem(text)
        if why:
            raise ConfigError(f"{label} {why}", where=where(i),
                              hint="include images by oci:DIR[:TAG] or REGISTRY/NAME@sha256:DIGEST")
        try:
            top = _fetch(text, layout, opts)
        except ImageNotFound as exc:
            raise ImageNotFound(f"{label}: {exc.message}", where=where(i), hint=exc.hint) from None
        except RegistryError as exc:
            raise RegistryError(f"{label}: {exc.message}", where=where(i), hint=exc.hint) from None
        doc = layout.read_json(top.digest)
        # An included index contributes its entries as they are (annotations and all).
        # A layout's tag (ref.name in its index.json) names the image there, not in our index.
        plain = top.with_annotations({k: v for k, v in top.annotations.items() if k != REF_NAME})
        found = [dict(m) for m in doc.get("manifests") or []] if is_index(top, doc) else [plain.to_json()]
        for entry in found:
            annotations = entry.get("annotations") or {}
            if annotations.get(ATTESTATION[0]) == ATTESTATION[1]:
                note(f"{label}: left out attestation manifest {entry['digest'][:19]} "
                     "(unknown/unknown entries break Wasm pulls, deislabs/containerd-wasm-shims#139)")
                continue
            plat = _platform(layout, entry)
            if plat is None:
                raise ConfigError(f"{label}: manifest {entry['digest'][:19]} names no platform "
                                  "(no os/architecture in its descriptor or config)", where=where(i),
                                  hint="include images built for a platform, e.g. linux/amd64")
            entry["platform"] = plat
            text_plat = platform_text(Descriptor.from_json(entry))
            if text_plat in taken:
                raise ConfigError(f"{label} has platform {text_plat}, which {taken[text_plat]} "
                                  "already gives in this index", where=where(i),
                                  hint="an index holds one image per platform: drop the include "
                                       "or the target")
            taken[text_plat] = label
            entries.append(entry)
    return entries
