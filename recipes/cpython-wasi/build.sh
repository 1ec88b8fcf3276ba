#!/bin/sh
# Build CPython for wasm32-wasi inside the python-wasi builder (recipes/builders/python-wasi).
#
# Inputs ($SRC, read-only):  a CPython source tarball (Python-X.Y.Z.t*z or
#                             python3.X_X.Y.Z.orig.tar.*), optionally a zlib tarball (zlib*.tar.*).
# Params (env):               PY_VERSION (e.g. 3.11.2; default: from the tarball name),
#                             WITH_ZLIB (1/0; default 1 when a zlib tarball is in $SRC),
#                             JOBS (default: nproc).
# Outputs ($OUT):             python3.wasm (debug info stripped),
#                             usr/local/lib/pythonXY.zip (the stdlib; deflated with zlib, stored
#                             without: deflated entries need zlib to be read).
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
zlib_tar=$(find "$SRC" -maxdepth 1 -type f -name 'zlib*.tar.*' | sort | head -n 1)
if [ -z "${WITH_ZLIB:-}" ]; then
    WITH_ZLIB=0; [ -n "$zlib_tar" ] && WITH_ZLIB=1
fi
case "$WITH_ZLIB" in 1|true|yes) WITH_ZLIB=1 ;; *) WITH_ZLIB=0 ;; esac
if [ "$WITH_ZLIB" = 1 ] && [ -z "$zlib_tar" ]; then
    log "WITH_ZLIB=1 but no zlib*.tar.* in $SRC"; exit 2
fi

untar() {  # untar TARBALL DEST: strip the single top-level directory
    mkdir -p "$2"
    case "$1" in
        *.xz) xz -dc "$1" ;; *.bz2) bzip2 -dc "$1" ;; *) gzip -dc "$1" ;;
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
make -j"$JOBS" >make.log 2>&1 || { grep -n -i -B2 -A2 'error' make.log | tail -n 40 >&2; exit 1; }
log "make done in $(( $(now) - T2 ))s"
[ -f python.wasm ] || { log "make produced no python.wasm"; exit 1; }

# --- outputs -----------------------------------------------------------------------------------
mkdir -p "$OUT/usr/local/lib"
llvm-strip-16 --strip-debug -o "$OUT/python3.wasm" python.wasm
ZIP="$OUT/usr/local/lib/python$NODOT.zip"
# CPython's own stdlib selection for WASI (Tools/wasm/wasm_assets.py via PYTHON_FOR_BUILD).
make wasm_stdlib >>make.log 2>&1 || { tail -n 30 make.log >&2; exit 1; }
# Repack it: ZIP_STORED without zlib (deflated entries cannot be read: "zlib not available"),
# and fixed entry times from SOURCE_DATE_EPOCH (clamped to the zip format's 1980 floor).
"$BUILD_PY" - "usr/local/lib/python$NODOT.zip" "$ZIP" "$WITH_ZLIB" <<'PY'
import os, sys, time, zipfile

source, target, with_zlib = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
epoch = max(int(os.environ.get("SOURCE_DATE_EPOCH", "0")), 315532800)
date_time = time.gmtime(epoch)[:6]
method = zipfile.ZIP_DEFLATED if with_zlib else zipfile.ZIP_STORED
with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
    for old in src.infolist():  # wasm_assets.py already writes them in sorted order
        info = zipfile.ZipInfo(old.filename, date_time)
        info.compress_type = method
        info.external_attr = 0o644 << 16
        info.create_system = 3
        dst.writestr(info, src.read(old), compresslevel=9 if with_zlib else None)
PY
# The .pyc files inside embed source mtimes; the tarball's are fixed, so they are reproducible.
ls -l "$OUT/python3.wasm" "$ZIP" >&2
log "total $(( $(now) - T0 ))s"
