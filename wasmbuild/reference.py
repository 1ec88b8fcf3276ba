"""Image references: ``[registry/]repository[:tag][@digest]``, parsed like the docker CLI does."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from wasmbuild.errors import ConfigError

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPO_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
DEFAULT_REGISTRY = "docker.io"


@dataclass(frozen=True)
class Reference:
    registry: str | None
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """``registry/repository`` (or just ``repository`` for a local name)."""
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.registry, self.repository, tag, None)

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.registry, self.repository, None, digest)


def parse(text: str, *, default_tag: str | None = "latest") -> Reference:
    """Parse an image reference; a missing tag becomes ``default_tag`` unless a digest is given."""
    original = text
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST_RE.match(digest):
            raise ConfigError(f"invalid digest in image reference {original!r}")
    tag = None
    slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > slash:
        text, tag = text[:colon], text[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise ConfigError(f"invalid tag {tag!r} in image reference {original!r}")
    registry = None
    first, sep, rest = text.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, text = first, rest
    if not text or not _REPO_RE.match(text):
        raise ConfigError(
            f"invalid image reference {original!r}",
            hint="use lowercase [registry/]name[:tag], e.g. localhost:5000/hello:1.0",
        )
    if tag is None and digest is None:
        tag = default_tag
    return Reference(registry, text, tag, digest)


def split_path_name(rest: str) -> tuple[str, str | None]:
    """``PATH[:NAME]`` split at the first colon, as skopeo does for oci:/oci-archive:/docker-archive:."""
    path, sep, name = rest.partition(":")
    return path, (name if sep and name else None)


def name_from_folder(folder: Path, default: str) -> str:
    """An image name made from a folder's name (``My_Project`` -> ``my-project``): lowercase,
    every run of other characters one ``-``, always a valid repository name."""
    name = re.sub(r"[^a-z0-9]+", "-", folder.resolve().name.lower()).strip("-")
    return name or default
