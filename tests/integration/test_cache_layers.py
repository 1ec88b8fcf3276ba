"""The segmented gzip layer read by a real, independent consumer: buildah (Go's gzip reader).

``buildah pull`` decompresses every layer and checks it against the config's diff_id; we then
mount the container and compare the files. Needs buildah and root (vfs storage, private
--root); skipped without them outside CI, a failure in CI.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.test_cache import EMPTY_WASM, wasmbuild
from tests.support import missing

pytestmark = pytest.mark.integration


def test_buildah_reads_our_layers_and_agrees_on_contents(tmp_path: Path) -> None:
    if not shutil.which("buildah") or os.geteuid() != 0:
        missing("buildah, run as root")
    ctx = tmp_path / "ctx"
    (ctx / "lib").mkdir(parents=True)
    (ctx / "app.wasm").write_bytes(EMPTY_WASM)
    blob = bytearray()
    seed = b"x"
    while len(blob) < 3_500_000:  # several segments, compressible
        seed = hashlib.sha256(seed).digest()
        blob += seed[:6] * 8 + b"data segment "
    (ctx / "big.bin").write_bytes(bytes(blob))
    for i in range(100):
        (ctx / "lib" / f"m{i}.py").write_text(f"x = {i}\n" * i)
    (ctx / "Wasmfile").write_text("""wasmfile: 1
image:
  files:
    - {src: app.wasm, dest: /app.wasm}
    - {src: big.bin, dest: /data/big.bin}
    - {src: lib, dest: /lib/python}
  entrypoint: [/app.wasm]
""")
    out = tmp_path / "oci"
    wasmbuild(tmp_path, "build", str(ctx / "Wasmfile"), "-o", f"oci:{out}:latest")
    bh = ["buildah", "--root", str(tmp_path / "bh" / "root"), "--runroot",
          str(tmp_path / "bh" / "run"), "--storage-driver", "vfs"]

    def run(*args: str) -> str:
        proc = subprocess.run([*bh, *args], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    run("pull", "-q", f"oci:{out}:latest")
    container = run("from", "-q", f"oci:{out}:latest")
    try:
        mnt = Path(run("mount", container))
        assert (mnt / "data" / "big.bin").read_bytes() == (ctx / "big.bin").read_bytes()
        py = "m99.py"
        assert (mnt / "lib" / "python" / py).read_text() == (ctx / "lib" / py).read_text()
        assert (mnt / "app.wasm").read_bytes() == EMPTY_WASM
    finally:
        subprocess.run([*bh, "rm", "-a"], capture_output=True)
