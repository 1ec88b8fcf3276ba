"""The cross environment of a C/C++ toolchain, like wasi-sdk's: what build systems read (the
``c`` folder's code, used by the ``c``, ``cxx`` and ``zig`` toolchains).

A ``c``, ``cxx`` or ``zig`` stage gets, besides ``$WASM_TARGET`` (and clang's ``$WASI_SYSROOT``):

* ``CC`` / ``CXX``: wrapper scripts that always compile for WASI (the target and the sysroot
  are in the wrapper, as wasi-sdk's clang has them built in), so ``make CC="$CC"`` works even
  when a Makefile sets its own ``CFLAGS``; ``AR``, ``RANLIB``, ``NM``, ``STRIP`` (llvm's next to
  clang; ``zig ar`` / ``zig ranlib`` for zig, llvm's ``nm``/``strip`` when installed);
* ``CFLAGS`` / ``CXXFLAGS`` / ``LDFLAGS`` carrying the target and sysroot (libc++'s headers and
  ``-fno-exceptions`` for C++; zig's ``-Wl,--strip-debug``) for tools that call the compiler
  themselves; ``WASI_HOST`` for ``./configure --host``;
* with clang, ``-isystem`` of a directory of headers wasi-libc does not have (:data:`MISSING`:
  ``setjmp.h``, ``pthread.h``, ``sys/wait.h``...), each an ``#error`` saying what WASI lacks and
  what to do, as wasi-libc's own ``signal.h`` does: Debian's sysroot is ``/usr``, so without them
  clang falls through to glibc's ``/usr/include`` and fails deep inside it (``bits/setjmp.h``
  not found); generated only for the headers the sysroot lacks;
* ``CMAKE_TOOLCHAIN_FILE`` (``CMAKE_SYSTEM_NAME`` ``WASI``, with a ``Platform/WASI.cmake`` that
  sets ``WASI``, as wasi-sdk's) and ``MESON_CROSS_FILE`` (``meson setup --cross-file``).

The files live in one directory of the ``toolchains`` cache area named by the hash of their
content (:func:`materialize`), written whole and renamed into place: concurrent builds write
the same bytes or find them there. The sandbox shows the directory read-only (a toolchain
variable names a file in it). :data:`CROSS_REVISION` is part of the toolchain identity, so a
change to what is generated here changes the stage keys.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
from pathlib import Path

from wasmbuild.dirs import cache_area
from wasmbuild.fsutil import staged_dir

#: Bumped when the generated files or variables change meaning (it enters the identity).
CROSS_REVISION = 3

#: Variables this module adds or replaces (documented in docs/c-projects.md).
VARIABLES = ("CC", "CXX", "AR", "RANLIB", "NM", "STRIP", "CFLAGS", "CXXFLAGS", "LDFLAGS",
             "WASI_HOST", "CMAKE_TOOLCHAIN_FILE", "MESON_CROSS_FILE")

_LLVM_TOOLS = {"AR": "llvm-ar", "RANLIB": "llvm-ranlib", "NM": "llvm-nm", "STRIP": "llvm-strip"}


#: Headers of POSIX a C program may include that wasi-libc lacks, and what WASI lacks then.
MISSING = {
    "setjmp.h": "setjmp/longjmp: this wasi-libc has none (a newer wasi-libc's needs the Wasm "
                "exception-handling proposal: -mllvm -wasm-enable-sjlj -lsetjmp and a runtime with "
                "exceptions); rework the code without setjmp/longjmp",
    "pthread.h": "threads: the wasm32-wasi target has no pthreads (wasi-libc's threads need the "
                 "wasm32-wasi-threads target and a runtime with wasi-threads); build without threads",
    "sys/wait.h": "processes: WASI cannot fork, exec or wait for a child process; build without it",
    "spawn.h": "processes: WASI cannot spawn a child process (posix_spawn); build without it",
    "dlfcn.h": "dynamic loading: WASI has no dlopen/dlsym; link statically",
    "ucontext.h": "ucontext: WASI has no getcontext/swapcontext (no stack switching)",
    "termios.h": "terminals: WASI has no termios (tcgetattr, raw mode)",
    "pwd.h": "users: WASI has no user database (getpwnam, getpwuid)",
    "grp.h": "groups: WASI has no group database (getgrnam, getgrgid)",
    "netdb.h": "name resolution: WASI preview 1 has no getaddrinfo/gethostbyname",
    "sys/shm.h": "shared memory: WASI has no System V IPC (shmget)",
    "sys/ipc.h": "System V IPC: WASI has none (ftok, msgget, semget, shmget)",
}


#: wasi-libc's emulation libraries: (the define their header wants, the symbols they define).
EMULATED = {
    "wasi-emulated-signal": ("_WASI_EMULATED_SIGNAL", ("signal", "raise", "bsd_signal", "psignal",
                                                       "strsignal", "__sysv_signal")),
    "wasi-emulated-process-clocks": ("_WASI_EMULATED_PROCESS_CLOCKS", ("times", "clock", "getrusage")),
    "wasi-emulated-mman": ("_WASI_EMULATED_MMAN", ("mmap", "munmap")),
    "wasi-emulated-getpid": ("_WASI_EMULATED_GETPID", ("getpid",)),
}


def _telling_wrapper(argv: list[str]) -> str:
    """:func:`_wrapper` for clang that, when a link fails on a symbol of one of wasi-libc's
    emulation libraries, first says which library and define it needs (one ``error:`` line, the
    one wasmbuild reports) and then shows the compiler's output as it was. stderr is held until
    the compiler exits; stdout is passed straight through."""
    cmd = " ".join(shlex.quote(a) for a in argv)
    cases = "".join(
        f'    {"|".join(symbols)}) echo "wasmbuild: error: \\`$s\\` is in wasi-libc\'s emulation library '
        f'(WASI has no such call): compile with -D{define} and link with -l{lib}" >&2;;\n'
        for lib, (define, symbols) in EMULATED.items())
    return ("#!/bin/sh\n"
            f'{{ err=$({cmd} "$@" 2>&1 1>&3 3>&-); rc=$?; }} 3>&1\n'
            'if [ "$rc" -ne 0 ]; then\n'
            '  for s in $(printf \'%s\\n\' "$err" |\n'
            '      sed -n \'s/.*undefined symbol: \\([A-Za-z0-9_]*\\).*/\\1/p\' | sort -u); do\n'
            '    case $s in\n'
            f"{cases}"
            "    esac\n"
            "  done\n"
            "fi\n"
            '[ -z "$err" ] || printf \'%s\\n\' "$err" >&2\n'
            'exit "$rc"\n')


def _missing_headers(root: str, target: str) -> dict[str, tuple[str, int]]:
    """``missing/HEADER`` stubs for the :data:`MISSING` headers the sysroot lacks."""
    have = Path(root) / "include" / target
    return {f"missing/{h}": (f"/* wasmbuild: wasi-libc has no <{h}> (recipes/c/cross.py) */\n"
                             f'#error "<{h}> {why}"\n', 0o644)
            for h, why in sorted(MISSING.items()) if not (have / h).is_file()}


def _llvm_tool(tool: str, compiler: str | None) -> str | None:
    """llvm's ``tool`` from the compiler's own installation (``clang-16`` -> ``llvm-ar-16`` or
    the ``llvm-ar`` next to the real binary), else the newest one on PATH."""
    candidates: list[Path] = []
    if compiler:
        candidates.append(Path(os.path.realpath(compiler)).parent / tool)
        _, dash, version = Path(compiler).name.partition("-")
        if dash and version.isdigit():
            candidates.append(Path(compiler).parent / f"{tool}-{version}")
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    for name in (tool, *(f"{tool}-{v}" for v in range(21, 13, -1))):
        found = shutil.which(name)
        if found:
            return found
    return None


def _wrapper(argv: list[str], strip_debug: bool = False) -> str:
    """A POSIX sh script running ``argv`` then the caller's arguments.

    ``strip_debug`` (zig): links get ``-Wl,--strip-debug`` (zig's wasi-libc objects carry debug
    info naming the wheel's install path); compile-only calls do not (an unused linker flag
    would warn, and ``-Werror`` projects fail on warnings)."""
    cmd = " ".join(shlex.quote(a) for a in argv)
    if not strip_debug:
        return f'#!/bin/sh\nexec {cmd} "$@"\n'
    return ("#!/bin/sh\nlink=-Wl,--strip-debug\n"
            'for a in "$@"; do case $a in -c|-S|-E|-M|-MM) link=;; esac; done\n'
            f'exec {cmd} $link "$@"\n')


#: GNU ld options meson 1.0 passes to any lld-like linker that wasm-ld rejects; each is
#: meaningless for wasm-ld (it resolves archives in any order, fails on undefined symbols by
#: default, and links no shared libraries), so meson's compiler wrapper drops them.
MESON_DROPPED = ("-Wl,--as-needed", "-Wl,--no-undefined", "-Wl,--start-group", "-Wl,--end-group",
                 "-Wl,--allow-shlib-undefined")


def _dropping(compiler: str) -> str:
    cases = "|".join(MESON_DROPPED)
    return ('#!/bin/sh\n# wasmbuild: the compiler for meson, without the GNU ld options wasm-ld rejects\n'
            f'for a in "$@"; do shift; case $a in {cases}) continue;; esac; set -- "$@" "$a"; done\n'
            f'exec {shlex.quote(compiler)} "$@"\n')


def _cmake(env: dict[str, str], share: str) -> str:
    target = env["WASM_TARGET"]
    lines = [
        "# wasmbuild: cross-compiling for WASI (generated; like wasi-sdk's wasi-sdk.cmake)",
        "set(CMAKE_SYSTEM_NAME WASI)",
        "set(CMAKE_SYSTEM_VERSION 1)",
        "set(CMAKE_SYSTEM_PROCESSOR wasm32)",
        f'list(APPEND CMAKE_MODULE_PATH "{share}")',
        f'set(CMAKE_C_COMPILER "{env["CC"]}")',
        f'set(CMAKE_CXX_COMPILER "{env["CXX"]}")',
        f'set(CMAKE_ASM_COMPILER "{env["CC"]}")',
        f"set(CMAKE_C_COMPILER_TARGET {target})",
        f"set(CMAKE_CXX_COMPILER_TARGET {target})",
        f"set(CMAKE_ASM_COMPILER_TARGET {target})",
    ]
    for var, name in (("AR", "CMAKE_AR"), ("RANLIB", "CMAKE_RANLIB"), ("NM", "CMAKE_NM"),
                      ("STRIP", "CMAKE_STRIP")):
        if var in env:
            lines.append(f'set({name} "{env[var]}" CACHE FILEPATH "")')
    if "WASI_SYSROOT" in env:
        lines.append(f'set(CMAKE_SYSROOT "{env["WASI_SYSROOT"]}")')
    lines += [
        "set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)",
        "set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)",
        "set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)",
        "set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)",
        # No shared libraries in WASI (yet): add_library() without STATIC still builds one.
        "set_property(GLOBAL PROPERTY TARGET_SUPPORTS_SHARED_LIBS FALSE)",
        "set(BUILD_SHARED_LIBS OFF CACHE BOOL \"\")",
        "",
    ]
    return "\n".join(lines)


def _meson(env: dict[str, str]) -> str:
    def q(value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    binaries = [("ar", "AR"), ("nm", "NM"), ("strip", "STRIP")]
    lines = ["# wasmbuild: cross-compiling for WASI (generated)", "[binaries]",
             f"c = {q('@DIR@/bin/meson-cc')}", f"cpp = {q('@DIR@/bin/meson-c++')}"]
    lines += [f"{key} = {q(env[var])}" for key, var in binaries if var in env]
    lines += [
        "",
        "[properties]",
        "needs_exe_wrapper = true",
        "",
        "[host_machine]",
        "system = 'wasi'",
        "cpu_family = 'wasm32'",
        "cpu = 'wasm32'",
        "endian = 'little'",
        "",
    ]
    return "\n".join(lines)


def plan(env: dict[str, str]) -> tuple[dict[str, str], dict[str, tuple[str, int]]]:
    """The cross variables for a probed C/C++ toolchain's ``env`` and the files they name, as
    (variables with the placeholder ``@DIR@`` for the directory, {relative path: (text, mode)})."""
    target = env["WASM_TARGET"]
    root = env.get("WASI_SYSROOT")
    zig = env.get("ZIG")
    files: dict[str, tuple[str, int]] = {}
    out: dict[str, str] = {"WASI_HOST": target}
    base = [f"--target={target}", *([f"--sysroot={root}"] if root else [])]
    cxx_extra = shlex.split(env.get("WASM_CXXFLAGS", ""))
    include: list[str] = []  # compiling only (CC, CXX, CFLAGS, CXXFLAGS), not LDFLAGS
    if zig:
        files["bin/wasm32-wasi-zig-cc"] = (_wrapper([zig, "cc", *base], strip_debug=True), 0o755)
        files["bin/wasm32-wasi-zig-c++"] = (_wrapper([zig, "c++", *base], strip_debug=True), 0o755)
        files["bin/zig-ar"] = (_wrapper([zig, "ar"]), 0o755)
        files["bin/zig-ranlib"] = (_wrapper([zig, "ranlib"]), 0o755)
        out.update(CC="@DIR@/bin/wasm32-wasi-zig-cc", CXX="@DIR@/bin/wasm32-wasi-zig-c++",
                   AR="@DIR@/bin/zig-ar", RANLIB="@DIR@/bin/zig-ranlib")
        for var in ("NM", "STRIP"):  # zig has neither for wasm: llvm's, when there is one
            found = _llvm_tool(_LLVM_TOOLS[var], None)
            if found:
                out[var] = found
    else:
        cc = env["CC"]
        cxx = env.get("CXX") or str(Path(cc).with_name(Path(cc).name.replace("clang", "clang++", 1)))
        stubs = _missing_headers(root, target) if root else {}
        if stubs:
            files.update(stubs)
            # after -I, before the sysroot (and glibc's /usr/include behind it)
            include = ["-isystem", "@DIR@/missing"]
        files[f"bin/{target}-clang"] = (_telling_wrapper([cc, *base, *include]), 0o755)
        files[f"bin/{target}-clang++"] = (_telling_wrapper([cxx, *base, *include, *cxx_extra]), 0o755)
        out.update(CC=f"@DIR@/bin/{target}-clang", CXX=f"@DIR@/bin/{target}-clang++")
        for var, tool in _LLVM_TOOLS.items():
            found = _llvm_tool(tool, cc)
            if found:
                out[var] = found
    ldflags = [*base, *(["-Wl,--strip-debug"] if zig else [])]
    out.update(CFLAGS=" ".join([*base, *include]),
               CXXFLAGS=" ".join([*base, *include, *cxx_extra, "-fno-exceptions"]),
               LDFLAGS=" ".join(ldflags),
               CMAKE_TOOLCHAIN_FILE="@DIR@/share/wasi.cmake",
               MESON_CROSS_FILE="@DIR@/share/meson-cross.ini")
    named = {**env, **out}
    files["share/wasi.cmake"] = (_cmake(named, "@DIR@/share"), 0o644)
    # Loaded after CMake's generic system file (which would reset a suffix set earlier).
    files["share/Platform/WASI.cmake"] = ("# wasmbuild (as wasi-sdk's): the WASI platform\n"
                                          'set(WASI 1)\nset(CMAKE_EXECUTABLE_SUFFIX ".wasm")\n', 0o644)
    files["share/meson-cross.ini"] = (_meson(named), 0o644)
    files["bin/meson-cc"] = (_dropping(out["CC"]), 0o755)
    files["bin/meson-c++"] = (_dropping(out["CXX"]), 0o755)
    return out, files


def materialize(files: dict[str, tuple[str, int]], area: Path | None = None) -> Path:
    """The directory holding ``files`` (``@DIR@`` replaced by its path), written once.

    Named by the hash of the content, so an existing directory is already right; a new one is
    written in a temp directory and renamed into place (a concurrent writer's copy is the same)."""
    area = area or cache_area("toolchains")
    digest = hashlib.sha256(repr(sorted(files.items())).encode()).hexdigest()[:20]
    final = area / f"cross-{digest}"
    if not final.is_dir():
        with staged_dir(final) as tmp:
            for rel, (text, mode) in sorted(files.items()):
                path = tmp / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text.replace("@DIR@", str(final)))
                path.chmod(mode)
    return final


#: What :func:`plan` made of a toolchain's env in this process: ``toolchains.get`` asks for every
#: stage and step, and the llvm lookups (PATH walks) and the content hash need doing once.
_PLANNED: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], dict[str, tuple[str, int]]]] = {}


def complete(env: dict[str, str], area: Path | None = None) -> dict[str, str]:
    """``env`` of a C/C++ toolchain with the cross variables added (``CC``/``CXX`` replaced by
    the wrappers), its files written (see the module docstring)."""
    key = tuple(sorted(env.items()))
    if key not in _PLANNED:
        _PLANNED[key] = plan(env)
    out, files = _PLANNED[key]
    where = str(materialize(files, area))  # cheap when there: one is_dir (a prune may remove it)
    return {**env, **{k: v.replace("@DIR@", where) for k, v in out.items()}}
