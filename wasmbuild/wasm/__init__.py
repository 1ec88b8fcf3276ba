"""Facts about ``.wasm`` binaries and WASI 0.2 components (a base package: no pipeline imports).

* :mod:`.binary` reads headers, imports and exports without any tool (pure Python), and a
  component's WIT world through ``wasm-tools``.
* :mod:`.component` wraps a WASI preview 1 module into a component with the pinned adapter.
* :mod:`.python` turns a folder of Python modules into a ``wasi:cli/command`` component.
* :mod:`.pins` finds the vendored adapters and WIT files and checks them against their sha256.
* :mod:`.tools` locates ``wasm-tools`` and ``componentize-py`` (both installed from PyPI).
"""

from __future__ import annotations

#: Bumped when the way this package produces components changes (flags, WIT layout...): it is
#: part of the identity of the ``component`` toolchain, hence of stage cache keys.
TOOL_REVISION = "1"
