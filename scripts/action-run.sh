#!/usr/bin/env bash
# The GitHub Action's logic (action.yml), runnable locally:
#   INPUT_TAGS=localhost:5000/hello:1 INPUT_PUSH=true INPUT_PLAIN_HTTP=true \
#   GITHUB_OUTPUT=/tmp/out GITHUB_STEP_SUMMARY=/tmp/summary.md scripts/action-run.sh
# Inputs: INPUT_WASMFILE INPUT_CONTEXT INPUT_TAGS INPUT_PUSH INPUT_REGISTRY INPUT_USERNAME
# INPUT_PASSWORD INPUT_SIGNING_KEY INPUT_SIGNING_KEY_PASSPHRASE INPUT_PLAIN_HTTP INPUT_SETUP_TOOLCHAINS INPUT_SANDBOX INPUT_CACHE_FROM INPUT_CACHE_TO
# INPUT_PROGRESS INPUT_SUMMARY. Writes digest=, image= and metadata= (one line of JSON) to
# $GITHUB_OUTPUT and a job summary to $GITHUB_STEP_SUMMARY. $WASMBUILD overrides the command
# (default: wasmbuild). The stage cache is $WASMBUILD_CACHE (action.yml restores and saves it).
set -euo pipefail

wasmfile=${INPUT_WASMFILE:-Wasmfile}
context=${INPUT_CONTEXT:-.}
registry=${INPUT_REGISTRY:-}
registry=${registry#https://}
registry=${registry%/}
read -r -a wb <<<"${WASMBUILD:-wasmbuild}"
work=$(mktemp -d "${RUNNER_TEMP:-/tmp}/wasmbuild-action.XXXXXX")
trap 'rm -rf "$work"' EXIT

is_true() {
  case "${1,,}" in true | 1 | yes | on) return 0 ;; false | 0 | no | off | "") return 1 ;; esac
  echo "::error::expected true or false, got '$1'" >&2
  exit 2
}

