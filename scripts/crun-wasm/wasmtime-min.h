/*
 * The few declarations of Wasmtime's C API that crun's wasmtime handler
 * (src/libcrun/handlers/wasmtime.c) needs, written for wasmbuild's tests.
 *
 * No Wasmtime C headers are packaged by Debian or PyPI. crun only needs the
 * *types* from them: every function is looked up with dlsym() and called
 * through a pointer whose signature the handler spells out itself (our patch
 * fixes the signatures that changed). The layouts below follow the C API's
 * documented ABI as the PyPI `wasmtime` wheel's ctypes bindings spell it
 * (wasmtime/_bindings.py, version pinned in pyproject.toml):
 *
 *   class wasm_byte_vec_t: size: c_size_t, data: POINTER(c_ubyte)
 *   wasm_name_t = wasm_message_t = wasm_byte_vec_t
 *   class wasmtime_func: store_id: c_uint64, __private: c_void_p
 *
 * Everything else is used through pointers only, so it stays opaque.
 * crun includes <wasm.h>, <wasi.h> and <wasmtime.h>; scripts/build-crun-wasm
 * makes all three include this file.
 */
#ifndef WASMBUILD_WASMTIME_MIN_H
#define WASMBUILD_WASMTIME_MIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef char wasm_byte_t;

typedef struct wasm_byte_vec_t
{
  size_t size;
  wasm_byte_t *data;
} wasm_byte_vec_t;

typedef wasm_byte_vec_t wasm_name_t;
typedef wasm_name_t wasm_message_t;

typedef struct wasm_engine_t wasm_engine_t;
typedef struct wasm_trap_t wasm_trap_t;
typedef struct wasi_config_t wasi_config_t;
typedef struct wasmtime_store wasmtime_store_t;
typedef struct wasmtime_context wasmtime_context_t;
typedef struct wasmtime_linker wasmtime_linker_t;
typedef struct wasmtime_module wasmtime_module_t;
typedef struct wasmtime_error wasmtime_error_t;
typedef struct wasmtime_val wasmtime_val_t;

/* Filled in by wasmtime_linker_get_default(), so its size matters (16 bytes). */
typedef struct wasmtime_func
{
  uint64_t store_id;
  void *__private;
} wasmtime_func_t;

_Static_assert (sizeof (wasmtime_func_t) == 16, "wasmtime_func_t is 16 bytes in the C API");

#endif
