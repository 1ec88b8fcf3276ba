#!/bin/sh
# Build CPython for wasm32-wasi inside the python-wasi builder (recipes/builders/python-wasi).
#
# Inputs ($SRC, read-only):  a CPython source tarball (Python-X.Y.Z.t*z or
#                             python3.X_X.Y.Z.orig.tar.*), optionally a zlib tarball (zlib*.tar*: gzip, bzip2 or xz).
# Params (env):               PY_VERSION (e.g. 3.11.2; default: from the tarball name),
#                             WITH_ZLIB (1/0; default 1 when a zlib tarball is in $SRC),
#                             JOBS (default: nproc),
#                             PREINIT (1/0): link $PREINIT_C (default $WORK/preinit.c, written
#                             by the recipe's first step) as the main program and snapshot
#                             the initialised interpreter with Wizer (wizer*.tgz in $SRC, the
#                             npm package's tarball), importing PREINIT_IMPORTS (space-separated),
#                             STDLIB (space-separated module names; empty: CPython's whole
#                             WASI selection): the stdlib zip keeps these and what they import.
# Outputs ($OUT):             python3.wasm (debug info stripped),
#                             usr/local/lib/pythonXY.zip (the stdlib; deflated with zlib, stored
#                             without: deflated entries need zlib to be read);
#                             with PREINIT=1 also preinit/python3.wasm (the module before the
#                             snapshot) and preinit/snapshot.sh (the Wizer step, to re-take it:
#                             how the snapshot's reproducibility is checked without a rebuild).
# Runs with network off. Follows CPython's Tools/wasm/README.md (manual steps: wasm_build.py
# insists on the wasmtime CLI). See docs/notes: CFLAGS=-Wno-error=int-conversion because clang 16
# makes int-conversion an error and wasi-libc's clockid_t is a pointer (Modules/timemodule.c).
set -eu

: "${SRC:=/src}" "${OUT:=/out}" "${WORK:=/work}"
: "${SOURCE_DATE_EPOCH:=0}"
export SOURCE_DATE_EPOCH
JOBS=${JOBS:-$(nproc)}
WASI_SDK_PATH=${WASI_SDK_PATH:-/opt/wasi-sdk}
export WASI_SDK_PATH
log() { echo "cpython-wasi: $*" >&2; }
now() { date +%s; }
T0=$(now)

# --- locate inputs -----------------------------------------------------------------------------
cpython_tar=$(find "$SRC" -maxdepth 1 -type f \( -name 'Python-*.t*' -o -name 'python3*.orig.tar.*' \
    -o -name 'cpython-*.t*' \) | sort | head -n 1)
[ -n "$cpython_tar" ] || { log "no CPython tarball (Python-*.tar.xz/.tgz) in $SRC"; exit 2; }
zlib_tar=$(find "$SRC" -maxdepth 1 -type f -name 'zlib*.tar*' | sort | head -n 1)
if [ -z "${WITH_ZLIB:-}" ]; then
    WITH_ZLIB=0; [ -n "$zlib_tar" ] && WITH_ZLIB=1
fi
case "$WITH_ZLIB" in 1|true|yes) WITH_ZLIB=1 ;; *) WITH_ZLIB=0 ;; esac
if [ "$WITH_ZLIB" = 1 ] && [ -z "$zlib_tar" ]; then
    log "WITH_ZLIB=1 but no zlib*.tar* in $SRC"; exit 2
fi
case "${PREINIT:-0}" in 1|true|yes) PREINIT=1 ;; *) PREINIT=0 ;; esac
PREINIT_C=${PREINIT_C:-$WORK/preinit.c}
if [ "$PREINIT" = 1 ]; then
    wizer_tar=$(find "$SRC" -maxdepth 1 -type f -name '*wizer*.tgz' | sort | head -n 1)
    [ -n "$wizer_tar" ] || { log "PREINIT=1 but no *wizer*.tgz (npm's wizer-linux-*) in $SRC"; exit 2; }
    [ -f "${PREINIT_C:-}" ] || { log "PREINIT=1 but PREINIT_C (the main program) is not a file"; exit 2; }
fi

untar() {  # untar TARBALL DEST: strip the single top-level directory
    mkdir -p "$2"
    # by content, not by name: zlib's upstream .tar.gz and Debian's .tar.bz2 both arrive as zlib-src.tar
    case "$(od -An -tx1 -N3 "$1" | tr -d ' ')" in
        fd377a) xz -dc "$1" ;; 425a68) bzip2 -dc "$1" ;; *) gzip -dc "$1" ;;
    esac | tar -x -C "$2" --strip-components=1 --no-same-owner
}

