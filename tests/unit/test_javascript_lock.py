"""The javascript recipe's lockfile reader (recipes/javascript/toolchain.py): which packages of a
package-lock.json the stage installs, and the lockfile mistakes that are one clear line; the
rendered stage pins each package by its integrity; init finds an ESM entry."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO as REPO_ROOT
from wasmbuild.errors import ConfigError
from wasmbuild.pipeline import prepare
from wasmbuild.render.folders import load_module

CODE = load_module(REPO_ROOT / "recipes" / "javascript" / "toolchain.py")


def sri(name: str) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(name.encode()).digest()).decode()


def lock(packages: dict[str, dict[str, Any]], root: dict[str, Any]) -> str:
    full = {"": {"name": "app", **root}}
    for key, entry in packages.items():
        full[key] = {"integrity": sri(key), **entry}
    return json.dumps({"name": "app", "lockfileVersion": 3, "packages": full}, indent=2)


def test_the_packages_node_would_find_on_linux_x64_glibc() -> None:
    text = lock({
        "node_modules/a": {"version": "1.0.0", "dependencies": {"b": "^2"}, "optionalDependencies": {
            "a-linux-x64-gnu": "1.0.0", "a-linux-x64-musl": "1.0.0", "a-darwin-arm64": "1.0.0", "a-wasm": "1.0.0"}},
        "node_modules/b": {"version": "2.0.0"},
        "node_modules/a/node_modules/b": {"version": "3.0.0"},  # a's own b: node finds it first
        "node_modules/a-linux-x64-gnu": {"version": "1.0.0", "os": ["linux"], "cpu": ["x64"], "libc": ["glibc"],
                                         "optional": True},
        "node_modules/a-linux-x64-musl": {"version": "1.0.0", "os": ["linux"], "cpu": ["x64"], "libc": ["musl"],
                                          "optional": True},
        "node_modules/a-darwin-arm64": {"version": "1.0.0", "os": ["darwin"], "cpu": ["arm64"], "optional": True},
        "node_modules/a-wasm": {"version": "1.0.0", "cpu": ["wasm32"], "optional": True,
                                "dependencies": {"only-for-wasm": "1"}},
        "node_modules/only-for-wasm": {"version": "1.0.0", "optional": True},  # reached only through a-wasm
        "node_modules/alias": {"name": "@scope/real", "version": "0.1.0"},  # "alias": "npm:@scope/real@0.1.0"
        "node_modules/dev-only": {"version": "1.0.0", "dev": True},
    }, {"dependencies": {"a": "^1", "alias": "npm:@scope/real@0.1.0"}, "devDependencies": {"dev-only": "1"}})
    found = CODE.npm_lock(text, "package-lock.json", "app/")
    assert [(p["path"], p["url"]) for p in found] == [
        ("app/node_modules/a", "npm:a@1.0.0"),
        ("app/node_modules/a-linux-x64-gnu", "npm:a-linux-x64-gnu@1.0.0"),
        ("app/node_modules/a/node_modules/b", "npm:b@3.0.0"),
        ("app/node_modules/alias", "npm:@scope/real@0.1.0"),
    ]
    assert found[3]["file"] == "scope-real-0.1.0.tgz" and found[0]["integrity"] == sri("node_modules/a")


def test_the_toolchain_lock_installs_what_npm_installs() -> None:
    """The recipe's own lock: componentize-js 0.23.0's tree as `npm install` lays it out on
    linux/x64 (156 packages), and no registry URL in the file."""
    path = REPO_ROOT / "recipes" / "javascript" / "toolchain-lock.json"
    text = path.read_text()
    assert '"resolved"' not in text and "://" not in text
    found = CODE.npm_lock(text, str(path))
    assert len(found) == 156
    urls = {p["url"] for p in found}
    assert {"npm:@bytecodealliance/componentize-js@0.23.0", "npm:rolldown@1.3.4",
            "npm:@rolldown/binding-linux-x64-gnu@1.3.4"} <= urls
    assert not any("musl" in u or "darwin" in u or "wasm32" in u for u in urls)


@pytest.mark.parametrize(("entry", "says"), [
    ({"version": "1.0.0", "link": True, "resolved": "../lib"},
     r"package-lock.json:\d+: a \(node_modules/a\) is a link"),
    ({"version": "git+ssh://example.test/a.git#abc"}, r"is a link, git or file dependency"),
    ({"version": "1.0.0", "integrity": ""}, r"package-lock.json:\d+: a@1.0.0 \(node_modules/a\) has no `integrity`"),
    ({"version": "1.0.0", "integrity": "sha1-" + base64.b64encode(b"x" * 20).decode()}, r"a@1.0.0: sha1 is too weak"),
])
def test_a_lockfile_mistake_is_one_line_at_its_line(entry: dict[str, Any], says: str) -> None:
    text = lock({"node_modules/a": entry}, {"dependencies": {"a": "1"}})
    with pytest.raises(ConfigError, match=says) as info:
        CODE.npm_lock(text, "package-lock.json")
    assert "\n" not in str(info.value)
    if "link" in says:
        line = text.splitlines().index('    "node_modules/a": {') + 1
        assert f"package-lock.json:{line}:" in str(info.value)


def test_an_old_or_broken_lockfile_says_how_to_regenerate_it() -> None:
    with pytest.raises(ConfigError, match="lockfileVersion 2 or 3"):
        CODE.npm_lock(json.dumps({"lockfileVersion": 1, "dependencies": {}}), "package-lock.json")
    with pytest.raises(ConfigError, match="not JSON"):
        CODE.npm_lock("{", "package-lock.json")
    with pytest.raises(ConfigError, match=r"b \(needed by node_modules/a\) is not in the lockfile"):
        CODE.npm_lock(lock({"node_modules/a": {"version": "1.0.0", "dependencies": {"b": "1"}}},
                           {"dependencies": {"a": "1"}}), "package-lock.json")


def test_the_stage_pins_every_package_by_its_integrity(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.ts").write_text("export const run = { run(): void {} };\n")
    (tmp_path / "package-lock.json").write_text(lock({"node_modules/dep": {"version": "1.2.3"}},
                                                     {"dependencies": {"dep": "1"}}))
    (tmp_path / "Wasmfile").write_text(textwrap.dedent("""\
        wasmfile: 1
        stages:
          app:
            recipe: javascript
            with: {source: src/main.ts}
        image:
          files: [{from: app, path: app.wasm, dest: /app.wasm}]
          entrypoint: [app.wasm]
          targets: [runwasi]
        """))
    spec = prepare(tmp_path / "Wasmfile").project.stages["app"]
    pins = {i.url: i.integrity for i in spec.inputs if i.url}
    assert pins["npm:dep@1.2.3"] == sri("node_modules/dep")
    assert "npm:@bytecodealliance/componentize-js@0.23.0" in pins and all(v for v in pins.values())
    assert [i.dest for i in spec.inputs if i.url == "npm:dep@1.2.3"] == ["npm/dep-1.2.3.tgz"]
    assert spec.toolchain == "node" and not spec.tools and "app/node_modules/dep" in "\n".join(spec.steps)


@pytest.mark.parametrize(("package", "files", "source"), [
    ({"type": "module", "main": "lib/app.js"}, ["lib/app.js"], "lib/app.js"),
    ({"exports": {".": {"import": "./dist/index.mjs"}}}, ["dist/index.mjs"], "dist/index.mjs"),
    ({"main": "src/main.ts"}, ["src/main.ts"], "src/main.ts"),
    ({"main": "index.js"}, ["index.js"], None),  # CommonJS
    ({"type": "module", "main": "gone.js"}, [], None),
    ({"type": "module", "main": "a.ts", "devDependencies": {"assemblyscript": "0.28.20"}}, ["a.ts"], None),
])
def test_init_finds_an_esm_entry(tmp_path: Path, package: dict[str, Any], files: list[str], source: str | None) -> None:
    (tmp_path / "package.json").write_text(json.dumps(package))
    for f in files:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("export const run = { run() {} };\n")
    found = CODE.init(tmp_path)
    assert (found.params["source"] if found else None) == source


def test_init_leaves_an_assemblyscript_project_to_its_recipe_and_writes_a_valid_wasmfile(tmp_path: Path) -> None:
    from wasmbuild.scaffold import detect, init

    (tmp_path / "asc" / "assembly").mkdir(parents=True)
    (tmp_path / "asc" / "asconfig.json").write_text('{"entries": ["assembly/index.ts"]}\n')
    (tmp_path / "asc" / "assembly" / "index.ts").write_text("export function _start(): void {}\n")
    (tmp_path / "asc" / "package.json").write_text('{"type": "module", "main": "assembly/index.ts"}\n')
    assert detect(tmp_path / "asc").recipe == "assemblyscript"
    (tmp_path / "js" / "src").mkdir(parents=True)
    (tmp_path / "js" / "package.json").write_text('{"main": "src/main.ts", "dependencies": {"x": "1"}}\n')
    (tmp_path / "js" / "src" / "main.ts").write_text("export const run = { run(): void {} };\n")
    found = detect(tmp_path / "js")
    assert (found.recipe, found.targets) == ("javascript", ["runwasi"])
    assert any("no package-lock.json: run `npm install`" in n for n in found.notes)
    init(tmp_path / "js")
    assert "node_modules" in (tmp_path / "js" / ".wasmignore").read_text()
    wasmfile = tmp_path / "js" / "Wasmfile"
    inputs = prepare(wasmfile).project.stages["app"].inputs  # no lockfile yet: no app packages
    assert len([i for i in inputs if i.url]) == 150  # the toolchain's tarballs only
    text = wasmfile.read_text()
    wasmfile.write_text(text.replace("      source: src/main.ts", "      source: src/main.ts\n      lock: deps.lock"))
    with pytest.raises(ConfigError, match=r"lockfile 'deps.lock' does not exist in the build context"):
        prepare(wasmfile)  # another lockfile than the default must exist


@pytest.mark.parametrize(("params", "says"), [
    ("{source: src/main.ts, disable: [sockets]}", "`disable`: sockets is not a componentize-js feature"),
    ("{source: ../main.ts}", "`source`, `lock` and `wit` are paths inside `dir`"),
    ("{source: ''}", "`source` is empty"),
])
def test_a_wrong_parameter_is_one_line(tmp_path: Path, params: str, says: str) -> None:
    (tmp_path / "Wasmfile").write_text(
        f"wasmfile: 1\nstages:\n  app:\n    recipe: javascript\n    with: {params}\n"
        "image:\n  files: [{from: app, path: app.wasm, dest: /app.wasm}]\n  entrypoint: [app.wasm]\n")
    with pytest.raises(ConfigError, match=r"Wasmfile:\d+: .*" + re.escape(says)) as info:
        prepare(tmp_path / "Wasmfile")
    assert "\n" not in str(info.value)


def test_a_lockfile_with_a_legacy_uppercase_name_is_read_and_a_path_unsafe_one_refused() -> None:
    text = lock({"node_modules/JSONStream": {"version": "1.3.5"}}, {"dependencies": {"JSONStream": "^1"}})
    [found] = CODE.npm_lock(text, "package-lock.json")
    assert (found["url"], found["file"]) == ("npm:JSONStream@1.3.5", "JSONStream-1.3.5.tgz")
    unsafe = lock({"node_modules/x": {"name": "../x", "version": "1.0.0"}}, {"dependencies": {"x": "1"}})
    with pytest.raises(ConfigError, match=r"is not an npm package's install path, name and exact version"):
        CODE.npm_lock(unsafe, "package-lock.json")
