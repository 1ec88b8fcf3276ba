"""Fuzzing what users type besides a Wasmfile: image names and references (``run``, ``push``,
``pull``, ``inspect``), ``-t`` tags, ``-o`` outputs and ``-e`` variables. Anything may be refused,
but only with a :class:`WasmbuildError` (one line, an exit code)."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from wasmbuild import images, reference
from wasmbuild.cli.options import registry_options, sandbox_option
from wasmbuild.errors import WasmbuildError
from wasmbuild.oci.layout import Layout
from wasmbuild.publish import publishers
from wasmbuild.registry.transport import parse_ref
from wasmbuild.runtime.command import parse_env

EXAMPLES = int(os.environ.get("WASMBUILD_FUZZ_EXAMPLES", "800"))
PIECES = ["localhost", ":5000", "/", "//", "@", "sha256:", "0" * 64, ":", "latest", "docker://",
          "oci:", "oci-archive:", "docker-archive:", "..", "UPPER", "a", "-", "_", "__", ".", "[::1]",
          ":99999", ":0", "é", " ", "\n", "\x00", "x" * 130]
NAMES = st.one_of(st.text(max_size=40), st.lists(st.sampled_from(PIECES), max_size=8).map("".join))


def refused_cleanly(fn: object, *args: object) -> None:
    try:
        fn(*args)  # type: ignore[operator]
    except WasmbuildError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=EXAMPLES, deadline=None, database=None)
@given(text=NAMES)
def test_references_and_image_names(text: str) -> None:
    refused_cleanly(reference.parse, text)
    refused_cleanly(parse_ref, text, "pull")
    refused_cleanly(images.registry_ref, text)
    refused_cleanly(parse_env, [text])
    refused_cleanly(sandbox_option, text)
    refused_cleanly(registry_options, False, text)


@settings(max_examples=EXAMPLES // 2, deadline=None, database=None)
@given(names=st.lists(NAMES, max_size=3), outputs=st.lists(NAMES, max_size=2), push=st.lists(NAMES, max_size=2))
def test_tags_and_outputs(names: list[str], outputs: list[str], push: list[str]) -> None:
    refused_cleanly(lambda: publishers(names=names or ["x"], outputs=outputs, push=push))


@settings(max_examples=EXAMPLES // 4, deadline=None, database=None)
@given(text=NAMES)
def test_local_image_lookup(text: str) -> None:
    store = Layout(Path(os.environ["WASMBUILD_STORE"])).init()

    def look() -> None:
        with images.local(text, store):
            pass

    refused_cleanly(look)
