"""Small pieces of the Wasmfile model (``model.py``) that stand on their own: the strict base
model, a stage's persistent caches and the packages its own package manager resolves."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

NAME_RE = r"^[a-z0-9][a-z0-9_-]{0,62}$"
StageName = Annotated[str, StringConstraints(pattern=NAME_RE)]
PURL_RE = r"^pkg:[a-z][a-z0-9.+-]*/[^\s/@?#][^\s]*$"
__all__ = ["NAME_RE", "PURL_RE", "CacheMount", "Package", "StageName", "_Strict", "cache_path"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


class CacheMount(_Strict):
    """A persistent cache directory under ``$WORK`` kept between builds (``caches:``).

    Mounted read-write into the stage, it never enters the stage key: a cache may only make a
    stage faster (cargo's target directory, a compiler cache), never change what it produces.
    """

    name: StageName = Field(description="Name of the cache, unique in the stage (e.g. `target`).")
    path: str = Field(description="Directory under $WORK it is mounted at: `target` or `$WORK/target`.")

    @field_validator("path")
    @classmethod
    def _under_work(cls, value: str) -> str:
        return cache_path(value)


def cache_path(value: str) -> str:
    """``$WORK/x/y`` or ``x/y`` -> ``x/y``; ValueError for a path outside ``$WORK``."""
    text = value.strip()
    for prefix in ("$WORK/", "${WORK}/"):
        text = text.removeprefix(prefix)
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if text.startswith(("/", "$", "~")) or not parts or ".." in parts:
        raise ValueError(f"cache path {value!r} is outside $WORK: use a directory under $WORK, "
                         "e.g. `target` or `$WORK/target`")
    return "/".join(parts)


class Package(_Strict):
    """A package the stage's own package manager fetches and verifies against a lockfile among
    its inputs (Go's modules by go.sum): wasmbuild does not fetch it; the SBOM names it."""

    purl: str = Field(description="Its package URL, pkg:TYPE/NAME@VERSION (e.g. pkg:golang/example.com/greet@v1.0.0).",
                      pattern=PURL_RE)
    pin: str | None = Field(None, max_length=200,
                            description="What the lockfile pins it by, as the lockfile says it (e.g. `h1:...`).")


