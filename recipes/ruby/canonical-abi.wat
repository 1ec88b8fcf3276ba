;; canonical_abi's handles: the guest's own pointers (new/get are the identity, drop a no-op).
(module
  (func (export "resource_drop_js-abi-value") (param i32))
  (func (export "resource_new_rb-abi-value") (param i32) (result i32) (local.get 0))
  (func (export "resource_get_rb-abi-value") (param i32) (result i32) (local.get 0)))
