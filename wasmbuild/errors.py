"""The one user-facing error type.

A :class:`WasmbuildError` is a user mistake or an environment problem: the CLI prints its
message as one line and exits with ``exit_code``. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class WasmbuildError(Exception):
    """A failure the user can fix. ``str(err)`` is one line: what, where, how to fix."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        hint: str | None = None,
        details: str | None = None,
    ):
        self.message = message
        self.where = where
        self.hint = hint
        #: Longer context printed before the one-line message (e.g. a compiler's output).
        self.details = details
        super().__init__(self.render())

    def render(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text = f"{text} ({self.hint})"
        return text


class ConfigError(WasmbuildError):
    """The Wasmfile or a recipe is invalid."""

    exit_code = 2


class BuildError(WasmbuildError):
    """A stage failed (compiler error, missing output, invalid module)."""

    exit_code = 3


class ToolchainError(WasmbuildError):
    """A needed compiler, engine or runtime is missing."""

    exit_code = 4


class RegistryError(WasmbuildError):
    """A registry could not be reached, refused us, or returned something wrong."""

    exit_code = 5


class ImageNotFound(WasmbuildError):
    """An image reference does not resolve in the store, a layout or a registry."""

    exit_code = 6
