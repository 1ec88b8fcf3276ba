"""The one user-facing error type, with an exit code per kind.

A :class:`WasmbuildError` is a user mistake or an environment problem: the CLI prints its
message as one line (``error: FILE:LINE: what (how to fix)``) and exits with ``exit_code``.
Anything else is a bug and keeps its traceback. Code never raises the base class itself: every
failure has a kind, and the kind decides the documented exit code (README, "Exit codes").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence


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
        problems: Sequence[WasmbuildError] = (),
    ):
        self.message = message
        self.where = where
        self.hint = hint
        #: Longer context printed before the one-line message (e.g. a compiler's output).
        self.details = details
        #: Every problem found when several were (``wasmbuild check`` prints them all).
        self.problems: list[WasmbuildError] = list(problems) or [self]
        super().__init__(self.render())

    def render(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text = f"{text} ({self.hint})"
        # One line whatever the message quotes (a key holding "\r", a file name with "\n"): a
        # hostile Wasmfile must not be able to forge extra lines in a CI log.
        return text.translate(_ESCAPES)


_ESCAPES = {c: repr(chr(c))[1:-1] for c in [*range(32), 127, 0x85, 0x2028, 0x2029]}


class ConfigError(WasmbuildError):
    """The Wasmfile, a recipe, a command-line option or an environment variable is invalid."""

    exit_code = 2


class BuildError(WasmbuildError):
    """A stage failed (compiler error, missing output, invalid module, limit exceeded)."""

    exit_code = 3


def step_title(step: str) -> str:
    """How messages name a step: a one-line step as written; a script (a recipe's build.sh is
    one step of 200 lines) by its first line that is not a comment, and its length."""
    lines = step.strip().splitlines()
    if len(lines) <= 1:
        return step
    first = next((x.strip() for x in lines if x.strip() and not x.lstrip().startswith("#")), lines[0])
    return f"{first} ... ({len(lines)} lines)"


def step_summary(step: str) -> str:
    """:func:`step_title` on one line, cut to 60 characters: how an error line names a step."""
    summary = " ".join(step_title(step).split())
    return summary if len(summary) <= 60 else summary[:57] + "..."


class StepFailed(BuildError):
    """A stage's step exited non-zero: the same shape whatever ran it (host or container)."""

    def __init__(self, *, stage: str, index: int, total: int, step: str, exit_code: int,
                 tail: Sequence[str], where: str | None = None):
        self.stage = stage
        self.index = index
        self.step = step
        self.step_exit_code = exit_code
        self.output_tail = list(tail)
        last = _telling_line(self.output_tail)
        summary = step_summary(step)
        super().__init__(
            f"stage {stage!r}: step {index}/{total} `{summary}` exited with code {exit_code}: {last}",
            where=where,
            hint=_step_hint(self.output_tail),
            details="\n".join(self.output_tail),
        )


# What compilers print for an #include they cannot find: clang, then gcc.
_MISSING_INCLUDE = re.compile(
    r"fatal error: '([^']+)' file not found|fatal error: ([^:\s]+): No such file or directory")


def _telling_line(tail: Sequence[str]) -> str:
    """The line of a failed step's output that says why: its first ``error:`` line (a compiler's
    first error is the cause, what follows is fallout: ``1 error generated.``, ``make: ***``),
    else its last line."""
    lines = [line.strip() for line in tail if line.strip()]
    return next((line for line in lines if _ERROR_LINE.search(line)), lines[-1] if lines else "no output")


_ERROR_LINE = re.compile(r"(^|\s)(fatal )?error(\[\w+\])?:", re.IGNORECASE)


def _step_hint(tail: Sequence[str]) -> str:
    """The fix a failed step most likely needs: a missing header is almost always a file the
    stage was not given (only its inputs reach ``$SRC``), not a fault of the source."""
    for text in tail:
        if found := _MISSING_INCLUDE.search(text):
            name = found.group(1) or found.group(2)
            return (f"{name!r} is not among the stage's inputs: add it to the stage's `inputs:` (the c/cxx "
                    "recipes: `headers:` or `include_dirs:`)")
    return "the step's output is shown above; fix the source or the step"


class ToolchainError(WasmbuildError):
    """A needed compiler, engine or runtime is missing or unusable."""

    exit_code = 4


class RegistryError(WasmbuildError):
    """A registry could not be reached, refused us, or returned something wrong."""

    exit_code = 5


class ImageNotFound(WasmbuildError):
    """An image reference does not resolve in the store, a layout, an archive or a registry."""

    exit_code = 6


class StoreError(WasmbuildError):
    """The local store, a layout or the cache holds damaged content (a corrupt blob or index)."""

    exit_code = 7


class RunError(WasmbuildError):
    """The module could not run: it trapped, lacks an entry point, or imports what the runtime
    does not provide. (A module that exits with a code is not an error: that code is returned.)"""

    exit_code = 8


class TrustError(WasmbuildError):
    """A signature is missing, tampered with, expired or made with a key the user does not trust
    (``verify``, ``pull --verify``, ``run --verify``, a policy file; docs/signing.md)."""

    exit_code = 9


def guarded(call: Callable[[], int], debug: bool = False) -> int:
    """``call()``'s exit code, with a :class:`WasmbuildError` turned into one line on stderr and
    its exit code (``--debug``: with the traceback). Hostile input must never end in a traceback:
    running out of memory or recursion depth is one line too. The CLI and ``run``'s fast path
    (``__main__.py``) both report errors through here."""
    import sys
    import traceback

    try:
        return call()
    except WasmbuildError as err:
        if debug:
            traceback.print_exc()
        if err.details:
            print(err.details, file=sys.stderr)
        print(f"error: {err.render()}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        # The file system refused (a name too long, permission denied, disk full) somewhere no
        # narrower handler knew the path's role: still one line, naming the path.
        import errno

        if debug:
            traceback.print_exc()
        where = f"{exc.filename}: " if exc.filename else ""
        text = f"error: {where}{exc.strerror or exc} (--debug shows where)"
        print(text.translate({c: " " for c in range(32)}), file=sys.stderr)
        # A storage problem is exit 7 (like a damaged store); another path or permission the
        # user gave is 2.
        return 7 if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS) else 2
    except (MemoryError, RecursionError) as exc:
        if debug:
            traceback.print_exc()
        what = "memory" if isinstance(exc, MemoryError) else "recursion depth"
        print(f"error: ran out of {what} (the input is too large or too deeply nested)",
              file=sys.stderr)
        return 2
