"""How a failed step is reported: file names in the build context, the compiler's first error as
the reason, and the fix a missing header needs (issue 22 item 9)."""

from __future__ import annotations

import pytest

from wasmbuild.errors import StepFailed
from wasmbuild.execute.executors import context_paths


@pytest.mark.parametrize("src", ["/tmp/wasmbuild/src", "/var/cache/wasmbuild/tmp/stage-x1/src/", "/src"])
def test_src_paths_in_output_read_as_context_paths(src: str) -> None:
    rewrite = context_paths(src)
    base = src.rstrip("/")
    assert rewrite(f"{base}/main.c:3:10: fatal error: 'util.h' file not found") == (
        "main.c:3:10: fatal error: 'util.h' file not found")
    assert rewrite(f"In file included from {base}/lib/a.c:1:") == "In file included from lib/a.c:1:"
    # only whole path prefixes: another directory that merely ends the same way is left alone
    assert rewrite(f"/usr{base}/x.h and {base}x/y") == f"/usr{base}/x.h and {base}x/y"


def failed(*tail: str) -> StepFailed:
    return StepFailed(stage="app", index=1, total=1, step="cc main.c", exit_code=1, tail=list(tail))


def test_the_first_error_line_is_the_reason_and_a_missing_header_names_the_fix() -> None:
    err = failed("main.c:3:10: fatal error: 'util.h' file not found", '#include "util.h"', "1 error generated.")
    assert err.message == ("stage 'app': step 1/1 `cc main.c` exited with code 1: "
                           "main.c:3:10: fatal error: 'util.h' file not found")
    assert err.hint is not None and err.hint.startswith("'util.h' is not among the stage's inputs")
    gcc = failed("main.c:1:10: fatal error: util.h: No such file or directory", "compilation terminated.")
    assert gcc.hint is not None and gcc.hint.startswith("'util.h' is not among the stage's inputs")
    cargo = failed("error[E0425]: cannot find value `x` in this scope", "error: could not compile `app`")
    assert cargo.message.endswith("error[E0425]: cannot find value `x` in this scope")
    plain = failed("step one", "it broke")
    assert plain.message.endswith(": it broke") and plain.hint == (
        "the step's output is shown above; fix the source or the step")
