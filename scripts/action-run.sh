#!/usr/bin/env bash
# The GitHub Action's logic (action.yml), runnable locally:
#   INPUT_TAGS=localhost:5000/hello:1 INPUT_PUSH=true INPUT_PLAIN_HTTP=true \
#   GITHUB_OUTPUT=/tmp/out scripts/action-run.sh
# Inputs: INPUT_WASMFILE INPUT_CONTEXT INPUT_TAGS INPUT_PUSH INPUT_REGISTRY INPUT_USERNAME
# INPUT_PASSWORD INPUT_PLAIN_HTTP. Writes digest= and image= to $GITHUB_OUTPUT.
# $WASMBUILD overrides the command (default: wasmbuild).
set -euo pipefail

wasmfile=${INPUT_WASMFILE:-Wasmfile}
context=${INPUT_CONTEXT:-.}
registry=${INPUT_REGISTRY:-}
registry=${registry#https://}
registry=${registry%/}
read -r -a wb <<<"${WASMBUILD:-wasmbuild}"

is_true() {
  case "${1,,}" in true | 1 | yes | on) return 0 ;; false | 0 | no | off | "") return 1 ;; esac
  echo "::error::expected true or false, got '$1'" >&2
  exit 2
}

json_field() { # json_field KEY < JSON
  python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# Tags: one per line or comma-separated; a tag without a registry gets $registry/ prepended.
tags=()
while IFS= read -r tag; do
  tag=$(echo "$tag" | xargs)
  [ -n "$tag" ] || continue
  first=${tag%%/*}
  if [ -n "$registry" ] && { [ "$first" = "$tag" ] || [[ "$first" != *.* && "$first" != *:* && "$first" != localhost ]]; }; then
    tag="$registry/$tag"
  fi
  tags+=("$tag")
done < <(printf '%s\n' "${INPUT_TAGS:-}" | tr ',' '\n')
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

build_args=(build "$wasmfile" --context "$context" --json)
for tag in "${tags[@]}"; do build_args+=(-t "$tag"); done
echo "::group::wasmbuild ${build_args[*]}"
build_json=$("${wb[@]}" "${build_args[@]}")
echo "$build_json"
echo "::endgroup::"
digest=$(json_field digest <<<"$build_json")
name=${tags[0]%@*}
last=${name##*/}
if [[ "$last" == *:* ]]; then name=${name%:*}; fi
image="$name@$digest"

if is_true "${INPUT_PUSH:-false}"; then
  image=""
  for tag in "${tags[@]}"; do
    push_json=$("${wb[@]}" push "$tag" "$tag" --json "${registry_flags[@]}")
    pushed=$(json_field digest <<<"$push_json")
    if [ "$pushed" != "$digest" ]; then
      echo "::error::pushed digest $pushed differs from the built $digest for $tag" >&2
      exit 1
    fi
    reference=$(json_field reference <<<"$push_json")
    echo "pushed $tag as $reference"
    image=${image:-$reference}
  done
fi

{
  echo "digest=$digest"
  echo "image=$image"
} >>"${GITHUB_OUTPUT:-/dev/stdout}"
