"""Python dependencies (issue 20): the `pypi:NAME==VERSION` input form, the pinned requirements
file parser, and the python-component / cpython-wasi recipes turning it into inputs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from wasmbuild.errors import ConfigError
from wasmbuild.load.packages import download_name, download_purl, pypi_package
from wasmbuild.pipeline import prepare
from wasmbuild.render.project import StageSpec
from wasmbuild.render.requirements import Requirement, parse

SIX = "4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274"
IDNA = "946d195a0d259cbba61165e88e65941f16e9b36ea6ddb97f00452bae8b1287d3"


def test_the_pypi_form_names_a_package_and_an_exact_version() -> None:
    assert pypi_package("pypi:six==1.17.0") == ("six", "1.17.0")
    assert pypi_package("pypi:Typing_Extensions==4.12.2") == ("typing-extensions", "4.12.2")  # PEP 503
    assert pypi_package("pypi:pkg==1!2.0rc1") == ("pkg", "1!2.0rc1")
    assert download_name("pypi:Typing_Extensions==4.12.2") == "typing_extensions-4.12.2-py3-none-any.whl"
    assert download_purl("pypi:Typing.Extensions==4.12.2") == "pkg:pypi/typing-extensions@4.12.2"
    for loose in ("pypi:six", "pypi:six>=1.0", "pypi:six==1.*", "pypi:six==", "pypi:-six==1.0", "pypi:six==1.0."):
        assert pypi_package(loose) is None, loose


def test_a_loose_pypi_version_is_refused_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "Wasmfile").write_text(textwrap.dedent(f"""\
        wasmfile: 1
        stages:
          a:
            inputs:
              - {{url: "pypi:six>=1.0", sha256: {SIX}}}
            steps: ["true"]
            outputs: []
        """))
    with pytest.raises(ConfigError, match=r"Wasmfile:5: .*pypi:NAME==VERSION. with an exact version"):
        prepare(tmp_path / "Wasmfile")


def test_the_parser_takes_pips_require_hashes_form() -> None:
    text = textwrap.dedent(f"""\
        # pinned with pip download + sha256sum

        six==1.17.0 --hash=sha256:{SIX}  # a trailing comment
        IDNA==3.10 \\
            --hash sha256:{IDNA.upper()}
        """)
    assert parse(text, "requirements.txt") == [Requirement("six", "1.17.0", (SIX,), 3),
                                               Requirement("idna", "3.10", (IDNA,), 4)]
    assert parse("", "r.txt") == [] and parse("# nothing\n\n", "r.txt") == []


@pytest.mark.parametrize(("line", "message"), [
    ("six==1.17.0", r"six==1\.17\.0 has no --hash=sha256:"),
    (f"six>=1.0 --hash=sha256:{SIX}", r"six>=1\.0 is not pinned to one version with =="),
    (f"six --hash=sha256:{SIX}", r"six is not pinned to one version with =="),
    (f"six==1.17.0 --hash=md5:{'ab' * 16}", r"--hash=md5:.* is not a sha256 hash option"),
    ("-r other.txt", r"-r is not supported"),
    ("--index-url https://example.test/simple", r"--index-url is not supported"),
    (f"six==1.17.0; python_version < '3' --hash=sha256:{SIX}", r"markers and direct URLs are not supported"),
    (f"six[extra]==1.17.0 --hash=sha256:{SIX}", r"extras, markers and direct URLs are not supported"),
])
def test_a_bad_line_is_one_error_at_its_line(line: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse(f"# header\n\n{line}\n", "app/requirements.txt")
    assert info.value.where == "app/requirements.txt:3"
    assert "\n" not in str(info.value)


def test_several_hashes_per_line_are_the_set_pip_accepts() -> None:
    # what `pip-compile --generate-hashes` / `uv pip compile --generate-hashes` write: every
    # file of the release (wheels and the sdist) on one line, in no particular order
    sdist = "06c2f5ad1fb2b1e4dca8df1f2ee4e1e6c4e8f7a0a1d2f6c9b2d4e1f3a5c7b9d1"
    text = textwrap.dedent(f"""\
        six==1.17.0 \\
            --hash=sha256:{sdist} \\
            --hash=sha256:{SIX} \\
            --hash=sha256:{SIX.upper()}
            # via -r requirements.in
        """)
    [req] = parse(text, "requirements.txt")
    assert req.hashes == tuple(sorted({SIX, sdist}))  # sorted, no repeats: the key is the set's
    reordered = f"six==1.17.0 --hash=sha256:{SIX} --hash=sha256:{sdist}\n"
    assert parse(reordered, "r.txt")[0].hashes == req.hashes


def test_a_package_listed_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"six is listed twice \(also at line 1\)"):
        parse(f"six==1.17.0 --hash=sha256:{SIX}\nSix==1.16.0 --hash=sha256:{IDNA}\n", "r.txt")


def stage(tmp_path: Path, recipe: str, params: str, output: str, requirements: str) -> StageSpec:
    (tmp_path / "app").mkdir(exist_ok=True)
    (tmp_path / "app" / "main.py").write_text("import six\n")
    (tmp_path / "requirements.txt").write_text(requirements)
    (tmp_path / "Wasmfile").write_text(
        f"wasmfile: 1\nstages:\n  s:\n    recipe: {recipe}\n    with: {{{params}}}\n"
        f"image:\n  files: [{{from: s, path: {output}, dest: /{output}}}]\n  entrypoint: [{output}]\n")
    return prepare(tmp_path / "Wasmfile").project.stages["s"]


def test_python_component_fetches_each_requirement_and_hashes_the_file(tmp_path: Path) -> None:
    spec = stage(tmp_path, "python-component", "app: app, module: main, requirements: requirements.txt",
                 "app.wasm", f"six==1.17.0 --hash=sha256:{SIX}\nidna==3.10 --hash=sha256:{IDNA}\n")
    assert [i.src for i in spec.inputs if i.src] == ["app", "requirements.txt"]  # its edit reruns the stage
    assert [(i.url, i.sha256, i.dest) for i in spec.inputs if i.url] == [
        ("pypi:six==1.17.0", SIX, "wheels/six-1.17.0-py3-none-any.whl"),
        ("pypi:idna==3.10", IDNA, "wheels/idna-3.10-py3-none-any.whl")]
    assert spec.env == {"PY_VERSION": "3.14"}  # componentize-py's CPython: the wheels' markers are for it
    [step] = spec.steps
    assert '--wheel "$SRC"/wheels/six-1.17.0-py3-none-any.whl --wheel "$SRC"/wheels/idna-3.10-py3-none-any.whl' in step


def test_a_line_with_several_hashes_is_one_input_accepting_any(tmp_path: Path) -> None:
    spec = stage(tmp_path, "python-component", "app: app, module: main, requirements: requirements.txt",
                 "app.wasm", f"six==1.17.0 --hash=sha256:{SIX} --hash=sha256:{IDNA}\n")
    [wheel] = [i for i in spec.inputs if i.url]
    assert wheel.sha256 == sorted([SIX, IDNA]) and wheel.pin.candidates == tuple(sorted([SIX, IDNA]))
    assert wheel.dest == "wheels/six-1.17.0-py3-none-any.whl"


def test_without_requirements_python_component_takes_no_wheel(tmp_path: Path) -> None:
    spec = stage(tmp_path, "python-component", "app: app, module: main", "app.wasm", "")
    assert [i.src for i in spec.inputs] == ["app"] and "--wheel" not in spec.steps[0] and spec.env == {}


def test_a_bad_requirement_is_reported_at_the_requirements_files_line(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        stage(tmp_path, "python-component", "app: app, module: main, requirements: requirements.txt",
              "app.wasm", f"six==1.17.0 --hash=sha256:{SIX}\n\nidna>=3 --hash=sha256:{IDNA}\n")
    assert "requirements.txt:3: stage 's': idna>=3 is not pinned to one version with ==" in str(info.value)


def test_a_missing_requirements_file_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text("")
    (tmp_path / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  s:\n    recipe: python-component\n"
        "    with: {app: app, module: main, requirements: nope.txt}\n")
    with pytest.raises(ConfigError, match=r"requirements file 'nope.txt' does not exist in the build context"):
        prepare(tmp_path / "Wasmfile", target="s")


def test_cpython_wasi_puts_the_wheels_in_its_inputs_and_keeps_site(tmp_path: Path) -> None:
    spec = stage(tmp_path, "cpython-wasi", "stdlib: [json], requirements: requirements.txt", "python3.wasm",
                 f"six==1.17.0 --hash=sha256:{SIX}\n")
    assert "requirements.txt" in [i.src for i in spec.inputs]
    assert [(i.url, i.dest) for i in spec.inputs if i.url and i.url.startswith("pypi:")] == [
        ("pypi:six==1.17.0", "wheels/six-1.17.0-py3-none-any.whl")]
    assert spec.env["STDLIB"] == "json site"  # site adds the site-packages the wheels go to
    assert 'SITE="$OUT/usr/local/lib/python$MAJMIN/site-packages"' in spec.steps[-1]
