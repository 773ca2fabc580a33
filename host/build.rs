//! Builds the shipped connector components for `wasm32-wasip2` so the host
//! can embed them (`connhost demo`, tests, benches) without a separate step.

use std::path::{Path, PathBuf};
use std::process::Command;

const COMPONENTS: &[(&str, &str)] = &[
    ("connector-celonis", "connector_celonis"),
    ("connector-testbed", "connector_testbed"),
    ("connector-generic", "connector_generic"),
    ("connector-standalone", "connector_standalone"),
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

    // The Celonis connector with its imports satisfied on standard WASI,
    // for stock runtimes (`wasmtime run -S http -S config`).
    let standalone = compose(
        &built.join("connector_celonis.wasm"),
        &built.join("connector_standalone.wasm"),
    )
    .unwrap_or_else(|e| panic!("compose celonis.standalone.wasm: {e}"));
    std::fs::write(out.join("celonis.standalone.wasm"), &standalone).unwrap();

    // Also where a user finds them: target/components/.
    let public = root.join("target").join("components");
    std::fs::create_dir_all(&public).unwrap();
    std::fs::copy(
        built.join("connector_celonis.wasm"),
        public.join("celonis.wasm"),
    )
    .unwrap();
    std::fs::write(public.join("celonis.standalone.wasm"), &standalone).unwrap();
}

/// `wac plug`: the socket's imports satisfied by the plug's exports.
fn compose(socket: &Path, plug: &Path) -> Result<Vec<u8>, String> {
    use wac_graph::{types::Package, CompositionGraph, EncodeOptions};
    let mut graph = CompositionGraph::new();
    let pkg = Package::from_file("connhost:connector", None, socket, graph.types_mut())
        .map_err(|e| format!("{e:#}"))?;
    let socket = graph.register_package(pkg).map_err(|e| e.to_string())?;
    let pkg = Package::from_file("connhost:standalone", None, plug, graph.types_mut())
        .map_err(|e| format!("{e:#}"))?;
    let plug = graph.register_package(pkg).map_err(|e| e.to_string())?;
    wac_graph::plug(&mut graph, vec![plug], socket).map_err(|e| format!("{e:?}"))?;
    graph
        .encode(EncodeOptions::default())
        .map_err(|e| format!("{e:?}"))
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
        _ => println!(
            "cargo:warning=`rustup target add wasm32-wasip2` failed; install the target by hand"
        ),
    }
}
