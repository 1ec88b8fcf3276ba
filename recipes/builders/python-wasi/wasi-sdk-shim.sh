#!/bin/sh
# Lay out a wasi-sdk-shaped directory from Debian's clang-16/lld-16/llvm-16/wasi-libc so tools
# written against wasi-sdk (CPython's Tools/wasm/wasi-env, Makefiles using $WASI_SDK_PATH) work
# unchanged. Debian keeps wasi-libc in /usr/{include,lib}/wasm32-wasi; wasi-sdk expects
# $WASI_SDK_PATH/share/wasi-sysroot/{include,lib}/wasm32-wasi.
#
# The wrappers always pass --sysroot: wasi-env omits it when WASI_SDK_PATH is /opt/wasi-sdk, and
# without it clang also searches the host's glibc headers.
set -eu
SDK=${1:-/opt/wasi-sdk}
LLVM=${LLVM_VERSION:-16}
SYSROOT="$SDK/share/wasi-sysroot"
mkdir -p "$SDK/bin" "$SYSROOT/include" "$SYSROOT/lib"
ln -sfn /usr/include/wasm32-wasi "$SYSROOT/include/wasm32-wasi"
ln -sfn /usr/lib/wasm32-wasi "$SYSROOT/lib/wasm32-wasi"

for tool in clang clang++ clang-cpp; do
    real=$tool-$LLVM
    [ "$tool" = clang-cpp ] && real="clang-$LLVM -E"
    cat >"$SDK/bin/$tool" <<SH
#!/bin/sh
exec $real --target=wasm32-wasi --sysroot=$SYSROOT "\$@"
SH
    chmod 755 "$SDK/bin/$tool"
done
ln -sfn clang "$SDK/bin/wasm32-wasi-clang"
ln -sfn clang++ "$SDK/bin/wasm32-wasi-clang++"
ln -sfn "/usr/bin/wasm-ld-$LLVM" "$SDK/bin/wasm-ld"
for tool in llvm-ar llvm-nm llvm-ranlib llvm-strip llvm-objdump llvm-dwarfdump; do
    ln -sfn "/usr/bin/$tool-$LLVM" "$SDK/bin/$tool"
done
ln -sfn llvm-ar "$SDK/bin/ar"
ln -sfn llvm-ranlib "$SDK/bin/ranlib"
ln -sfn llvm-strip "$SDK/bin/strip"
ln -sfn llvm-nm "$SDK/bin/nm"
echo "wasi-sdk (Debian clang-$LLVM shim)" >"$SDK/VERSION"

# Smoke test: a C program compiles and links to a WASI module.
tmp=$(mktemp -d)
printf '#include <stdio.h>\nint main(void){puts("ok");return 0;}\n' >"$tmp/t.c"
"$SDK/bin/clang" -O2 -o "$tmp/t.wasm" "$tmp/t.c"
head -c 4 "$tmp/t.wasm" | od -An -c | grep -q 'a   s   m'
rm -rf "$tmp"
