"""What a core module asks of the runtime beyond WASI's MVP command, read from its bytes.

Two facts the pre-flight checks (``oci/preflight.py``) need:

* whether the module is a *reactor*: it exports ``_initialize`` and no ``_start`` (WASI's
  application ABI, WebAssembly/WASI ``legacy/application-abi.md``). A reactor is a library to be
  called into; every container runtime starts a command's ``_start`` and nothing else.
* which post-MVP proposals it needs that some runtimes still lack, where the binary says so
  without decoding every instruction: exception-handling is a tag section (id 13) or an
  imported/exported tag. ``throw`` names a tag, and so does every ``catch`` of one, so code that
  throws has a tag; scanning the code section for ``try``/``throw`` opcodes would find nothing
  more in a real module.
"""

from __future__ import annotations

from dataclasses import dataclass

from .binary import _sections, exports, imports, kind

TAG_SECTION = 13
EXCEPTIONS = "exception-handling"


@dataclass(frozen=True)
class Facts:
    reactor: bool
    proposals: tuple[str, ...]  # post-MVP proposals the module needs, e.g. EXCEPTIONS


def module_facts(data: bytes, name: str = "the module") -> Facts | None:
    """The :class:`Facts` of a core module; None for a component (its world says what it runs)."""
    if kind(data, name) != "module":
        return None
    exported = exports(data, name)
    proposals = []
    if (TAG_SECTION in _sections(data, name) or any(e.kind == "tag" for e in exported)
            or any(i.kind == "tag" for i in imports(data, name))):
        proposals.append(EXCEPTIONS)
    names = {e.name for e in exported if e.kind == "func"}
    return Facts("_initialize" in names and "_start" not in names, tuple(proposals))
