//! Whether the stock `wasmtime` CLI is on PATH where the tests are built:
//! without it, the tests that need it (tests/all/standalone.rs) are
//! ignored (`cargo test` lists them as ignored, not as passed). With `CI`
//! set they are never ignored: there, a missing CLI fails them.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(wasmtime_cli)");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-env-changed=CI");
    let dirs: Vec<std::path::PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).filter(|d| d.is_dir()).collect())
        .unwrap_or_default();
    // A CLI installed later into a directory already on PATH.
    for d in &dirs {
        println!("cargo::rerun-if-changed={}", d.display());
    }
    let found = dirs.iter().any(|d| d.join("wasmtime").is_file());
    if found || std::env::var_os("CI").is_some() {
        println!("cargo::rustc-cfg=wasmtime_cli");
    }
}
