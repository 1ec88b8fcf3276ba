"""YAML loading that remembers where every key and value came from, and that hostile input
cannot turn into a denial of service.

``load(text, filename)`` returns plain Python data plus a :class:`Positions` map from a key path
(``("stages", "hello", "with")``) to its line, so validation errors can say ``Wasmfile:12``.
Duplicate keys, which PyYAML silently merges, are rejected: in a build file they are a mistake.

A Wasmfile comes from someone else's repository (``wasmbuild check`` runs in pre-commit on pull
requests), so before anything is built from the text, one pass over the parser's event stream
(iterative: no recursion) enforces hard limits:

* the document is at most :data:`MAX_BYTES` long and nests at most :data:`MAX_DEPTH` deep;
* anchors and aliases are allowed (they are handy for sharing an ``env`` map), but the document
  *as expanded* may hold at most :data:`MAX_NODES` nodes: the size of every anchor is known when
  it closes, so a "billion laughs" bomb is refused after reading it once, never expanded, and an
  alias inside the node it names (a structure that contains itself) is refused;
* explicit tags other than ``!!str``, ``!!seq`` and ``!!map`` are refused (``!!timestamp``,
  ``!!binary``, ``!!set``...: a Wasmfile is plain data).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from ..errors import ConfigError

Path_ = tuple[str | int, ...]

MAX_BYTES = 256 * 1024
MAX_DEPTH = 64
MAX_NODES = 20_000

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Explicit tags that only say what plain data says anyway. Others (``!!timestamp``, ``!!binary``,
#: ``!!set``, ``!!bool x``...) build values JSON has no name for, or crash PyYAML's constructors.
_PLAIN_TAGS = ("!", "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map")


@dataclass
class Positions:
    filename: str
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, path: Path_) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)

    def where(self, path: Path_ = ()) -> str:
        line = self.line(path)
        return f"{self.filename}:{line}" if line else self.filename


def _limits(text: str, filename: str) -> None:
    """Refuse documents that are too big, too deep, or that expand too far (one event pass)."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise ConfigError(f"the file is larger than {MAX_BYTES // 1024} KiB", where=filename,
                          hint="a Wasmfile describes stages and an image; keep data in the context")
    sizes: dict[str, int] = {}
    stack: list[list[Any]] = [[0, None]]  # [expanded node count, anchor] per open collection
    for event in yaml.parse(text, Loader=_Loader):
        mark = event.start_mark
        line = f"{filename}:{mark.line + 1}" if mark is not None else filename
        tag = getattr(event, "tag", None)
        if tag is not None and tag not in _PLAIN_TAGS:
            raise ConfigError(f"the YAML tag {tag!r} is not allowed", where=line,
                              hint="a Wasmfile is plain data: drop the tag, and quote text")
        if isinstance(event, yaml.AliasEvent):
            if any(anchor == event.anchor for _, anchor in stack):
                raise ConfigError(f"the alias *{event.anchor} is inside the node it names (a "
                                  "structure that contains itself)", where=line,
                                  hint="move the alias out of its anchor's own node")
            stack[-1][0] += sizes.get(event.anchor or "", 1)
        elif isinstance(event, yaml.ScalarEvent):
            stack[-1][0] += 1
            if event.anchor:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(stack) > MAX_DEPTH:
                raise ConfigError(f"the document nests deeper than {MAX_DEPTH} levels", where=line,
                                  hint="flatten it: a Wasmfile is a few levels deep")
            stack.append([1, event.anchor])
        elif isinstance(event, yaml.CollectionEndEvent):
            count, anchor = stack.pop()
            if anchor:
                sizes[anchor] = count
            stack[-1][0] += count
        else:
            continue
        if stack[-1][0] > MAX_NODES:
            raise ConfigError(f"the document expands to more than {MAX_NODES:,} values (through YAML "
                              "aliases?)", where=line,
                              hint="use fewer or smaller anchors (*alias) or write the values out")


def _walk(node: yaml.Node, path: Path_, pos: Positions) -> None:
    pos.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError("a mapping key must be a plain value, not a list or mapping",
                                  where=f"{pos.filename}:{key_node.start_mark.line + 1}")
            if key in seen:
                raise ConfigError(
                    f"duplicate key {key!r}",
                    where=f"{pos.filename}:{key_node.start_mark.line + 1}",
                    hint="each key may appear once; remove or merge the repeated one",
                )
            seen.add(key)
            pos.lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), pos)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), pos)


def load(text: str, filename: str) -> tuple[Any, Positions]:
    """Parse one YAML document; errors become a one-line :class:`ConfigError`."""
    pos = Positions(filename)
    try:
        _limits(text, filename)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None, pos
            _walk(node, (), pos)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = exc.problem or exc.context or "cannot parse"
        raise ConfigError(
            f"invalid YAML: {problem}",
            where=f"{filename}{line}",
            hint="check indentation, colons and quoting",
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {str(exc).splitlines()[0]}", where=filename) from None
    except (ValueError, TypeError) as exc:  # e.g. a timestamp out of range, an unhashable key
        raise ConfigError(f"invalid YAML value: {exc}", where=filename,
                          hint="quote values that are meant as text") from None
    return data, pos