rm -rf "$WORK/cpython" "$WORK/zlib" "$WORK/zlib-wasi"
untar "$cpython_tar" "$WORK/cpython"
cd "$WORK/cpython"
SRC_VERSION=$(sed -n 's/^#define PY_VERSION[[:space:]]*"\(.*\)"/\1/p' Include/patchlevel.h)
PY_VERSION=${PY_VERSION:-$SRC_VERSION}
[ "$PY_VERSION" = "$SRC_VERSION" ] || {
    log "PY_VERSION=$PY_VERSION but the tarball is CPython $SRC_VERSION"; exit 2; }
MAJMIN=$(echo "$PY_VERSION" | cut -d. -f1,2)
NODOT=$(echo "$MAJMIN" | tr -d .)
log "CPython $PY_VERSION from $(basename "$cpython_tar"), zlib=$WITH_ZLIB, jobs=$JOBS"
for m in ${STDLIB:-}; do  # before compiling: a misspelt name fails in a second, not minutes
    p=Lib/$(echo "$m" | tr . /)
    [ -f "$p.py" ] || [ -f "$p/__init__.py" ] || {
        log "stdlib: $m is not a module of CPython $PY_VERSION's Lib (builtin modules such as sys need not be listed)"
        exit 2; }
done

# --- zlib for wasm32-wasi (optional) -----------------------------------------------------------
if [ "$WITH_ZLIB" = 1 ]; then
    untar "$zlib_tar" "$WORK/zlib"
    (
        cd "$WORK/zlib"
        # zlib's configure is not autoconf: it takes CC/AR from the environment.
        CC="$WASI_SDK_PATH/bin/clang" AR="$WASI_SDK_PATH/bin/llvm-ar" \
            RANLIB="$WASI_SDK_PATH/bin/llvm-ranlib" CFLAGS="-O2" CHOST=wasm32 \
            ./configure --static --prefix="$WORK/zlib-wasi" >build.log 2>&1 &&
            make -j"$JOBS" libz.a >>build.log 2>&1 || { tail -n 30 build.log >&2; exit 1; }
        mkdir -p "$WORK/zlib-wasi/lib" "$WORK/zlib-wasi/include"
        cp libz.a "$WORK/zlib-wasi/lib/"
        cp zlib.h zconf.h "$WORK/zlib-wasi/include/"
    )
    log "zlib built in $(( $(now) - T0 ))s"
fi

# --- build Python --------------------------------------------------------------------------
touch Modules/Setup.local
# The pre-initialisable main program replaces Python's (it behaves the same until wizened).
[ "$PREINIT" = 1 ] && cp "$PREINIT_C" Programs/python.c
BUILD_PY=""
if command -v "python$MAJMIN" >/dev/null 2>&1; then
    BUILD_PY=$(command -v "python$MAJMIN")
    log "build Python: $BUILD_PY ($("$BUILD_PY" -V 2>&1))"
else
    log "no python$MAJMIN in the builder: building a native one"
    mkdir -p builddir/build
    (
        cd builddir/build
        CC=${NATIVE_CC:-clang-16} ../../configure -C --without-ensurepip >build.log 2>&1 &&
            make -j"$JOBS" all >>build.log 2>&1 || { tail -n 30 build.log >&2; exit 1; }
    )
    BUILD_PY="$PWD/builddir/build/python"
    log "native build Python done at $(( $(now) - T0 ))s"
fi

# --- cross build -------------------------------------------------------------------------------
mkdir -p builddir/wasi
cd builddir/wasi
T1=$(now)
# configure's pkg-config is confined to the wasi sysroot: name the wasm zlib explicitly.
if [ "$WITH_ZLIB" = 1 ]; then
    set -- "ZLIB_CFLAGS=-I$WORK/zlib-wasi/include" "ZLIB_LIBS=-L$WORK/zlib-wasi/lib -lz"
else
    set --
fi
CONFIG_SITE=../../Tools/wasm/config.site-wasm32-wasi \
CFLAGS="-Wno-error=int-conversion" \
    ../../Tools/wasm/wasi-env ../../configure -C \
        --host=wasm32-unknown-wasi \
        --build="$(../../config.guess)" \
        --with-build-python="$BUILD_PY" \
        "$@" >configure.log 2>&1 || { tail -n 40 configure.log >&2; exit 1; }
