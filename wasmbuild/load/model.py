"""The Wasmfile's data model: strict, documented, and the source of its JSON Schema.

Every model forbids unknown keys and does not coerce types (``"1"`` is not an int, ``1`` is not a
string). Field descriptions become the schema's documentation (``docs/wasmfile.schema.json``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from wasmbuild.errors import ConfigError
from wasmbuild.load.packages import Pin, download_name, npm_package, pypi_package
from wasmbuild.load.parts import PURL_RE, CacheMount, Package, StageName, _Strict
from wasmbuild.oci import targets as target_registry

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
ENV_NAME_RE = r"^[A-Za-z_][A-Za-z0-9_]*$"
EnvName = Annotated[str, StringConstraints(pattern=ENV_NAME_RE)]
#: Variables every step gets from wasmbuild; a stage may not declare them (ours would win anyway).
RESERVED_ENV = ("SRC", "OUT", "WORK", "HOME", "PATH", "LANG", "SOURCE_DATE_EPOCH")

TargetName = Annotated[str, target_registry.NameSchema]  # one of the registry's (oci/targets.py)
#: Platforms Wasm runtimes recognise (os/architecture): the seed's, Docker's, OCI/Go's.
WASM_PLATFORMS = ("wasi/wasm32", "wasi/wasm", "wasip1/wasm", "wasip2/wasm")


_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}


def parse_duration(value: int | str) -> float:
    """``90``, ``"90s"``, ``"30m"``, ``"1.5h"`` -> seconds (positive); ValueError otherwise."""
    text = str(value).strip().lower()
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)\s*([smh]?)", text)
    if isinstance(value, bool) or match is None or float(match.group(1)) <= 0:
        raise ValueError(f"{value!r} is not a duration: use seconds or a number with s, m or h, "
                         "e.g. 90s, 30m, 2h")
    return float(match.group(1)) * _UNITS[match.group(2)]


OptimizeLevel = Literal["O0", "O1", "O2", "O3", "O4", "Os", "Oz", "none"]


class Optimize(_Strict):
    """Shrink WebAssembly modules: drop custom sections and run Binaryen's wasm-opt."""

    level: OptimizeLevel = Field("O2", description="wasm-opt level (`none`: strip only, no wasm-opt).")
    strip: bool = Field(True, description="Drop custom sections: DWARF debug info, names, producers.")


OptimizeSetting = bool | OptimizeLevel | Optimize
_LEVELS = ("O0", "O1", "O2", "O3", "O4", "Os", "Oz", "none")


def _check_optimize(value: Any) -> Any:
    """One clear message instead of one per branch of the union."""
    if isinstance(value, dict) and value.get("level", "O2") not in _LEVELS:
        raise ValueError(f"`optimize.level` must be one of {', '.join(_LEVELS)}, not {value['level']!r}")
    if value is None or isinstance(value, bool | dict) or value in _LEVELS:
        return value
    raise ValueError(f"`optimize` must be true/false, a level ({', '.join(_LEVELS)}) or "
                     f"{{level: ..., strip: ...}}, not {value!r}")
_OPTIMIZE_DOC = ("Optimise the .wasm modules: `true` (= O2 and strip), a wasm-opt level (O0-O4, Os, Oz; "
                 "`none` strips only), or `{level, strip}`. Needs wasm-opt (Debian: binaryen) unless level is none.")


