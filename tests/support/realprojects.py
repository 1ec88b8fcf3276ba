"""Real upstream projects (examples/real-*): their sources from Debian source packages, one
build per test run in a shared stage cache, and ``wasmbuild run`` with bytes in and out."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import missing

REPO = Path(__file__).resolve().parents[2]
FETCH = REPO / "scripts" / "fetch-real-source"
#: example folder -> Debian source package
PACKAGES = {"real-cmark": "cmark", "real-bzip2": "bzip2", "real-hello": "hello"}


@dataclass
class RealProjects:
    """Copies of the examples under ``root`` with their upstream trees, built in one cache."""

    root: Path
    built: dict[str, tuple[Path, dict[str, object]]] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {**os.environ, "WASMBUILD_CACHE": str(self.root / "cache"),
                "WASMBUILD_STORE": str(self.root / "store")}

    def wb(self, *args: str, stdin: bytes = b"", timeout: float = 900) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "wasmbuild", *args], input=stdin, cwd=self.root,
                              env=self.env(), capture_output=True, timeout=timeout)

    def example(self, name: str) -> Path:
        """examples/NAME copied with its upstream tree in ``upstream/`` (the tarball fetched once,
        kept by its sha256 in scripts/fetch-real-source's directory)."""
        ctx = self.root / name
        if not ctx.is_dir():
            shutil.copytree(REPO / "examples" / name, ctx, ignore=shutil.ignore_patterns("upstream"))
            proc = subprocess.run([str(FETCH), PACKAGES[name], str(ctx / "upstream")],
                                  capture_output=True, text=True, timeout=600)
            if proc.returncode != 0:  # no deb-src entry / no mirror: a failure in CI, a skip locally
                shutil.rmtree(ctx)
                missing(f"scripts/fetch-real-source {PACKAGES[name]} failed: {proc.stderr.strip()[-500:]}")
        return ctx

    def build(self, name: str, wasmfile: str = "Wasmfile") -> tuple[Path, dict[str, object]]:
        """The example's image in an ``oci:`` layout, and the build's --json report (built once)."""
        key = f"{name}/{wasmfile}"
        if key not in self.built:
            ctx = self.example(name)
            layout = self.root / "oci" / key.replace("/", "-")
            proc = self.wb("build", str(ctx / wasmfile), "--json", "-o", f"oci:{layout}")
            assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-4000:]
            self.built[key] = (layout, json.loads(proc.stdout))
        return self.built[key]

    def run(self, name: str, *args: str, wasmfile: str = "Wasmfile", stdin: bytes = b"") -> bytes:
        """The image's entrypoint with ``args`` under ``wasmbuild run``: its stdout (exit 0)."""
        layout, _ = self.build(name, wasmfile)
        proc = self.wb("run", f"oci:{layout}", "--", *args, stdin=stdin, timeout=300)
        assert proc.returncode == 0, (proc.returncode, proc.stderr.decode(errors="replace")[-2000:])
        return proc.stdout
