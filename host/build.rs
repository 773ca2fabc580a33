//! Builds the shipped connector components for `wasm32-wasip2` so the host
//! can embed them (`connhost demo`, tests, benches) without a separate step.

use std::path::PathBuf;
use std::process::Command;

const COMPONENTS: &[(&str, &str)] = &[
    ("connector-celonis", "connector_celonis"),
    ("connector-testbed", "connector_testbed"),
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    for dir in ["wit", "component"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.lock").display()
    );

    ensure_wasm_target();

    // A separate target dir: the outer cargo holds the lock on its own.
    let target_dir = root.join("target").join("wasm");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target_dir);
    for (pkg, _) in COMPONENTS {
        cmd.args(["-p", pkg]);
    }
    // Flags meant for the host build must not leak into the guest build.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_PROFILE_RELEASE_DEBUG",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .expect("run cargo to build connector components");
    assert!(
        status.success(),
        "building connector components for wasm32-wasip2 failed (is the target installed? `rustup target add wasm32-wasip2`)"
    );

    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let built = target_dir.join("wasm32-wasip2").join("release");
    for (_, file) in COMPONENTS {
        let src = built.join(format!("{file}.wasm"));
        std::fs::copy(&src, out.join(format!("{file}.wasm")))
            .unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
    }
}

/// rust-toolchain.toml lists the target, but rustup installs listed targets
/// only with `rustup toolchain install`; do it here so a fresh clone builds
/// with a plain `cargo build`.
fn ensure_wasm_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = sysroot
        .as_ref()
        .is_some_and(|s| s.join("lib/rustlib/wasm32-wasip2").is_dir());
    if installed {
        return;
    }
    println!("cargo:warning=installing the wasm32-wasip2 target with rustup (listed in rust-toolchain.toml)");
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", "wasm32-wasip2"]);
    if let Ok(tc) = std::env::var("RUSTUP_TOOLCHAIN") {
        cmd.args(["--toolchain", &tc]);
    }
    match cmd.status() {
        Ok(s) if s.success() => {}
        _ => println!("cargo:warning=`rustup target add wasm32-wasip2` failed; install the target by hand"),
    }
}
