"""The container executor behind the :class:`~wasmbuild.executors.Executor` protocol.

``container.py`` talks to the engine (builder images, stage containers); this adapter maps a
:class:`StageJob` onto it. A builder's toolchain variables (``$RUSTC``, ``$CC``...) come from
``recipes/builders/NAME/toolchain.env``, so the `rust` and `c` recipes run unchanged in it.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from . import Log, StageJob


def builder_base() -> str:
    return os.environ.get("WASMBUILD_BUILDER_BASE", "debian:bookworm-slim")


@cache
def _image(builder: str, base: str) -> str:
    from .container import ensure_builder

    return ensure_builder(builder, base=base)


def toolchain_env(builder: str) -> dict[str, str]:
    from .container import _PINNED, builder_definition_dir

    if _PINNED.match(builder):
        return {}
    path = Path(builder_definition_dir(builder)) / "toolchain.env"
    env: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                env[key.strip()] = value.strip()
    return env


class ContainerExecutor:
    """Runs a stage in a fresh container of its builder image (network off unless declared)."""

    def identity(self, builder: str) -> str:
        """Part of the stage cache key: the builder image's content id."""
        return f"builder={builder};image={_image(builder, builder_base())}"

    def run(self, job: StageJob, log: Log) -> None:
        from .container import run_stage

        assert job.builder is not None
        image = _image(job.builder, builder_base())
        env = {**toolchain_env(job.builder), **job.env, "SOURCE_DATE_EPOCH": str(job.epoch)}
        run_stage(image, list(job.steps), env, job.src, job.out, job.network,
                  lambda line: log(f"[{job.name}] {line}"), user=job.user)