json_field() { # json_field KEY < JSON
  python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

list_input() { # one item per line of "$1", which may also be comma-separated
  printf '%s\n' "$1" | tr ',' '\n' | while IFS= read -r item; do
    item=$(echo "$item" | xargs)
    if [ -n "$item" ]; then echo "$item"; fi
  done
}

# Tags: one per line or comma-separated; a tag without a registry gets $registry/ prepended.
tags=()
while IFS= read -r tag; do
  first=${tag%%/*}
  if [ -n "$registry" ] && { [ "$first" = "$tag" ] || [[ "$first" != *.* && "$first" != *:* && "$first" != localhost ]]; }; then
    tag="$registry/$tag"
  fi
  tags+=("$tag")
done < <(list_input "${INPUT_TAGS:-}")
if [ "${#tags[@]}" -eq 0 ]; then
  echo "::error::the 'tags' input is empty: give at least one image reference" >&2
  exit 2
fi

registry_flags=()
if is_true "${INPUT_PLAIN_HTTP:-false}"; then registry_flags+=(--plain-http); fi

if [ -n "${INPUT_PASSWORD:-}" ]; then
  # A secret input is masked already; this covers a password passed some other way. The runner
  # consumes the command and never prints it (outside Actions, do not echo the password at all).
  if [ "${GITHUB_ACTIONS:-}" = true ]; then echo "::add-mask::${INPUT_PASSWORD}"; fi
  if [ -z "${INPUT_USERNAME:-}" ]; then
    echo "::error::'password' is set but 'username' is not" >&2
    exit 2
  fi
  # Credentials for this job only: wasmbuild reads them from the environment, nothing is stored.
  export WASMBUILD_USERNAME="$INPUT_USERNAME" WASMBUILD_PASSWORD="$INPUT_PASSWORD"
fi

if [ -n "${INPUT_SIGNING_KEY:-}" ]; then
  if ! is_true "${INPUT_PUSH:-false}"; then
    echo "::error::'signing-key' signs what is pushed: set push: true" >&2
    exit 2
  fi
  # wasmbuild reads the key from this variable (--key env://...), its passphrase from the next:
  # neither is ever an argument, a file or a log line.
  export WASMBUILD_SIGNING_KEY="$INPUT_SIGNING_KEY" WASMBUILD_KEY_PASSPHRASE="${INPUT_SIGNING_KEY_PASSPHRASE:-}"
fi
unset INPUT_SIGNING_KEY INPUT_SIGNING_KEY_PASSPHRASE

# -- the sandbox: host stages run in bubblewrap unless the workflow says `sandbox: false` ------
if ! is_true "${INPUT_SANDBOX:-true}"; then export WASMBUILD_SANDBOX=off; fi

# -- toolchains: what the Wasmfile's stages need, set up where a tool can, else a clear error --
if is_true "${INPUT_SETUP_TOOLCHAINS:-true}"; then
  echo "::group::toolchains the Wasmfile needs"
  rc=0
  "${wb[@]}" toolchains -f "$wasmfile" "$context" --json >"$work/toolchains.json" || rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 4 ]; then # 4: something is missing; else the Wasmfile is wrong
    echo "::endgroup::"
    echo "::error::wasmbuild could not read $wasmfile (exit $rc): see the line above" >&2
    exit "$rc"
  fi
  needed=$(python3 -c 'import json, sys; print(" ".join(t["name"] for t in json.load(open(sys.argv[1]))["toolchains"]))' \
    "$work/toolchains.json")
  # What a folder's set-up commands may use: the Python wasmbuild runs on (its venv) and the
  # source it was installed from (this action's checkout), e.g. to install an extra.
  if [[ "$(basename "${wb[0]}")" == python* ]]; then WASMBUILD_PYTHON=${wb[0]}
  else WASMBUILD_PYTHON="$(dirname "$(command -v "${wb[0]}")")/python"; fi
  WASMBUILD_SOURCE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  export WASMBUILD_PYTHON WASMBUILD_SOURCE
  for name in $needed; do
    case "$name" in
      sandbox)
        # Host steps run in bubblewrap. A stock Ubuntu runner lacks it, and Ubuntu 24.04's
        # AppArmor restricts the unprivileged user namespaces it needs: set both up where we can.
        if ! command -v bwrap >/dev/null && command -v apt-get >/dev/null && sudo -n true 2>/dev/null; then
          sudo -n apt-get install -y -q bubblewrap >/dev/null || true
        fi
        if [ "$(sysctl -n kernel.apparmor_restrict_unprivileged_userns 2>/dev/null)" = 1 ] \
            && sudo -n true 2>/dev/null; then
          sudo -n sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 >/dev/null || true
        fi
        ;;
      *)
        # What the toolchain's recipe folder declares (`toolchain.setup` in its recipe.yaml):
        # rust runs `rustup target add wasm32-wasip1` where rustup is installed; the pip-only
        # toolchains (the ziglang and componentize-py wheels) came with wasmbuild and need none.
        while IFS= read -r command; do
          [ -n "$command" ] || continue
          echo "$name: $command"
          bash -c "$command" || echo "::warning::setting up $name: \`$command\` failed (exit $?)" >&2
        done < <(python3 -c 'import json, sys
for t in json.load(open(sys.argv[1]))["toolchains"]:
    if t["name"] == sys.argv[2]:
        print("\n".join(t.get("setup", [])))' "$work/toolchains.json" "$name")
        ;;
    esac
  done
  if ! "${wb[@]}" toolchains -f "$wasmfile" "$context" >"$work/toolchains.txt" 2>&1; then
    cat "$work/toolchains.txt"
    echo "::endgroup::"
    while IFS= read -r line; do
      case "$line" in
        sandbox*"MISSING: "*)
          echo "::error::wasmbuild: $line" >&2
          echo "::error::or set the action's input sandbox: false to run host stages unconfined" >&2 ;;
        *"MISSING: "*) echo "::error::wasmbuild: $line" >&2 ;;
      esac
    done <"$work/toolchains.txt"
    exit 4
  fi
  cat "$work/toolchains.txt"
  echo "::endgroup::"
fi

# -- build --------------------------------------------------------------------------------------
build_args=(build "$wasmfile" --context "$context" --progress "${INPUT_PROGRESS:-plain}"
  --metadata-file "$work/metadata.json")
for tag in "${tags[@]}"; do build_args+=(-t "$tag"); done
while IFS= read -r ref; do build_args+=(--cache-from "$ref"); done < <(list_input "${INPUT_CACHE_FROM:-}")
if [ -n "${INPUT_CACHE_TO:-}" ]; then build_args+=(--cache-to "$INPUT_CACHE_TO"); fi
if [ -n "${INPUT_CACHE_FROM:-}${INPUT_CACHE_TO:-}" ]; then build_args+=("${registry_flags[@]}"); fi
echo "::group::wasmbuild ${build_args[*]}"
"${wb[@]}" "${build_args[@]}"
echo "::endgroup::"
digest=$(json_field digest <"$work/metadata.json")
name=${tags[0]%@*}
last=${name##*/}
if [[ "$last" == *:* ]]; then name=${name%:*}; fi
image="$name@$digest"

pushed=()
if is_true "${INPUT_PUSH:-false}"; then
  image=""
  for tag in "${tags[@]}"; do
    push_json=$("${wb[@]}" push "$tag" "$tag" --json "${registry_flags[@]}")
    got=$(json_field digest <<<"$push_json")
    if [ "$got" != "$digest" ]; then
      echo "::error::pushed digest $got differs from the built $digest for $tag" >&2
      exit 1
    fi
    reference=$(json_field reference <<<"$push_json")
    echo "pushed $tag as $reference"
    if [ -n "${WASMBUILD_SIGNING_KEY:-}" ]; then # by digest, never a tag
      "${wb[@]}" sign "$reference" --key env://WASMBUILD_SIGNING_KEY "${registry_flags[@]}" </dev/null
    fi
    pushed+=("$reference")
    image=${image:-$reference}
  done
fi

# -- outputs and job summary ---------------------------------------------------------------------
metadata=$(python3 - "$work/metadata.json" "$image" "${pushed[@]}" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
data["image"], data["pushed"] = sys.argv[2], sys.argv[3:]
print(json.dumps(data, sort_keys=True, separators=(",", ":")))
PY
)
{
  echo "digest=$digest"
  echo "image=$image"
  echo "metadata=$metadata"
} >>"${GITHUB_OUTPUT:-/dev/stdout}"

if is_true "${INPUT_SUMMARY:-true}" && [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  python3 - "$metadata" "$wasmfile" >>"$GITHUB_STEP_SUMMARY" <<'PY'
import json, sys
data, wasmfile = json.loads(sys.argv[1]), sys.argv[2]
print(f"### wasmbuild: `{wasmfile}`\n")
print(f"- image: `{data['image']}`")
platform = data.get("platform") or {}
print(f"- digest: `{data['digest']}` ({data['size']:,} bytes, "
      f"{platform.get('os', '?')}/{platform.get('architecture', '?')})")
for ref in data["pushed"]:
    print(f"- pushed: `{ref}`")
if "cache_imported" in data:
    print(f"- stage cache entries imported: {data['cache_imported']}")
stages = data["stages"]
cached = sum(s["cached"] for s in stages)
print(f"\n| stage | result | seconds |\n| --- | --- | ---: |")
for s in stages:
    print(f"| {s['name']} | {'cached' if s['cached'] else 'built'} | {s['seconds']:.1f} |")
print(f"\n{cached} of {len(stages)} stage(s) came from the cache.\n")
PY
fi
