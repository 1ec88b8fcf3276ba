"""The fuzz tests' shared build context."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build context holding every file the seeds and the strategies name."""
    root = tmp_path_factory.mktemp("fuzz")
    files = {
        "hello.rs": "fn main() {}\n", "hello.c": "int main(void) { return 0; }\n",
        "data.txt": "data\n", "dir/a.h": "#define A 1\n", "main.py": "print(1)\n",
        "greeter/Cargo.toml": '[package]\nname = "greeter"\nversion = "0.1.0"\n',
        "greeter/src/main.rs": "fn main() {}\n",
        "examples/hello-rust/hello.rs": "fn main() {}\n",
        "examples/hello-c/hello.c": "int main(void) { return 0; }\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    shutil.copy(REPO / "tests/fixtures/golden/hello.wasm", root / "app.wasm")
    (root / "link-out").symlink_to("/etc")
    return root
