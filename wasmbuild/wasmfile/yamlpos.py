"""YAML loading that remembers where every key and value came from.

``load(text, filename)`` returns plain Python data plus a :class:`Positions` map from a key path
(``("stages", "hello", "with")``) to its line, so validation errors can say ``Wasmfile:12``.
Duplicate keys, which PyYAML silently merges, are rejected: in a build file they are a mistake.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from ..errors import ConfigError

Path_ = tuple[str | int, ...]


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


def _walk(node: yaml.Node, path: Path_, pos: Positions) -> None:
    pos.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
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
        loader = yaml.SafeLoader(text)
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
        raise ConfigError(f"invalid YAML: {exc}", where=filename) from None
    return data, pos
