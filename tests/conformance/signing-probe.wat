;; A probe component for the JavaScript and Python hosts' tests
;; (host/js/test/signing.test.mjs, host/python/tests/test_signing.py): it
;; imports `connhost:connector/signing@0.3.1` and exports `sign` and
;; `sign-sigv4` with the import's own signatures, each passing its
;; arguments to the import and returning its result, so a host's signing
;; import is exercised through the canonical ABI (names, the `algorithm`
;; enum, `list<u8>`, `signing-error`) without a Rust build.
(component
  (import "connhost:connector/signing@0.3.1" (instance $signing
    (type $a (enum "hmac-sha1" "hmac-sha256" "rs256" "es256"))
    (export "algorithm" (type $alg (eq $a)))
    (type $e (variant (case "unknown-secret" string) (case "bad-key" string)))
    (export "signing-error" (type $err (eq $e)))
    (type $bytes (list u8))
    (type $r1 (result $bytes (error $err)))
    (export "sign" (func (param "secret" string) (param "algorithm" $alg) (param "message" $bytes) (result $r1)))
    (type $r2 (result string (error $err)))
    (export "sign-sigv4" (func (param "secret" string) (param "date" string) (param "region" string)
      (param "service" string) (param "string-to-sign" string) (result $r2)))
  ))
  (alias export $signing "algorithm" (type $alg))
  (alias export $signing "signing-error" (type $err))
  (alias export $signing "sign" (func $sign))
  (alias export $signing "sign-sigv4" (func $sigv4))

  (core module $mem
    (memory (export "memory") 1)
    (global $heap (mut i32) (i32.const 1024))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get 2))))
      (global.set $heap (i32.add (local.get $p) (local.get 3)))
      (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
        (then (drop (memory.grow (i32.add (i32.shr_u (local.get 3) (i32.const 16)) (i32.const 1))))))
      (local.get $p)))
  (core instance $mem (instantiate $mem))
  (alias core export $mem "memory" (core memory $memory))
  (alias core export $mem "realloc" (core func $realloc))

  (core func $sign-lowered (canon lower (func $sign) (memory $memory) (realloc $realloc)))
  (core func $sigv4-lowered (canon lower (func $sigv4) (memory $memory) (realloc $realloc)))

  ;; Pass-throughs: each export calls the import with its arguments and
  ;; returns its result, so a host's import is exercised through wasm.
  (core module $m
    (import "host" "sign" (func $sign (param i32 i32 i32 i32 i32 i32)))
    (import "host" "sign-sigv4" (func $sigv4 (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)))
    (import "host" "realloc" (func $realloc (param i32 i32 i32 i32) (result i32)))
    (func (export "sign") (param i32 i32 i32 i32 i32) (result i32)
      (local $ret i32)
      (local.set $ret (call $realloc (i32.const 0) (i32.const 0) (i32.const 4) (i32.const 16)))
      (call $sign (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4) (local.get $ret))
      (local.get $ret))
    (func (export "sign-sigv4") (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
      (local $ret i32)
      (local.set $ret (call $realloc (i32.const 0) (i32.const 0) (i32.const 4) (i32.const 16)))
      (call $sigv4 (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4)
        (local.get 5) (local.get 6) (local.get 7) (local.get 8) (local.get 9) (local.get $ret))
      (local.get $ret)))
  (core instance $i (instantiate $m (with "host" (instance
    (export "sign" (func $sign-lowered))
    (export "sign-sigv4" (func $sigv4-lowered))
    (export "realloc" (func $realloc))))))

  (type $bytes (list u8))
  (type $r1 (result $bytes (error $err)))
  (type $r2 (result string (error $err)))
  (func $run-sign (param "secret" string) (param "algorithm" $alg) (param "message" $bytes) (result $r1)
    (canon lift (core func $i "sign") (memory $memory) (realloc $realloc)))
  (func $run-sigv4 (param "secret" string) (param "date" string) (param "region" string)
      (param "service" string) (param "string-to-sign" string) (result $r2)
    (canon lift (core func $i "sign-sigv4") (memory $memory) (realloc $realloc)))
  (export "sign" (func $run-sign))
  (export "sign-sigv4" (func $run-sigv4))
)
