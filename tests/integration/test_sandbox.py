"""Host stages run in a bubblewrap sandbox: they cannot write outside $OUT/$WORK, read the
user's keys and credentials, or reach the network, and the toolchains still work inside (the
example, a cargo crate and a C module build to the same digests as before the sandbox)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, Runner
from tests.integration.registry_fixtures import require
from tests.support import one_line
from wasmbuild.execute.executors import StageJob, run_job
from wasmbuild.execute.executors.host import HostExecutor
from wasmbuild.execute.toolchains import Toolchain
from wasmbuild.oci.layout import Layout

pytestmark = pytest.mark.integration

# Built with Debian 12's rustc 1.63 / clang 16 (SOURCE_DATE_EPOCH unset), layers gzip:6 from the
# pinned zlib-ng: the sandbox must not change a byte (the test also builds each unconfined and
# compares). Wasmfile.example's is test_core.GOLDEN_DIGEST.
CARGO_DIGEST = "sha256:7e0d579f7c87b7d43e67c41f299b596821076c32b36c8c6d576ab56e14825e27"
C_DIGEST = "sha256:164f0df55a1a1f8a1e9135c4b4aea9d07f704bc77f532c39da6805d5e91f0b3c"


@pytest.fixture(autouse=True)
def bwrap() -> str:
    return require("bwrap")


@pytest.fixture
def home() -> Iterator[Path]:
    """A user's home with an SSH key and registry credentials, outside /tmp (which the sandbox
    hides anyway): only hiding $HOME keeps these secret."""
    root = Path(tempfile.mkdtemp(prefix="wb-home-", dir="/var/tmp"))
    (root / ".ssh").mkdir()
    (root / ".ssh" / "id_ed25519").write_text("PRIVATE KEY\n")
    (root / ".docker").mkdir()
    (root / ".docker" / "config.json").write_text('{"auths": {"r.example": {"auth": "c2VjcmV0"}}}\n')
    yield root
    shutil.rmtree(root, ignore_errors=True)


def stage_wasmfile(tmp_path: Path, steps: list[str], *, network: bool = False) -> Path:
    """A one-stage project whose image is the golden module plus the stage's report."""
    shutil.copy(REPO / "tests/fixtures/golden/hello.wasm", tmp_path / "app.wasm")
    (tmp_path / "input.txt").write_text("input\n")
    lines = ["wasmfile: 1", "stages:", "  probe:", "    inputs: [input.txt]",
             f"    network: {'true' if network else 'false'}", "    steps:"]
    lines += [f"      - {json.dumps(step)}" for step in steps]
    lines += ["    outputs: [report.txt]", "image:", "  files:",
              "    - {src: app.wasm, dest: /app.wasm}",
              "    - {from: probe, path: report.txt, dest: /report.txt}",
              "  entrypoint: [app.wasm]"]
    (tmp_path / "Wasmfile").write_text("\n".join(lines) + "\n")
    return tmp_path / "Wasmfile"