log "configure done in $(( $(now) - T1 ))s"
T2=$(now)
if [ "$PREINIT" = 1 ]; then
    # preinit.c's wrappers keep host file metadata out of the snapshot (see there). Only
    # python.wasm is linked in a WASI build (target build_wasm), so the flags reach nothing else.
    set -- LDFLAGS_NODIST="-Wl,--wrap=__wasi_path_filestat_get -Wl,--wrap=__wasi_fd_filestat_get -Wl,--wrap=__wasi_fd_readdir"
else
    set --
fi
make -j"$JOBS" "$@" >make.log 2>&1 || { grep -n -i -B2 -A2 'error' make.log | tail -n 40 >&2; exit 1; }
log "make done in $(( $(now) - T2 ))s"
[ -f python.wasm ] || { log "make produced no python.wasm"; exit 1; }

# --- outputs -----------------------------------------------------------------------------------
mkdir -p "$OUT/usr/local/lib"
llvm-strip-16 --strip-debug -o "$OUT/python3.wasm" python.wasm
# --- pure-Python packages (the recipe's `requirements`: wheels in $SRC/wheels) ----------------
# Unpacked into the site-packages that `site` adds for PYTHONHOME=/usr/local, before the stdlib
# selection (which follows their imports too) and the snapshot (`preinit_imports` may name
# them). A wheel's NAME.data/purelib goes to the top, as pip installs it; no .pyc is written
# (the image is read-only: the .py files are compiled on import).
SITE=""
if [ -d "$SRC/wheels" ]; then
    SITE="$OUT/usr/local/lib/python$MAJMIN/site-packages"
    mkdir -p "$SITE"
    "$BUILD_PY" - "$SITE" "$SRC/wheels" <<'PY'
import pathlib, shutil, sys, zipfile

site, wheels = pathlib.Path(sys.argv[1]), sorted(pathlib.Path(sys.argv[2]).glob("*.whl"))
for wheel in wheels:
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)  # members stay inside `site`
for data in sorted(site.glob("*.data")):
    for part in ("purelib", "platlib"):
        if (data / part).is_dir():
            shutil.copytree(data / part, site, dirs_exist_ok=True)
    shutil.rmtree(data)
print(f"cpython-wasi: {len(wheels)} pure-Python package(s) in /{'/'.join(site.parts[-5:])}", file=sys.stderr)
PY
fi

ZIP="$OUT/usr/local/lib/python$NODOT.zip"
# CPython's own stdlib selection for WASI (Tools/wasm/wasm_assets.py via PYTHON_FOR_BUILD).
make wasm_stdlib >>make.log 2>&1 || { tail -n 30 make.log >&2; exit 1; }
# Repack it: ZIP_STORED without zlib (deflated entries cannot be read: "zlib not available"),
# and fixed entry times from SOURCE_DATE_EPOCH (clamped to the zip format's 1980 floor).
# With STDLIB (module names), only those modules, what importing them imports (modulefinder over
# the stdlib's sources, run by the build Python of the same version, not entering function
# bodies), `encodings` (the interpreter needs it to start; codecs are looked up by name) and
# PREINIT_IMPORTS are kept.
case "${STDLIB:-}${PREINIT_IMPORTS:-}" in *[!A-Za-z0-9_.\ ]*)
    log "STDLIB and PREINIT_IMPORTS must be module names separated by spaces"; exit 2 ;;
esac
"$BUILD_PY" - "usr/local/lib/python$NODOT.zip" "$ZIP" "$WITH_ZLIB" "$WORK/cpython/Lib" \
    "${STDLIB:-}" "${PREINIT_IMPORTS:-}" "$SITE" <<'PY'
import modulefinder, os, sys, time, zipfile

source, target, with_zlib, lib, wanted, preinit, site = sys.argv[1:8]
epoch = max(int(os.environ.get("SOURCE_DATE_EPOCH", "0")), 315532800)
date_time = time.gmtime(epoch)[:6]
method = zipfile.ZIP_DEFLATED if with_zlib == "1" else zipfile.ZIP_STORED


def module_of(entry):  # "json/__init__.pyc" -> "json", "os.pyc" -> "os", "a/b.txt" -> "a"
    if not entry.endswith(".pyc"):
        return os.path.dirname(entry).replace("/", ".") or None
    name = entry[:-4].replace("/", ".")
    return name[: -len(".__init__")] if name.endswith(".__init__") else name


