"""``load``: a Wasmfile on disk -> a :class:`Loaded` model, checked against the schema.

Every problem is reported with the file and line it comes from and a hint. ``load`` raises one
:class:`ConfigError` whose message is the first problem; ``problems`` holds them all (used by
``wasmbuild check``).
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from wasmbuild import reference
from wasmbuild.errors import ConfigError, WasmbuildError
from wasmbuild.ignore import load_ignore
from wasmbuild.load import yamlpos
from wasmbuild.load.model import ENV_NAME_RE, NO_IMAGE_HINT, Image, Wasmfile
from wasmbuild.paths import PathEscape, clean_image_path, clean_relative, within


@dataclass(frozen=True)
class Loaded:
    """A Wasmfile read and checked against the schema, before any recipe is rendered."""

    path: Path
    context: Path
    model: Wasmfile
    positions: yamlpos.Positions = field(repr=False)


@dataclass
class Problems:
    """Collects every mistake found; raises them as one ConfigError (the first, with the list)."""

    items: list[ConfigError] = field(default_factory=list)

    def add(self, message: str, where: str, hint: str | None = None) -> None:
        self.items.append(ConfigError(message, where=where, hint=hint))

    def raise_if_any(self) -> None:
        if self.items:
            first = self.items[0]
            raise ConfigError(first.message, where=first.where, hint=first.hint,
                              problems=list(self.items))


@dataclass(frozen=True)
class _Walk:
    """Where an error's location leads in the model."""

    model: type[BaseModel] | None  # the model the location ends in (None: a scalar, or unknown)
    loc: tuple[Any, ...]  # the location without pydantic's union-branch tags ("Optimize", "bool")
    union: tuple[Any, ...] | None = None  # where a union was entered
    scalar_branch: bool = False  # the error is about a scalar branch of that union


