"""Describe an image: from the local store, an ``oci:DIR[:TAG]`` layout, or a registry.

:func:`inspect_image` returns plain data (the CLI prints it, or dumps it with ``--json``):
manifest digest and media type, annotations, platform, the runtime config (entrypoint, cmd,
env, working dir, labels) and the layers with their sizes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wasmbuild.errors import ImageNotFound
from wasmbuild.oci import Descriptor

if TYPE_CHECKING:
    from wasmbuild.oci.layout import Layout
    from wasmbuild.registry.transport import RegistryOptions


def summarize(
    *,
    source: str,
    ref: str,
    desc: Descriptor,
    manifest: dict[str, Any],
    config: dict[str, Any],
    index_digest: str | None = None,
    index_manifests: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The inspect record for one image manifest and its config (and, when it was picked from
    an index, that index's entries: platform, digest and the target shape where known). A
    malformed config from someone else's image reads as empty fields, never as a crash."""
    from wasmbuild.oci.targets import target_of

    config = config if isinstance(config, dict) else {}
    found = config.get("config")
    rc: dict[str, Any] = found if isinstance(found, dict) else {}
    layers = [
        {"digest": layer["digest"], "mediaType": layer.get("mediaType"), "size": layer["size"]}
        for layer in manifest.get("layers") or []
    ]
    platform = {"os": config.get("os"), "architecture": config.get("architecture")}
    if config.get("variant"):
        platform["variant"] = config["variant"]
    return {
        "source": source,
        "reference": ref,
        "digest": desc.digest,
        "mediaType": manifest.get("mediaType") or desc.media_type,
        "indexDigest": index_digest,
        "target": target_of(manifest, platform),
        "manifests": list(index_manifests or []),
        "annotations": _mapping(manifest.get("annotations")),
        "platform": platform,
        "created": config.get("created"),
        "config": {
            "digest": (manifest.get("config") or {}).get("digest"),
            "entrypoint": rc.get("Entrypoint"),
            "cmd": rc.get("Cmd"),
            "env": [str(e) for e in rc.get("Env") or [] if isinstance(rc.get("Env"), list)],
            "workingDir": str(rc.get("WorkingDir") or ""),
            "user": str(rc.get("User") or ""),
            "labels": _mapping(rc.get("Labels")),
        },
        "layers": layers,
        "size": sum(int(layer["size"]) for layer in layers),
    }


def _mapping(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def inspect_layout(layout: Layout, name: str | None, *, source: str, ref: str) -> dict[str, Any]:
    """Inspect tag (or digest) ``name`` in ``layout``; an index resolves to its Wasm entry."""
    return _summarize_local(layout, layout.resolve(name), source=source, ref=ref)


def _summarize_local(layout: Layout, top: Descriptor, *, source: str, ref: str) -> dict[str, Any]:
    desc, manifest = layout.image(top)
    config = layout.read_json(manifest["config"]["digest"])
    index_digest = top.digest if top.digest != desc.digest else None
    entries = _entries(layout, top) if index_digest else []
    return summarize(source=source, ref=ref, desc=desc, manifest=manifest, config=config,
                     index_digest=index_digest, index_manifests=entries)


def _entries(layout: Layout, index: Descriptor) -> list[dict[str, Any]]:
    """An index's entries: platform, digest, and target (for the manifests the layout holds)."""
    from wasmbuild.oci.targets import target_of

    out = []
    for m in layout.read_json(index.digest).get("manifests") or []:
        row = {"digest": m["digest"], "platform": m.get("platform"), "mediaType": m.get("mediaType")}
        if layout.has_blob(m["digest"]):
            row["target"] = target_of(layout.read_json(m["digest"]), m.get("platform"))
        out.append(row)
    return out


def inspect_image(
    ref: str, opts: RegistryOptions | None = None, *, store: Layout | None = None
) -> dict[str, Any]:
    """Inspect ``ref`` in any form :mod:`wasmbuild.images` accepts. A name found in the local
    store is inspected there; a registry name that is not in the store is fetched."""
    from . import images

    remote = images.registry_ref(ref)
    if ref.startswith("docker://") and remote:
        return _remote(remote, opts)
    try:
        with images.local(ref, store) as found:
            return _summarize_local(found.layout, found.desc, source=found.source,
                                    ref=found.name or ref)
    except ImageNotFound:
        if remote is None:
            raise
    return _remote(remote, opts)


def _remote(ref: str, opts: RegistryOptions | None) -> dict[str, Any]:
    from wasmbuild.registry.ops import inspect_remote

    info = inspect_remote(ref, opts)
    desc = Descriptor(info["mediaType"], info["digest"], 0)
    return summarize(
        source="registry",
        ref=info["reference"],
        desc=desc,
        manifest=info["manifest"],
        config=info["config"],
        index_digest=info["index_digest"],
        index_manifests=[{"digest": m["digest"], "platform": m.get("platform"),
                          "mediaType": m.get("mediaType")} for m in info.get("index_manifests") or []],
    )


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_inspect(info: dict[str, Any]) -> str:
    """Human-readable text for :func:`inspect_image`'s record."""
    cfg = info["config"]
    plat = info["platform"]
    lines = [
        f"Reference:    {info['reference']} ({info['source']})",
        f"Digest:       {info['digest']}",
        f"Media type:   {info['mediaType']}",
    ]
    if info.get("indexDigest"):
        lines.append(f"Index:        {info['indexDigest']}")
        for m in info.get("manifests") or []:
            p = m.get("platform") or {}
            where = f"{p.get('os', '?')}/{p.get('architecture', '?')}"
            shape = f" ({m['target']})" if m.get("target") else ""
            lines.append(f"  {where:<14}{m['digest']}{shape}")
    lines.append(f"Platform:     {plat.get('os')}/{plat.get('architecture')}")
    lines.append(f"Target:       {info.get('target')}")
    if info.get("created"):
        lines.append(f"Created:      {info['created']}")
    lines.append(f"Entrypoint:   {cfg['entrypoint'] or []}")
    lines.append(f"Cmd:          {cfg['cmd'] or []}")
    if cfg["workingDir"]:
        lines.append(f"WorkingDir:   {cfg['workingDir']}")
    for title, values in (("Env", cfg["env"]),):
        for i, v in enumerate(values):
            lines.append(f"{title + ':' if i == 0 else '':<14}{v}")
    for title, mapping in (("Annotations", info["annotations"]), ("Labels", cfg["labels"])):
        for i, (k, v) in enumerate(sorted(mapping.items())):
            lines.append(f"{title + ':' if i == 0 else '':<14}{k}={v}")
    lines.append(f"Layers:       {len(info['layers'])} ({_size(info['size'])})")
    for layer in info["layers"]:
        lines.append(f"  {layer['digest']}  {_size(int(layer['size'])):>10}")
    return "\n".join(lines)