def report(wb: Runner, wasmfile: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """Build, then read report.txt (``name=value`` lines) back out of the image."""
    out = wasmfile.parent / "layout"
    proc = wb("build", str(wasmfile), "-o", f"oci:{out}", *args, env=env)
    assert proc.returncode == 0, proc.stderr
    layout = Layout(out)
    _desc, manifest = layout.image(layout.resolve(None))  # the image (not its SBOM's referrers list)
    import gzip
    import io
    import tarfile

    layer = (out / "blobs/sha256" / manifest["layers"][0]["digest"][7:]).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:
        member = tar.extractfile("report.txt")
        assert member is not None
        text = member.read().decode()
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def attempt(name: str, command: str) -> str:
    """A step that records whether ``command`` succeeded, without failing the stage."""
    return f'if ({command}) >/dev/null 2>&1; then echo {name}=yes; else echo {name}=no; fi >> "$OUT/report.txt"'


def test_a_host_stage_cannot_write_outside_out_and_work(wb: Runner) -> None:
    # Outside /tmp, which the sandbox replaces: the context and the victim are really there.
    victim = Path(tempfile.mkdtemp(prefix="wb-victim-", dir="/var/tmp"))
    tmp_path = Path(tempfile.mkdtemp(prefix="wb-project-", dir="/var/tmp"))
    try:
        steps = [
            'echo start > "$OUT/report.txt"',
            attempt("tmp", "echo pwned > /tmp/wb-pwned && test -s /tmp/wb-pwned"),
            attempt("victim", f"echo pwned > {victim}/pwned"),
            attempt("context", f"echo pwned > {tmp_path}/pwned"),
            attempt("src", 'echo pwned > "$SRC/input.txt"'),
            attempt("etc", "echo pwned > /etc/wb-pwned"),
            attempt("work", 'echo ok > "$WORK/scratch" && test -s "$HOME/scratch"'),
        ]
        got = report(wb, stage_wasmfile(tmp_path, steps))
        assert got == {"tmp": "yes", "victim": "no", "context": "no", "src": "no", "etc": "no",
                       "work": "yes"}
        assert not Path("/tmp/wb-pwned").exists()  # its /tmp is private
        assert list(victim.iterdir()) == [] and not (tmp_path / "pwned").exists()
        assert (tmp_path / "input.txt").read_text() == "input\n"
        assert not Path("/etc/wb-pwned").exists()
        # The test can fail: unconfined, the same step writes where it likes.
        loose = report(wb, stage_wasmfile(tmp_path, steps[:3]), "--sandbox=off", "--no-cache")
        assert loose["victim"] == "yes" and (victim / "pwned").is_file()
    finally:
        shutil.rmtree(victim, ignore_errors=True)
        shutil.rmtree(tmp_path, ignore_errors=True)
        Path("/tmp/wb-pwned").unlink(missing_ok=True)


def test_a_host_stage_cannot_read_the_users_keys_or_credentials(
        wb: Runner, tmp_path: Path, home: Path) -> None:
    steps = ['echo start > "$OUT/report.txt"',
             attempt("ssh", f"cat {home}/.ssh/id_ed25519"),
             attempt("docker", f"cat {home}/.docker/config.json"),
             attempt("listing", f"ls {home}/.ssh"),
             attempt("root", "ls /root/.ssh || cat /root/.docker/config.json")]
    wasmfile = stage_wasmfile(tmp_path, steps)
    got = report(wb, wasmfile, env={"HOME": str(home)})
    assert got == {"ssh": "no", "docker": "no", "listing": "no", "root": "no"}
    loose = wb("build", str(wasmfile), "--sandbox=off", "--no-cache", "--json", env={"HOME": str(home)})
    assert loose.returncode == 0 and "warning: --sandbox=off: host stages run unconfined" in loose.stderr
    assert report(wb, wasmfile, "--sandbox=off", "--no-cache", env={"HOME": str(home)})["ssh"] == "yes"


def test_a_host_stage_reaches_no_network_unless_it_declares_it(
        wb: Runner, tmp_path: Path, listener: int) -> None:
    connect = f"bash -c 'exec 3<>/dev/tcp/127.0.0.1/{listener} && head -n1 <&3'"
    steps = ['echo start > "$OUT/report.txt"', attempt("net", connect)]
    assert report(wb, stage_wasmfile(tmp_path, steps))["net"] == "no"
    assert report(wb, stage_wasmfile(tmp_path, steps, network=True))["net"] == "yes"


def test_without_a_working_bwrap_the_build_says_so(wb: Runner, tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "bwrap"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    wasmfile = stage_wasmfile(tmp_path, ['echo x=1 > "$OUT/report.txt"'])
    proc = wb("build", str(wasmfile), env={"WASMBUILD_BWRAP": str(fake)})
    one_line(proc, 4, "bubblewrap sandbox", "No permissions to create new namespace", "--sandbox=off")
    missing = wb("build", str(wasmfile), env={"WASMBUILD_BWRAP": str(tmp_path / "nope")})
    one_line(missing, 4, "bubblewrap sandbox", "--sandbox=off")
    off = wb("build", str(wasmfile), env={"WASMBUILD_BWRAP": str(fake), "WASMBUILD_SANDBOX": "off"})
    assert off.returncode == 0 and "warning: --sandbox=off" in off.stderr
    bad = wb("build", str(wasmfile), "--sandbox=maybe")
    one_line(bad, 2, "--sandbox expects on or off")


def test_cargo_and_c_build_inside_the_sandbox_with_unchanged_digests(wb: Runner, tmp_path: Path) -> None:
    crate = tmp_path / "cargo" / "greeter"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text('[package]\nname = "greeter"\nversion = "0.1.0"\nedition = "2021"\n')
    (crate / "src" / "main.rs").write_text('fn main() { println!("Hello from a crate"); }\n')
    (tmp_path / "cargo" / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  app:\n    recipe: rust\n    with: {crate: greeter, output: greeter.wasm}\n"
        "image:\n  files: [{from: app, path: greeter.wasm, dest: /greeter.wasm}]\n"
        "  entrypoint: [greeter.wasm]\n  tags: [greeter]\n")
    (tmp_path / "c").mkdir()
    shutil.copy(REPO / "examples/hello-c/hello.c", tmp_path / "c" / "hello.c")
    (tmp_path / "c" / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  env-c:\n    recipe: c\n    with: {sources: [hello.c], output: env.wasm}\n"
        "image:\n  files: [{from: env-c, path: env.wasm, dest: /env.wasm}]\n  entrypoint: [env.wasm]\n")
    digests, unconfined = {}, {}
    for name in ("cargo", "c"):
        proc = wb("build", str(tmp_path / name / "Wasmfile"), "--json")
        assert proc.returncode == 0, proc.stderr
        digests[name] = json.loads(proc.stdout)["digest"]
        loose = wb("build", str(tmp_path / name / "Wasmfile"), "--json", "--sandbox=off", "--no-cache")
        assert loose.returncode == 0, loose.stderr
        unconfined[name] = json.loads(loose.stdout)["digest"]
    assert digests == unconfined  # the sandbox changes nothing in the bytes
    assert digests == {"cargo": CARGO_DIGEST, "c": C_DIGEST}
    assert not (crate / "Cargo.lock").exists()  # cargo wrote its lock file in $WORK's copy
    run = wb("run", "greeter")
    assert run.returncode == 0 and run.stdout == "Hello from a crate\n"


def test_a_toolchain_in_a_venv_under_the_home_is_readable(
        tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tool installed in a venv under the user's home (zig, componentize-py) runs inside,
    read-only, while the rest of the home stays hidden."""
    import venv

    venv.create(home / "venv", with_pip=False, symlinks=True)
    python = home / "venv" / "bin" / "python3"
    assert python.exists()
    monkeypatch.setenv("HOME", str(home))
    tool = Toolchain("tool", {"TOOL": str(python)}, (str(python.parent),), "tool=venv")
    src, out, work = tmp_path / "src", tmp_path / "out", tmp_path / "work"
    for d in (src, out, work):
        d.mkdir()
    job = StageJob(name="t", steps=(
        '"$TOOL" -c "import sys; print(sys.prefix)" > "$OUT/prefix"',
        f'if cat {home}/.ssh/id_ed25519; then exit 1; fi',
        f'if touch {home}/venv/pwned; then exit 1; fi',
    ), env={}, src=src, out=out, work=work, toolchain=tool)
    run_job(HostExecutor(), job, lambda line: None)
    assert (out / "prefix").read_text().strip() == str(home / "venv")
    assert not (home / "venv" / "pwned").exists()


def test_the_sandbox_mounts(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wasmbuild.execute.executors import sandbox

    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("WASMBUILD_SANDBOX_RO", f"{home}/tools")
    (home / "tools").mkdir()
    tool = Toolchain("c", {"CC": "/usr/bin/clang", "COMPILER_PATH": str(tmp_path / "shims"),
                           "NOT_THE_HOME": str(home)}, ("/usr/bin",), "cc")
    (tmp_path / "shims").mkdir()
    job = StageJob(name="t", steps=(), env={}, src=tmp_path / "s", out=tmp_path / "o",
                   work=tmp_path / "w", toolchain=tool)
    real = os.path.realpath
    hidden = sorted({"/home", "/root", "/run", "/tmp", real(home)})
    assert sandbox.mounts(job) == [
        "ro /", "dev /dev", "proc /proc",
        *[f"tmpfs {d}" for d in hidden if os.path.isdir(d)],
        *sorted([f"ro {real(home / 'tools')}", f"ro {real(tmp_path / 'shims')}"]),  # shown again
        f"ro {real(tmp_path / 's')}", f"rw {real(tmp_path / 'w')}", f"rw {real(tmp_path / 'o')}",
        f"chdir {real(tmp_path / 'w')}",
    ]
    assert sandbox.argv("bwrap", job, ["true"])[1:6] == [
        "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    networked = StageJob(name="t", steps=(), env={}, src=tmp_path / "s", out=tmp_path / "o",
                         work=tmp_path / "w", network=True)
    assert "--share-net" in sandbox.argv("bwrap", networked, ["true"])


def test_target_builds_are_sandboxed_too_and_honour_sandbox_off(wb: Runner) -> None:
    """`--target STAGE` runs the same stages as a full build: in the sandbox, unless turned off."""
    victim = Path(tempfile.mkdtemp(prefix="wb-victim-", dir="/var/tmp"))
    tmp_path = Path(tempfile.mkdtemp(prefix="wb-project-", dir="/var/tmp"))
    try:
        wasmfile = stage_wasmfile(tmp_path, ['echo start > "$OUT/report.txt"',
                                             f"echo pwned > {victim}/pwned || true"])
        out = tmp_path / "exported"
        proc = wb("build", str(wasmfile), "--target", "probe", "-o", f"local:{out}")
        assert proc.returncode == 0, proc.stderr
        assert (out / "report.txt").read_text() == "start\n" and list(victim.iterdir()) == []
        loose = wb("build", str(wasmfile), "--target", "probe", "--sandbox=off", "--no-cache")
        assert loose.returncode == 0, loose.stderr
        assert "warning: --sandbox=off" in loose.stderr
        assert (victim / "pwned").read_text() == "pwned\n"  # unconfined: it could
    finally:
        shutil.rmtree(victim, ignore_errors=True)
        shutil.rmtree(tmp_path, ignore_errors=True)
