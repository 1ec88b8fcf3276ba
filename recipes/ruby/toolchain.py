"""``wasmbuild init`` for a Ruby app (``main.rb``, ``app.rb`` or a ``Gemfile``): recipe ``ruby``.
The recipe declares no toolchain of its own: CRuby and binaryen are pinned npm inputs of the
stage and ``node`` is one of its ``tools:`` (docs/languages.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MAINS = ("main.rb", "app.rb")


def init(folder: Path) -> Any:
    from wasmbuild.scaffold import Detected, image_name

    main = next((m for m in MAINS if (folder / m).is_file()), None)
    if main is None:
        return None  # a Gemfile without main.rb or app.rb: not a script this recipe can run
    name = image_name(folder)
    notes = []
    params: dict[str, Any] = {"app": ".", "main": main}
    if (folder / "Gemfile.lock").is_file():
        params["gems"] = "Gemfile.lock"
        notes.append("the Gemfile.lock's gems are installed into app/vendor/gems, each pinned by its sha256 in "
                     "CHECKSUMS (`bundle lock --add-checksums` writes them); pure-Ruby gems only")
    elif (folder / "Gemfile").is_file():
        notes.append("the Gemfile's gems are not installed without a Gemfile.lock: run `bundle lock "
                     "--add-checksums` and set the recipe's `gems: Gemfile.lock`")
    # An interpreter image: ruby.wasm, the app folder beside it, the script as the argument.
    return Detected("ruby", name, "ruby", params, "ruby.wasm", [main], notes,
                    what="the Ruby app: CRuby for WASI (npm's @ruby/3.4-wasm-wasi) and its .rb files",
                    ignore=["**/*.wasm", "vendor/bundle"], image_files=[("app", "/app")],
                    entrypoint_args=[f"/app/{main}"])


def templates(files: Any) -> dict[str, Any]:
    """``read_gemfile_lock(PATH, MIRROR)``: the lockfile's gems as pinned inputs (gems.py)."""
    from wasmbuild.render.folders import load_module

    gems = load_module(Path(__file__).with_name("gems.py"))

    def read_gemfile_lock(path: str, mirror: str = "") -> list[dict[str, Any]]:
        text, shown = files.read_text(path, "Gemfile.lock")
        return list(gems.as_inputs(gems.parse(text, shown), mirror))

    return {"read_gemfile_lock": read_gemfile_lock}
