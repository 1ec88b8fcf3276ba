;; A WASI command entry for the npm package's ruby+stdlib.wasm, merged into it with wasm-merge.
;; That module is a reactor made for ruby.wasm's JavaScript host: it exports _initialize and the
;; ruby-init / rb-eval-string-protect functions of its WIT interface, and imports the host's
;; rb-js-abi-host functions (the `js` gem) and canonical_abi handle functions. Here:
;; - `_start` runs `ruby -EUTF-8 -e_=0 -- ARGV[1..]` through ruby-init, then evaluates boot.rb
;;   (which loads the script named by the first argument and exits with its status);
;; - the js-abi-host functions trap (`require "js"` has no JavaScript to talk to);
;; - handles are the guest's own pointers (resource_new/get are the identity).
;; The strings are a passive segment copied into memory ruby allocates (cabi_realloc): the
;; memory is ruby's, so an active segment would overwrite its data.
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "ruby" "memory" (memory 0))
  (import "ruby" "_initialize" (func $ruby_initialize))
  (import "ruby" "cabi_realloc" (func $realloc (param i32 i32 i32 i32) (result i32)))
  (import "ruby" "ruby-init: func(args: list<string>) -> ()" (func $ruby_init (param i32 i32)))
  (import "ruby" "ruby-init-loadpath: func() -> ()" (func $ruby_init_loadpath))
  (import "ruby" "rb-eval-string-protect: func(str: string) -> tuple<handle<rb-abi-value>, s32>"
    (func $eval (param i32 i32) (result i32)))

  ;; "ruby\0-EUTF-8\0-e_=0\0--\0" (22 bytes), then boot.rb and a NUL: filled in by shim.mjs
  (data $strings "@STRINGS@")

  (func $alloc (param $align i32) (param $size i32) (result i32)
    (call $realloc (i32.const 0) (i32.const 0) (local.get $align) (local.get $size)))

  ;; list<string> entry i: (pointer, length) at list + 8*i
  (func $entry (param $list i32) (param $i i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.add (local.get $list) (i32.shl (local.get $i) (i32.const 3))) (local.get $ptr))
    (i32.store offset=4 (i32.add (local.get $list) (i32.shl (local.get $i) (i32.const 3))) (local.get $len)))

  (func (export "_start")
    (local $sizes i32) (local $argc i32) (local $argv i32) (local $buf i32) (local $end i32)
    (local $strings i32) (local $list i32) (local $n i32) (local $i i32) (local $next i32) (local $ret i32)
    (call $ruby_initialize)
    (local.set $sizes (call $alloc (i32.const 4) (i32.const 8)))
    (drop (call $args_sizes_get (local.get $sizes) (i32.add (local.get $sizes) (i32.const 4))))
    (local.set $argc (i32.load (local.get $sizes)))
    (local.set $argv (call $alloc (i32.const 4) (i32.shl (local.get $argc) (i32.const 2))))
    (local.set $buf (call $alloc (i32.const 1) (i32.load offset=4 (local.get $sizes))))
    (local.set $end (i32.add (local.get $buf) (i32.load offset=4 (local.get $sizes))))
    (drop (call $args_get (local.get $argv) (local.get $buf)))
    (local.set $strings (call $alloc (i32.const 1) (i32.const @LEN@)))
    (memory.init $strings (local.get $strings) (i32.const 0) (i32.const @LEN@))
    (data.drop $strings)
    ;; ruby -EUTF-8 -e_=0 -- argv[1] ... argv[argc-1]
    (local.set $n (i32.add (i32.const 3) (select (local.get $argc) (i32.const 1) (local.get $argc))))
    (local.set $list (call $alloc (i32.const 4) (i32.shl (local.get $n) (i32.const 3))))
    (call $entry (local.get $list) (i32.const 0) (local.get $strings) (i32.const 4))
    (call $entry (local.get $list) (i32.const 1) (i32.add (local.get $strings) (i32.const 5)) (i32.const 7))
    (call $entry (local.get $list) (i32.const 2) (i32.add (local.get $strings) (i32.const 13)) (i32.const 5))
    (call $entry (local.get $list) (i32.const 3) (i32.add (local.get $strings) (i32.const 19)) (i32.const 2))
    (local.set $i (i32.const 1))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $i) (local.get $argc)))
        (local.set $next (select
          (i32.load (i32.add (local.get $argv) (i32.shl (i32.add (local.get $i) (i32.const 1)) (i32.const 2))))
          (local.get $end)
          (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $argc))))
        (call $entry (local.get $list) (i32.add (local.get $i) (i32.const 3))
          (i32.load (i32.add (local.get $argv) (i32.shl (local.get $i) (i32.const 2))))
          (i32.sub (i32.sub (local.get $next)
            (i32.load (i32.add (local.get $argv) (i32.shl (local.get $i) (i32.const 2))))) (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each)))
    (call $ruby_init (local.get $list) (local.get $n))
    (call $ruby_init_loadpath)
    ;; boot.rb ends with exit!(status); reaching here means it raised before its rescue
    (local.set $ret (call $eval (i32.add (local.get $strings) (i32.const 22)) (i32.const @BOOTLEN@)))
    (call $proc_exit (select (i32.const 1) (i32.const 0) (i32.load offset=4 (local.get $ret)))))
)