keep = None
if wanted.split():
    with zipfile.ZipFile(source) as src:
        present = {module_of(n) for n in src.namelist() if n.endswith(".pyc")}
    unknown = sorted(m for m in wanted.split() if m not in present)
    if unknown:
        sys.exit(f"cpython-wasi: stdlib: {', '.join(unknown)} not in CPython's stdlib for WASI "
                 f"(builtin modules such as sys need not be listed)")
    class ImportTime(modulefinder.ModuleFinder):
        """What importing a module imports: module and class bodies, not function bodies (a
        lazy import inside a function runs only if the function does: os.popen's subprocess)."""

        def scan_code(self, co, m):
            if not co.co_flags & 0x1:  # CO_OPTIMIZED: a function's code
                super().scan_code(co, m)

    finder = ImportTime(path=[lib, site] if site else [lib])
    # the requirements' packages (every top-level module in site-packages) are roots too
    packages = {p.name.removesuffix(".py") for p in os.scandir(site) if p.name.endswith(".py")
                or (p.is_dir() and os.path.isfile(os.path.join(p.path, "__init__.py")))} if site else set()
    for name in sorted({*wanted.split(), *preinit.split(), *packages, "encodings"}):
        finder.import_hook(name)
    keep = {m for m in finder.modules if m in present}
    keep |= {m for m in present if m.startswith("encodings.")}
    print(f"cpython-wasi: stdlib: {len(keep)} of {len(present)} modules kept", file=sys.stderr)
with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
    for old in src.infolist():  # wasm_assets.py already writes them in sorted order
        if keep is not None and module_of(old.filename) not in keep:
            continue
        info = zipfile.ZipInfo(old.filename, date_time)
        info.compress_type = method
        info.external_attr = 0o644 << 16
        info.create_system = 3
        dst.writestr(info, src.read(old), compresslevel=9 if method == zipfile.ZIP_DEFLATED else None)
PY
# The .pyc files inside embed source mtimes; the tarball's are fixed, so they are reproducible.

# --- pre-initialisation (Wizer) -------------------------------------------------------------
if [ "$PREINIT" = 1 ]; then
    T3=$(now)
    case "${PREINIT_IMPORTS:-}" in *[!A-Za-z0-9_.\ ]*)
        log "PREINIT_IMPORTS must be module names separated by spaces: $PREINIT_IMPORTS"; exit 2 ;;
    esac
    mkdir -p "$WORK/wizer"
    gzip -dc "$wizer_tar" | tar -x -C "$WORK/wizer" --strip-components=1 --no-same-owner package/wizer
    # The Wizer step as a script of its own, shipped in the outputs (preinit/snapshot.sh), so
    # that it can be re-run on the same inputs anywhere (a test compares the bytes).
    # ROOT is the image's tree below / (python3.wasm, usr/local/lib/pythonXY.zip), preopened
    # at / as the image's runner does, so the snapshot's preopen table and paths hold at run
    # time. Only PYTHONHOME and the import list reach the module: the snapshot holds no host
    # env, and it drops the env it read (see preinit.c).
    # Std streams: the snapshot's sys.stdout/stderr are created on them, so they are the same
    # kind of file on every build (a log file and /dev/null, not whatever the step's terminal
    # is); resume re-checks isatty.
    cat >"$WORK/snapshot.sh" <<EOF
#!/bin/sh
# snapshot.sh WIZER MODULE ROOT OUTPUT LOG: pre-initialise MODULE with ROOT preopened at /.
set -eu
exec env -i PYTHONHOME=/usr/local WASMBUILD_PREINIT_IMPORTS='${PREINIT_IMPORTS:-}' \\
    "\$1" --allow-wasi --inherit-env=true --inherit-stdio=true \\
    --init-func wizer.initialize --rename-func _start=wizer.resume \\
    --mapdir "/::\$3" -o "\$4" "\$2" </dev/null >"\$5" 2>&1
EOF
    sh "$WORK/snapshot.sh" "$WORK/wizer/wizer" "$OUT/python3.wasm" "$OUT" "$WORK/python3.preinit.wasm" \
        "$WORK/wizer.log" || { tail -n 40 "$WORK/wizer.log" >&2; log "wizer failed"; exit 1; }
    mkdir -p "$OUT/preinit"
    mv "$OUT/python3.wasm" "$OUT/preinit/python3.wasm"
    cp "$WORK/snapshot.sh" "$OUT/preinit/snapshot.sh"
    mv "$WORK/python3.preinit.wasm" "$OUT/python3.wasm"
    log "pre-initialised with Wizer in $(( $(now) - T3 ))s (imports: ${PREINIT_IMPORTS:-none})"
fi
ls -l "$OUT/python3.wasm" "$ZIP" >&2
log "total $(( $(now) - T0 ))s"
