#!/usr/bin/env bash
# The GitHub Action's install step (action.yml): wasmbuild from the action's checkout, into its
# own virtual environment, whose bin/ goes on the job's PATH ($GITHUB_PATH). A venv works the
# same on a stock runner, in a container that only has python3 + venv, and where the system
# Python refuses `pip install` (PEP 668). Pip brings the toolchains that ship as wheels.
#   ACTION_PATH=/path/to/checkout RUNNER_TEMP=/tmp GITHUB_PATH=/tmp/path scripts/action-install.sh
set -euo pipefail

src=${ACTION_PATH:-$(cd "$(dirname "$0")/.." && pwd)}
venv=${WASMBUILD_VENV:-${RUNNER_TEMP:-/tmp}/wasmbuild-venv}
python=${PYTHON:-python3}

if ! command -v "$python" >/dev/null; then
  echo "::error::wasmbuild needs Python 3.11 or newer: '$python' was not found (use actions/setup-python)" >&2
  exit 4
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "::error::wasmbuild needs Python 3.11 or newer, '$python' is $("$python" -V 2>&1) (use actions/setup-python)" >&2
  exit 4
fi
if [ ! -x "$venv/bin/python" ] && ! "$python" -m venv "$venv" >&2; then
  echo "::error::'$python -m venv' failed: install python3-venv (Debian/Ubuntu) or use actions/setup-python" >&2
  exit 4
fi
echo "::group::pip install wasmbuild"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$src" >&2
echo "::endgroup::"
"$venv/bin/wasmbuild" --version
echo "$venv/bin" >>"${GITHUB_PATH:-/dev/null}"
