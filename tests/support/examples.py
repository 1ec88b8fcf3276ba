"""What every language's example test does (examples/hello-*): build a copy to an `oci:` layout,
run it (`a b` prints the declared env, the args and a file; `fail` exits 7), rebuild another copy
from scratch to the same digest, and read its SBOM."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import validate_spdx

REPO = Path(__file__).resolve().parents[2]
#: The examples' common output, for `args`: the declared env, the arguments, the image's file.
OUT = "env: GREETING=hi\nargs: {args}\nHello from {lang} on WASI\n"


def build_example(wb: Callable[..., Any], name: str, tmp_path: Path, **kw: Any) -> tuple[Path, str]:
    """examples/NAME copied under ``tmp_path`` and built to ``tmp_path/oci``: (layout, digest)."""
    ctx = tmp_path / name
    shutil.copytree(REPO / "examples" / name, ctx)
    built = wb("build", str(ctx), "--json", "-o", f"oci:{tmp_path / 'oci'}", timeout=900, **kw)
    assert built.returncode == 0, built.stderr
    return tmp_path / "oci", str(json.loads(built.stdout)["digest"])


def assert_runs(wb: Callable[..., Any], layout: Path, out: str, **kw: Any) -> None:
    """``wasmbuild run`` of ``layout``: ``a b`` exits 0 printing ``out``, ``fail`` exits 7."""
    run = wb("run", f"oci:{layout}", "a", "b", timeout=300, **kw)
    assert (run.returncode, run.stdout) == (0, out.format(args="a b")), run.stderr
    failing = wb("run", f"oci:{layout}", "fail", timeout=300, **kw)
    assert (failing.returncode, failing.stdout) == (7, out.format(args="fail")), failing.stderr


def assert_reproduces(wb: Callable[..., Any], name: str, tmp_path: Path, digest: str, **kw: Any) -> None:
    """Another checkout's copy, built with ``--no-cache``, gives the same image digest."""
    other = tmp_path / "elsewhere" / name
    shutil.copytree(REPO / "examples" / name, other)
    clean = wb("build", str(other), "--json", "--no-cache", timeout=900, **kw)
    assert clean.returncode == 0, clean.stderr
    assert json.loads(clean.stdout)["digest"] == digest


def sbom(wb: Callable[..., Any], ref: str, **kw: Any) -> dict[str, Any]:
    """The image's SPDX SBOM, valid."""
    doc: dict[str, Any] = json.loads(wb("inspect", ref, "--sbom", "--json", **kw).stdout)
    assert validate_spdx(doc) == []
    return doc


def purls(doc: dict[str, Any]) -> set[str]:
    return {r["referenceLocator"] for p in doc["packages"] for r in p.get("externalRefs", [])}