class Input(_Strict):
    """A file or directory made available to a stage under ``$SRC``.

    Exactly one of ``src`` (a path in the build context), ``from`` (another stage's output) or
    ``url`` (a download, pinned by ``sha256`` or an SRI ``integrity``). A plain string is short for ``{src: STRING}``.
    """

    src: str | None = Field(None, description="Path in the build context (file or directory).")
    from_: StageName | None = Field(None, alias="from", description="Name of the stage to take from.")
    path: str | None = Field(None, description="With `from`: path inside that stage's outputs.")
    url: str | None = Field(None, description="http(s) URL to download, `npm:PACKAGE@VERSION` (the package's "
                            "tarball, fetched by the npm client with your npm configuration) or "
                            "`pypi:NAME==VERSION` (its pure-Python wheel, fetched by pip with your pip configuration).")
    sha256: Sha256 | list[Sha256] | None = Field(
        None, description="With `url`: hex sha256 of the file (or `integrity`). For a `pypi:` input, a list accepts "
        "a file with any of them (a requirements line's hashes, one per file of the release: pip picks the wheel).")
    integrity: str | None = Field(None, description="With `url`, instead of `sha256`: an SRI digest of the file, "
                                  "`sha512-BASE64` as npm lockfiles write it (sha256-/sha384- too; sha1 is refused).")
    dest: str | None = Field(None, description="Path under $SRC (default: `src`, `path`, or the URL's file name).")
    purl: str | None = Field(None, description="With `url`: the package URL naming what the file is (e.g. "
                             "`pkg:cargo/serde@1.0.152`), shown in the SBOM instead of a plain download.")
    toolchain: bool = Field(False, description="With `url`: the download is the stage's toolchain (a compiler or "
                            "interpreter pinned as a package): `wasmbuild toolchains` lists it.")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return {"src": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_kind(self) -> Input:
        kinds = [k for k in ("src", "from_", "url") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("an input needs exactly one of `src`, `from` or `url`")
        if self.url is not None and (self.sha256 is None) == (self.integrity is None):
            raise ValueError("a `url` input needs exactly one of `sha256` (the hex digest of the file) "
                             "or `integrity` (sha512-BASE64)")
        if self.from_ is not None and self.path is None:
            raise ValueError("a `from` input needs `path` (which output of that stage)")
        if self.from_ is None and self.path is not None:
            raise ValueError("`path` is only valid with `from`")
        if self.integrity is not None and self.url is not None and npm_package(self.url) is None:
            raise ValueError("`integrity` pins npm packages only (`url: npm:NAME@VERSION`): "
                             "pin other downloads by `sha256`")
        if isinstance(self.sha256, list) and self.url is not None and pypi_package(self.url) is None:
            raise ValueError("a list of `sha256` pins `pypi:` inputs only (pip picks one of the release's files): "
                             "pin other downloads by the one file's `sha256`")
        if isinstance(self.sha256, list) and not self.sha256:
            raise ValueError("`sha256` is an empty list: give the file's hex sha256")
        if self.url is None and (self.sha256 is not None or self.integrity is not None):
            raise ValueError("`sha256` and `integrity` are only valid with `url`")
        if self.url is None and (self.purl is not None or self.toolchain):
            raise ValueError("`purl` and `toolchain` are only valid with `url`")
        return self

    @field_validator("integrity")
    @classmethod
    def _sri(cls, value: str | None) -> str | None:
        if value is not None:
            Pin.sri(value)  # its ValueError is the message
        return value

    @field_validator("purl")
    @classmethod
    def _purl(cls, value: str | None) -> str | None:
        if value is not None and not re.match(PURL_RE, value):
            raise ValueError(f"`purl` must be a package URL, pkg:TYPE/NAME@VERSION (e.g. pkg:cargo/serde@1.0.152), "
                             f"not {value!r}")
        return value

    @property
    def pin(self) -> Pin:
        """What a `url` input is pinned by (its `sha256`, any of a list of them, or its `integrity`)."""
        assert self.url is not None
        if isinstance(self.sha256, list):
            return Pin.any_of("sha256", self.sha256)
        return Pin("sha256", self.sha256) if self.sha256 is not None else Pin.sri(self.integrity or "")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and value.startswith("npm:"):
            if npm_package(value) is None:
                raise ValueError("an npm input is `npm:NAME@VERSION` with an exact version, e.g. "
                                 "`npm:@bytecodealliance/wizer-linux-x64@11.0.3`")
        elif value is not None and value.startswith("pypi:"):
            if pypi_package(value) is None:
                raise ValueError("a PyPI input is `pypi:NAME==VERSION` with an exact version, e.g. `pypi:six==1.17.0`")
        elif value is not None and not re.match(r"^https?://[^\s/]+/\S*$", value):
            raise ValueError("`url` must be an http:// or https:// URL, npm:NAME@VERSION or pypi:NAME==VERSION")
        return value

    @property
    def file_name(self) -> str:
        """Where a download lands under ``$SRC`` unless ``dest`` says: the URL's last segment,
        the file ``npm pack`` writes (``bytecodealliance-wizer-linux-x64-11.0.3.tgz``), or a PyPI
        package's wheel (``six-1.17.0-py3-none-any.whl``)."""
        assert self.url is not None
        return self.dest or download_name(self.url)


class Stage(_Strict):
    """A unit of work: a recipe with parameters, or explicit shell steps."""

    recipe: str | None = Field(None, description="Name of a recipe from the recipe library.")
    with_: dict[str, Any] = Field(
        default_factory=dict,
        alias="with",
        description="Recipe parameters (see `wasmbuild recipes`).",
    )
    builder: str | None = Field(
        None,
        description="Run in a builder container: a builder recipe name, or an image pinned by "
        "digest (`repo@sha256:...`). Without it the stage runs on the host.",
    )
    inputs: list[Input] = Field(default_factory=list, description="Files the steps read ($SRC).")
    steps: list[str] = Field(default_factory=list, description="Shell commands, run in order with `sh -eu -c`.")
    outputs: list[str] = Field(default_factory=list, description="Paths under $OUT the stage must produce.")
    env: dict[EnvName, str] = Field(
        default_factory=dict, description="Environment for the steps (nothing else leaks in)."
    )
    network: bool = Field(False, description="Allow network access (none otherwise, on the host or in a builder).")
    user: str | None = Field(
        None,
        pattern=r"^[a-z_][a-z0-9_-]*$|^[0-9]+(:[0-9]+)?$",
        description="User (name or uid[:gid]) the steps run as in the builder container.",
    )
    component: Literal["command", "reactor"] | None = Field(
        None,
        description="Wrap every core module among the outputs into a WASI 0.2 component with the "
        "pinned preview 1 adapter: `command` (exports wasi:cli/run) or `reactor`.",
    )
    toolchain: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*$")] | None = Field(
        None,
        description="Host toolchain the steps need (usually set by a recipe): one a recipe folder "
        "declares (`wasmbuild recipes` lists them; docs/languages.md), or `none`. The library's: "
        "`c`/`cxx` (clang with wasi-libc/libc++, or zig when those are missing), `zig`, `rust`, "
        "`component` (wasm-tools and componentize-py).",
    )
    optimize: OptimizeSetting | None = Field(
        None, description=_OPTIMIZE_DOC + " Applies to the image files taken from this stage."
    )
    caches: list[CacheMount] = Field(
        default_factory=list,
        description="Persistent caches mounted read-write under $WORK and kept between builds "
        "(cargo's target directory, a compiler cache); never part of the stage key, ignored "
        "by --no-cache. One build writes a cache at a time (a second one waits).",
    )

    packages: list[Package] = Field(
        default_factory=list,
        description="Packages the steps' own package manager fetches and verifies against a lockfile "
        "among the inputs (a recipe fills it: the go recipe from go.sum): listed in the SBOM and "
        "the provenance by purl; wasmbuild neither fetches nor checks them.",
    )
    tools: list[Annotated[str, StringConstraints(min_length=1, pattern=r"^[^\s;=]+$")]] = Field(
        default_factory=list,
        description="Commands the steps run from outside the system directories (a venv, ~/.local, "
        "/opt, ~/go): a name found on your PATH, or an absolute path. Host stages only: shown "
        "read-only in the sandbox, first on PATH, their identity in the stage key and the SBOM.",
    )

    _optimize = field_validator("optimize", mode="before")(_check_optimize)
    timeout: int | str | None = Field(
        None,
        description="Wall time the stage may take, all steps together: seconds, or `90s`, `30m`, "
        "`2h` (default 1h, or WASMBUILD_STAGE_TIMEOUT). The stage is killed when it runs out.",
    )

    @field_validator("timeout")
    @classmethod
    def _duration(cls, value: int | str | None) -> int | str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("env")
    @classmethod
    def _not_reserved(cls, value: dict[str, str]) -> dict[str, str]:
        taken = sorted(set(value) & set(RESERVED_ENV))
        if taken:
            raise ValueError(f"`env` may not set {', '.join(taken)}: wasmbuild sets "
                             f"{', '.join(RESERVED_ENV)} for every step")
        return value

    @field_validator("caches")
    @classmethod
    def _distinct_caches(cls, value: list[CacheMount]) -> list[CacheMount]:
        for what in ("name", "path"):
            seen = [getattr(c, what) for c in value]
            twice = sorted({x for x in seen if seen.count(x) > 1})
            if twice:
                raise ValueError(f"cache {what} {twice[0]!r} is listed twice")
        paths = [c.path for c in value]
        for a in paths:
            for b in paths:
                if a != b and b.startswith(a + "/"):
                    raise ValueError(f"cache path {b!r} lies inside cache path {a!r}")
        return value

    @model_validator(mode="after")
    def _tools_on_the_host(self) -> Stage:
        if self.tools and self.builder:
            raise ValueError("`tools` names host commands; a builder stage has its own (install them "
                             "in the builder image)")
        return self

    @model_validator(mode="after")
    def _recipe_or_steps(self) -> Stage:
        if self.recipe is None and not self.steps:
            raise ValueError("a stage needs `recipe` or `steps`")
        if self.recipe is not None and (self.steps or self.outputs):
            raise ValueError("a stage has either `recipe` (with `with`) or `steps`/`outputs`")
        if self.recipe is None and self.with_:
            raise ValueError("`with` is only valid with `recipe`")
        if self.user is not None and self.builder is None:
            raise ValueError("`user` needs `builder`: host stages run as the invoking user")
        if self.recipe is None and not self.outputs:
            raise ValueError("a stage with `steps` must declare its `outputs`")
        return self


class ImageFile(_Strict):
    """A file or directory copied into the image's root filesystem."""

    src: str | None = Field(None, description="Path in the build context.")
    from_: StageName | None = Field(None, alias="from", description="Stage whose output to copy.")
    path: str | None = Field(None, description="With `from`: path inside that stage's outputs.")
    dest: str = Field(description="Absolute destination path in the image, e.g. `/app.wasm`.")
    mode: int | None = Field(
        None,
        ge=0,
        le=0o7777,
        description="File mode, e.g. 0o644 (default 0755 if executable, else 0644).",
    )
    optimize: OptimizeSetting | None = Field(
        None, description=_OPTIMIZE_DOC + " On a directory: every module in it. Overrides the stage's."
    )

    _optimize = field_validator("optimize", mode="before")(_check_optimize)

    @field_validator("mode", mode="before")
    @classmethod
    def _octal_string(cls, value: Any) -> Any:
        if isinstance(value, str) and re.fullmatch(r"0?o?[0-7]{3,4}", value):
            return int(value.replace("o", ""), 8)
        return value

    @model_validator(mode="after")
    def _one_source(self) -> ImageFile:
        if (self.src is None) == (self.from_ is None):
            raise ValueError("an image file needs exactly one of `src` or `from`")
        if self.from_ is not None and self.path is None:
            raise ValueError("an image file with `from` needs `path`")
        if self.from_ is None and self.path is not None:
            raise ValueError("`path` is only valid with `from`")
        return self


class Image(_Strict):
    """The FROM-scratch image to assemble."""

    files: list[ImageFile] = Field(description="What goes into the root filesystem.")
    entrypoint: list[str] = Field(min_length=1, description="argv prefix; the first item is the Wasm module to run.")
    cmd: list[str] = Field(default_factory=list, description="Default arguments (replaced by run args).")
    env: dict[EnvName, str] = Field(default_factory=dict, description="The module's whole environment.")
    workdir: str = Field("/", description="Working directory (absolute).")
    labels: dict[str, str] = Field(default_factory=dict, description="Image config labels.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Manifest annotations.")
    platform: str = Field(
        "wasi/wasm32",
        pattern=r"^[a-z0-9]+/[a-z0-9]+(/[a-z0-9]+)?$",
        description="os/architecture[/variant]; `wasi/wasm` is Docker's spelling.",
    )
    variant: str | None = Field(
        "compat",
        description="Value of the `module.wasm.image/variant` annotation (null to omit).",
    )
    tags: list[str] = Field(default_factory=list, description="Default tags in the local store.")
    custom_platform: bool = Field(
        False, description="Allow a `platform` that is not a Wasm platform (" + ", ".join(WASM_PLATFORMS) + ")."
    )
    targets: list[TargetName] = Field(
        default_factory=lambda: [target_registry.DEFAULT.name],
        min_length=1,
        json_schema_extra=target_registry.describe,
    )
    include: list[str] = Field(
        default_factory=list,
        description="Existing non-Wasm images added to the index by reference: "
        "`REGISTRY/NAME@sha256:...` or `oci:DIR[:TAG]` (e.g. the linux/amd64 build of the same app).",
    )

    @field_validator("targets", mode="before")
    @classmethod
    def _known_targets(cls, value: Any) -> Any:
        known = target_registry.names()
        for item in value if isinstance(value, list) else []:
            if isinstance(item, str) and item not in known:
                import difflib

                close = difflib.get_close_matches(item, known, n=1)
                guess = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(f"unknown target {item!r}{guess}: use {', '.join(known)}")
        if isinstance(value, list) and len(set(map(str, value))) != len(value):
            raise ValueError("a target is listed twice")
        return value

    @model_validator(mode="after")
    def _wasm_platform(self) -> Image:
        if self.platform not in WASM_PLATFORMS and not self.custom_platform:
            raise ValueError(f"`platform` {self.platform!r} is not a Wasm platform: use one of "
                             f"{', '.join(WASM_PLATFORMS)} (or set `custom_platform: true`)")
        return self

    @field_validator("workdir")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("`workdir` must be an absolute path such as /app")
        return value


#: How to fix a Wasmfile without an image, wherever one is needed.
NO_IMAGE_HINT = ("add an `image:` section with `files` and an `entrypoint` as docs/wasmfile.md "
                 "shows, or build one stage with `wasmbuild build --target STAGE`")


class Wasmfile(_Strict):
    """A Wasmfile: named stages and one image."""

    wasmfile: Literal[1] = Field(description="Format version; must be 1.")
    context: str = Field(".", description="Build context, relative to the Wasmfile's directory.")
    stages: dict[StageName, Stage] = Field(default_factory=dict, description="Named stages.")
    image_: Image | None = Field(
        None,
        alias="image",
        description="The image to assemble. Required, except in a stages-only Wasmfile built "
        "with `build --target STAGE` (which neither needs nor checks the image).",
    )

    @property
    def image(self) -> Image:
        """The image; only a ``--target`` build (or ``check``) loads a Wasmfile without one."""
        if self.image_ is None:
            raise ConfigError("the Wasmfile has no `image:` section", hint=NO_IMAGE_HINT)
        return self.image_


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a Wasmfile, generated from the model."""
    schema = Wasmfile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://wasmbuild.dev/schema/wasmfile-1.json"
    return schema
