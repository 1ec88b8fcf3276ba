#!/usr/bin/env python3
"""The SBOM check's cost: wasmbuild's one-pass ``check_spdx`` against ``spdx-tools``' validator
on the SBOM of the P1b context (a Python stdlib folder of ~736 files), in one process.

    .venv/bin/python benchmarks/sbom_check.py [--stdlib /usr/lib/python3.11] [--repeat 3]

Builds the image in-process into a temporary store (no stages), reads its SPDX document back,
then times each checker (median of --repeat) and says whether both find it valid. spdx-tools is
a test dependency (``pip install -e .[test]``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stdlib", type=Path, default=Path("/usr/lib/python3.11"))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import os

    from wasmbuild.attest.sbom import check_spdx
    from wasmbuild.oci.layout import Layout
    from wasmbuild.oci.referrers import ARTIFACT_SPDX, document_bytes, referrers
    from wasmbuild.pipeline import BuildOptions, build, prepare

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["WASMBUILD_CACHE"] = str(work / "cache")
        ctx = work / "ctx"
        shutil.copytree(args.stdlib, ctx / "lib", ignore=lambda d, names: [
            n for n in names if n == "__pycache__" or os.path.islink(os.path.join(d, n))])
        (ctx / "app.wasm").write_bytes(bytes.fromhex("0061736d0100000001040160000003020100070a01065f7374617274"
                                                     "00000a040102000b"))
        (ctx / "Wasmfile").write_text("wasmfile: 1\nimage:\n  files:\n    - {src: app.wasm, dest: /app.wasm}\n"
                                      "    - {src: lib, dest: /usr/lib/python}\n  entrypoint: [/app.wasm]\n")
        store = Layout(work / "store").init()
        built = build(prepare(ctx), BuildOptions(store=store))
        [desc] = referrers(store, built.digest, ARTIFACT_SPDX)
        doc = json.loads(document_bytes(store.read_blob, store.read_json(desc.digest)))

        def timed(check: object) -> tuple[float, list[str]]:
            runs, found = [], []
            for _ in range(args.repeat):
                start = time.perf_counter()
                found = check(doc)  # type: ignore[operator]
                runs.append(time.perf_counter() - start)
            return statistics.median(runs), found

        def spdx_tools(document: dict[str, object]) -> list[str]:
            from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
            from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

            parsed = JsonLikeDictParser().parse(document)  # type: ignore[no-untyped-call]
            return [m.validation_message for m in validate_full_spdx_document(parsed)]

        ours, ours_found = timed(check_spdx)
        theirs, theirs_found = timed(spdx_tools)
        elements = len(doc.get("packages", [])) + len(doc.get("files", []))
        print(f"SBOM of {elements} elements, {len(doc.get('relationships', []))} relationships")
        print(f"check_spdx (one pass):  {ours * 1000:8.1f} ms  problems: {len(ours_found)}")
        print(f"spdx-tools validator:   {theirs * 1000:8.1f} ms  problems: {len(theirs_found)}")
        print(f"ratio: {theirs / ours:.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
