"""Publishers: take a built image (a layout + descriptor) and put it somewhere.

``publish_to(output, layout, desc, opts)`` dispatches on the output's transport prefix:

* ``oci-archive:FILE[:TAG]``       tar of an OCI layout holding the image
* ``docker-archive:FILE[:REF]``    ``docker save`` format, for ``docker load``
* ``oci:DIR[:TAG]``                an OCI layout directory (created or added to)
* ``docker://REF``                 a registry push (same as ``wasmbuild push``)

Submodules are imported lazily so CLI start-up stays fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import WasmbuildError
from ..oci import REF_NAME, Descriptor

if TYPE_CHECKING:
    from ..oci.layout import Layout
    from .registry import RegistryOptions

TRANSPORTS = ("oci-archive:", "docker-archive:", "oci:", "docker://")


def _split(rest: str) -> tuple[str, str | None]:
    from ..images import split_path_name

    return split_path_name(rest)


def _docker_tag(text: str) -> str:
    from ..reference import parse

    r = parse(text)
    return f"{r.name}:{r.tag or 'latest'}"


def publish_to(
    output: str,
    layout: Layout,
    desc: Descriptor,
    opts: RegistryOptions | None = None,
    *,
    tags: Sequence[str] = (),
) -> str:
    """Publish image ``desc`` from ``layout`` to ``output``; returns where it went.

    ``tags`` are the image's names (``build -t``); the first one names the image inside an
    archive when ``output`` does not. Returns the archive path, ``DIR:TAG``, or for
    ``docker://`` the pushed digest reference.
    """
    default = tags[0] if tags else desc.annotations.get(REF_NAME)
    if output.startswith("oci-archive:"):
        from ..reference import parse as parse_ref
        from .archive import write_oci_archive

        path, name = _split(output.removeprefix("oci-archive:"))
        _require_path(output, path)
        if name is None and default:
            name = parse_ref(default).tag or "latest"
        return str(write_oci_archive(Path(path), layout, desc, tag=name))
    if output.startswith("docker-archive:"):
        from .archive import write_docker_archive

        path, name = _split(output.removeprefix("docker-archive:"))
        _require_path(output, path)
        names = [name] if name else list(tags) or ([default] if default else [])
        repo_tags = [_docker_tag(n) for n in names]
        return str(write_docker_archive(Path(path), layout, desc, repo_tags=repo_tags))
    if output.startswith("oci:"):
        import shutil

        from ..oci.layout import Layout as _Layout
        from ..reference import parse as parse_ref
        from .archive import copy_image

        path, name = _split(output.removeprefix("oci:"))
        _require_path(output, path)
        # Without :TAG, the image keeps the tag part of each of its names (skopeo's oci:DIR:TAG).
        names = [name] if name else sorted({parse_ref(t).tag or "latest" for t in tags}) or ["latest"]
        created = not Path(path).exists()
        try:
            target = _Layout(path).init()
            copy_image(layout, target, desc)
            for tag in names:
                target.tag(tag, desc)
        except BaseException:
            if created:  # leave nothing half-written behind
                shutil.rmtree(path, ignore_errors=True)
            raise
        return f"oci:{path}:{names[0]}"
    if output.startswith("docker://"):
        from .registry import push

        return push(layout, desc, output.removeprefix("docker://"), opts)
    check_output(output)
    raise AssertionError(f"unhandled transport in {output!r}")


def check_output(output: str) -> None:
    """Reject an unknown transport before any work is done."""
    if not output.startswith(TRANSPORTS):
        raise WasmbuildError(
            f"unknown output {output!r}",
            hint="use oci-archive:FILE, docker-archive:FILE, oci:DIR or docker://REGISTRY/NAME:TAG",
        )


def _require_path(output: str, path: str) -> None:
    if not path:
        raise WasmbuildError(f"output {output!r} names no path", hint="e.g. oci-archive:out.tar")