def _walk(loc: tuple[Any, ...]) -> _Walk:
    """Follow ``loc`` from the Wasmfile model through fields, list items, dict values and union
    branches (pydantic names the branch it tried: ``optimize.Optimize.levle``)."""
    current: Any = Wasmfile
    clean: list[Any] = []
    union: tuple[Any, ...] | None = None
    for i, part in enumerate(loc):
        current = _strip(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            fld = next((f for n, f in current.model_fields.items() if (f.alias or n) == part), None)
            if fld is None:
                return _Walk(None, (*clean, *loc[i:]), union)
            current = fld.annotation
        elif typing.get_origin(current) in (list, tuple, dict):
            args = typing.get_args(current)
            current = args[-1] if args else Any
        elif typing.get_origin(current) in (typing.Union, types.UnionType):
            union = tuple(clean)
            branch = next((a for a in typing.get_args(current)
                           if isinstance(a, type) and issubclass(a, BaseModel) and a.__name__ == part), None)
            if branch is None:
                return _Walk(None, union, union, scalar_branch=True)
            current = branch
            continue
        else:
            return _Walk(None, (*clean, *loc[i:]), union)
        clean.append(part)
    current = _strip(current)
    model = current if isinstance(current, type) and issubclass(current, BaseModel) else None
    return _Walk(model, tuple(clean), union)


def _strip(tp: Any) -> Any:
    """``X | None`` -> ``X``; ``Annotated[X, ...]`` -> ``X`` (a real union stays a union)."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def allowed_keys(model: type[BaseModel]) -> list[str]:
    """The keys a mapping of ``model`` may hold, as a Wasmfile spells them."""
    return [f.alias or n for n, f in model.model_fields.items()]


def key_hint(key: Any, allowed: list[str], what: str = "allowed keys") -> str:
    """``did you mean 'recipe'? allowed keys: recipe, with, ...`` for a misspelt ``key``."""
    listed = f"{what}: {', '.join(allowed)}" if allowed else f"{what}: none"
    close = difflib.get_close_matches(str(key), allowed, n=1)
    return f"did you mean {close[0]!r}? {listed}" if close else listed


#: Control characters, or `:`/`$` inside one scalar: a line of /etc/shadow or a password hash.
_SECRETISH = re.compile(r"[\x00-\x1f\x7f]|\$|:(?! )")


def quoted(value: Any, limit: int = 64) -> str:
    """``value`` quoted for an error message, unless it does not look like something a
    Wasmfile's author wrote: a "Wasmfile" that is a symlink to a secret (``/etc/shadow``, a
    credentials file) must not have its lines echoed into a CI log as "unknown keys"."""
    text = str(value)
    if isinstance(value, bool | int | float) or (len(text) <= limit and not _SECRETISH.search(text)):
        return repr(value)
    return "(not shown: it does not look like a Wasmfile key or value)"


def dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _translate(exc: ValidationError, pos: yamlpos.Positions, problems: Problems) -> None:
    raw = [tuple(p for p in err["loc"] if p != "[key]") for err in exc.errors()]
    errors = [(err, loc, _walk(loc)) for err, loc in zip(exc.errors(), raw, strict=True)]
    # A mapping given to `optimize` (bool | level | {level, strip}) fails every branch of the
    # union; only the mapping branch's own complaint (an unknown key) says what is wrong.
    mapped = {w.union for _, _, w in errors if w.union is not None and not w.scalar_branch}
    for err, tagged, walk in errors:
        if walk.scalar_branch and walk.union in mapped:
            continue
        loc = walk.loc
        kind = err["type"]
        where = pos.where(loc)
        if kind == "extra_forbidden":
            key, parent = loc[-1], loc[:-1]
            owner = _walk(tagged[:-1]).model  # with the union's tag: the branch it went into
            hint = key_hint(key, allowed_keys(owner)) if owner is not None else None
            place = f"in {dotted(parent)}" if parent else "at the top level"
            problems.add(f"unknown key {quoted(key)} {place}", where, hint)
        elif kind == "missing":
            problems.add(
                f"missing required key {loc[-1]!r} in {dotted(loc[:-1])}",
                where,
                "see docs/wasmfile.md",
            )
        elif kind == "value_error":
            msg = str(err["msg"]).removeprefix("Value error, ")
            problems.add(f"{dotted(loc)}: {msg}", where)
        elif kind == "string_pattern_mismatch" and "[key]" in err["loc"]:
            if (err.get("ctx") or {}).get("pattern") == ENV_NAME_RE:
                problems.add(
                    f"invalid environment variable name {quoted(err['input'])} in {dotted(loc[:-1])}",
                    where,
                    "POSIX names: letters, digits and '_', not starting with a digit",
                )
            else:
                problems.add(
                    f"invalid name {quoted(err['input'])} in {dotted(loc[:-1])}",
                    where,
                    "names use lowercase letters, digits, '-' and '_'",
                )
        else:
            got = err.get("input")
            shown = (
                f"{type(got).__name__} {quoted(got, 60)}"
                if not isinstance(got, dict | list)
                else type(got).__name__
            )
            problems.add(f"{dotted(loc)}: {err['msg'].lower()}, got {shown}", where)


#: What a load does with ``image:``: ``required`` (a build of the image), ``optional`` (``check``:
#: checked if present), ``ignored`` (``build --target STAGE``: neither needed nor checked, left out).
ImageNeed = Literal["required", "optional", "ignored"]


def load(path: Path | str, *, context: Path | str | None = None,
         problems: Problems | None = None, image: ImageNeed = "required") -> Loaded:
    """Read a Wasmfile and check it against the schema. Raises one :class:`ConfigError`
    (its ``problems`` attribute lists them all). Recipes are not rendered here (see ``render``).

    With ``problems`` given, mistakes that do not stop the next steps (a missing file, a bad tag)
    are only recorded there, so that ``check`` can report them together with render's.

    With ``image="ignored"`` the loaded model has no image: buildx builds a ``--target`` stage
    whatever the final stage says, and so does wasmbuild, so a half-written ``image:`` (or none)
    does not stop a stage from building."""
    path = Path(path)
    try:
        if path.is_dir():
            path = path / "Wasmfile"
        if path.exists() and not path.is_file():  # a FIFO would block the read forever
            raise ConfigError(f"{path} is not a regular file", hint="pass the path of a Wasmfile")
        text = path.read_text()
    except FileNotFoundError:
        folder = path.parent.resolve() if path.name == "Wasmfile" else None
        if folder is not None and folder.is_dir():
            raise ConfigError(f"no Wasmfile in {folder}",
                              hint="pass a Wasmfile's path, or write one with `wasmbuild init`") from None
        raise ConfigError(f"no Wasmfile at {path}", hint="pass the path of a Wasmfile") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    data, pos = yamlpos.load(text, str(path))
    collect = problems is not None
    problems = problems if problems is not None else Problems()
    if not isinstance(data, dict):
        raise ConfigError("a Wasmfile must be a YAML mapping with `wasmfile: 1`", where=pos.where())
    if image == "ignored":
        data = {k: v for k, v in data.items() if k != "image"}
    try:
        model = Wasmfile.model_validate(data)
    except ValidationError as exc:
        _translate(exc, pos, problems)
        problems.raise_if_any()
        raise AssertionError("unreachable") from exc

    ctx = Path(context) if context is not None else path.parent / model.context
    if not ctx.is_dir():
        raise ConfigError(f"build context {ctx} is not a directory", where=pos.where(("context",)))
    if model.image_ is not None:
        _check_image(model.image_, ctx, pos, problems)
    elif image == "required":
        empty = "image" in data  # `image:` with nothing under it yet
        problems.add("`image:` is empty" if empty else "the Wasmfile has no `image:` section",
                     pos.where(("image",)), NO_IMAGE_HINT)
    if not collect:
        problems.raise_if_any()
    return Loaded(path=path, context=ctx, model=model, positions=pos)


def _check_image(image: Image, ctx: Path, pos: yamlpos.Positions, problems: Problems) -> None:
    """What can be checked without the stages: paths, the entrypoint, tags."""
    dests: list[str] = []
    keep = "keep sources inside the context and destinations in the image"
    for i, f in enumerate(image.files):
        where = pos.where(("image", "files", i))
        try:
            dest = clean_image_path(f.dest)
            if dest == "/":
                problems.add(f"image file dest {f.dest!r} is the image root", where,
                             "name a path in the image, e.g. /app.wasm")
                continue
            dests.append(dest)
            if f.src is not None:
                ignore = load_ignore(ctx)
                full = within(ctx, f.src, "image file", ignore.ignored if ignore is not None else None)
                if not full.exists():
                    problems.add(f"image file {f.src!r} does not exist in the build context ({ctx})",
                                 where, "fix the path or create the file")
                elif ignore is not None:  # refused here, not after the stages have run
                    try:
                        ignore.check_named(clean_relative(f.src), "image file", where)
                    except ConfigError as exc:
                        problems.add(exc.message, where, exc.hint)
            else:
                clean_relative(f.path or "", "image file path")
        except PathEscape as exc:
            problems.add(str(exc), where, keep)
    entry = image.entrypoint[0]
    where = pos.where(("image", "entrypoint"))
    try:
        target = clean_image_path(entry if entry.startswith("/") else f"{image.workdir}/{entry}")
    except PathEscape as exc:
        problems.add(f"entrypoint: {exc}", where, keep)
    else:
        if not any(target == d or target.startswith(d.rstrip("/") + "/") for d in dests):
            problems.add(f"entrypoint {entry!r} ({target}) is not among the image files", where,
                         "add it under image.files with that dest")
    for i, tag in enumerate(image.tags):
        try:
            reference.parse(tag)
        except WasmbuildError as exc:
            problems.add(exc.message, pos.where(("image", "tags", i)), exc.hint)
    from wasmbuild.oci.targets import include_problem

    for i, text in enumerate(image.include):
        why = include_problem(text)
        if why:
            problems.add(f"image.include[{i}] {text!r} {why}", pos.where(("image", "include", i)),
                         "include images by oci:DIR[:TAG] or REGISTRY/NAME@sha256:DIGEST")
