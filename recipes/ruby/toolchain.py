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
    if (folder / "Gemfile").is_file():
        notes.append("the Gemfile's gems are not installed: the ruby recipe runs the app with "
                     "CRuby's standard library and default gems only")
    # An interpreter image: ruby.wasm, the app folder beside it, the script as the argument.
    return Detected("ruby", name, "ruby", {"app": ".", "main": main}, "ruby.wasm", [main], notes,
                    what="the Ruby app: CRuby for WASI (npm's @ruby/3.4-wasm-wasi) and its .rb files",
                    ignore=["**/*.wasm", "vendor/bundle"], image_files=[("app", "/app")],
                    entrypoint_args=[f"/app/{main}"])
