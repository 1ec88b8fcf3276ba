"""``wasmbuild`` with a stand-in ``build`` (a fixed test image), for testing the Action's script
before the real build command is on this branch. Every other command is the real one."""

from __future__ import annotations

import json
import os
import sys

from tests.integration.cli_app import main
from tests.integration.images import hello_files, make_image
from wasmbuild.oci.layout import Layout
from wasmbuild.store import normalize_tag


def fake_build(args: list[str]) -> int:
    tags = [args[i + 1] for i, a in enumerate(args) if a in ("-t", "--tag")]
    store = Layout(os.environ["WASMBUILD_STORE"]).init()
    desc = make_image(store, [hello_files(b"from the action")])
    for tag in tags:
        store.tag(normalize_tag(tag), desc)
    print(json.dumps({"digest": desc.digest, "tags": [normalize_tag(t) for t in tags]}))
    return 0


if __name__ == "__main__":
    argv = sys.argv[1:]
    sys.exit(fake_build(argv[1:]) if argv[:1] == ["build"] else main(argv))
