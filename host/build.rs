//! Builds the shipped connector components for `wasm32-wasip2` so the host
//! can embed them (`connhost demo`, tests, benches) without a separate step.

use std::path::{Path, PathBuf};
use std::process::Command;

const COMPONENTS: &[(&str, &str)] = &[
    ("connector-celonis", "connector_celonis"),
    ("connector-testbed", "connector_testbed"),
    ("connector-generic", "connector_generic"),
    ("connector-standalone", "connector_standalone"),
    ("connector-example-apikey", "connector_example_apikey"),
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
            "--profile",
            "guest",
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
    let built = target_dir.join("wasm32-wasip2").join("guest");
    let wasm_opt = wasm_opt();
    if wasm_opt.is_none() {
        println!(
            "cargo:warning=wasm-opt (Debian: binaryen) not found: shipping components unoptimized"
        );
    }
    for (_, file) in COMPONENTS {
        let src = built.join(format!("{file}.wasm"));
        let bytes = std::fs::read(&src).unwrap_or_else(|e| panic!("read {}: {e}", src.display()));
        let bytes = match &wasm_opt {
            Some(tool) => optimize_component(tool, &bytes, &out)
                .unwrap_or_else(|e| panic!("wasm-opt {}: {e}", src.display())),
            None => bytes,
        };
        std::fs::write(out.join(format!("{file}.wasm")), &bytes).unwrap();
    }
    let built = &out;
    write_catalogue(&root, &out);

    // The Celonis connector with its imports satisfied on standard WASI,
    // for stock runtimes (`wasmtime run -S http -S config`).
    let standalone = compose(
        &built.join("connector_celonis.wasm"),
        &built.join("connector_standalone.wasm"),
    )
    .unwrap_or_else(|e| panic!("compose celonis.standalone.wasm: {e}"));
    std::fs::write(out.join("celonis.standalone.wasm"), &standalone).unwrap();
    // The generic connector too: its signing modes (HMAC, SigV4, OAuth 1.0a)
    // use the adapter's `signing`.
    let generic_standalone = compose(
        &built.join("connector_generic.wasm"),
        &built.join("connector_standalone.wasm"),
    )
    .unwrap_or_else(|e| panic!("compose generic.standalone.wasm: {e}"));
    std::fs::write(out.join("generic.standalone.wasm"), &generic_standalone).unwrap();

    // Also where a user finds them: target/components/.
    let public = root.join("target").join("components");
    std::fs::create_dir_all(&public).unwrap();
    std::fs::copy(
        built.join("connector_celonis.wasm"),
        public.join("celonis.wasm"),
    )
    .unwrap();
    std::fs::write(public.join("celonis.standalone.wasm"), &standalone).unwrap();
    std::fs::write(public.join("generic.standalone.wasm"), &generic_standalone).unwrap();
    std::fs::copy(
        built.join("connector_generic.wasm"),
        public.join("generic.wasm"),
    )
    .unwrap();
}

/// The generic connector's shipped definitions, for the host's catalogue
/// view (`provider list`, `GET /v1/providers`): the same files the
/// connector embeds and enforces.
fn write_catalogue(root: &Path, out: &Path) {
    use std::fmt::Write as _;
    let dir = root.join("component").join("generic").join("providers");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read component/generic/providers")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut text = String::from("&[\n");
    for f in &files {
        writeln!(text, "    include_str!({:?}),", f.display().to_string()).unwrap();
    }
    text.push_str("]\n");
    std::fs::write(out.join("catalogue.rs"), text).unwrap();
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

/// `wasm-opt` from binaryen, if installed (`.ci/run` installs it).
fn wasm_opt() -> Option<PathBuf> {
    println!("cargo:rerun-if-env-changed=CONNHOST_WASM_OPT");
    if let Ok(p) = std::env::var("CONNHOST_WASM_OPT") {
        return (!p.is_empty()).then(|| PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("wasm-opt"))
        .find(|p| p.is_file())
}

/// `wasm-opt -Oz` over each core module of a component (wasm-opt reads
/// core modules only): the component's top-level sections are copied as
/// they are, its core module sections (id 1) replaced by optimized ones.
fn optimize_component(tool: &Path, component: &[u8], scratch: &Path) -> Result<Vec<u8>, String> {
    fn leb(bytes: &[u8], pos: &mut usize) -> Result<u32, String> {
        let (mut value, mut shift) = (0u32, 0);
        loop {
            let b = *bytes.get(*pos).ok_or("truncated LEB128")?;
            *pos += 1;
            value |= u32::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
            if shift > 28 {
                return Err("LEB128 too long".into());
            }
        }
    }
    fn put_leb(out: &mut Vec<u8>, mut v: u32) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    // A component: magic, version 0x0d, layer 1.
    if component.len() < 8 || component[..4] != *b"\0asm" || component[6..8] != [1, 0] {
        return Err("not a component".into());
    }
    let mut out = component[..8].to_vec();
    let mut pos = 8;
    while pos < component.len() {
        let id = component[pos];
        pos += 1;
        let len = leb(component, &mut pos)? as usize;
        let body = component
            .get(pos..pos + len)
            .ok_or("section past the end")?;
        pos += len;
        let body = if id == 1 {
            let input = scratch.join("module.in.wasm");
            let output = scratch.join("module.out.wasm");
            std::fs::write(&input, body).map_err(|e| e.to_string())?;
            let status = Command::new(tool)
                .arg("-Oz")
                .args([
                    "--enable-bulk-memory",
                    "--enable-sign-ext",
                    "--enable-mutable-globals",
                ])
                .args(["--enable-nontrapping-float-to-int", "--enable-multivalue"])
                .args(["--enable-reference-types"])
                .arg(&input)
                .arg("-o")
                .arg(&output)
                .status()
                .map_err(|e| e.to_string())?;
            if !status.success() {
                return Err(format!("wasm-opt exited with {status}"));
            }
            let optimized = std::fs::read(&output).map_err(|e| e.to_string())?;
            let _ = std::fs::remove_file(&input);
            let _ = std::fs::remove_file(&output);
            // Keep the original if wasm-opt made it larger.
            if optimized.len() < body.len() {
                optimized
            } else {
                body.to_vec()
            }
        } else {
            body.to_vec()
        };
        out.push(id);
        put_leb(&mut out, body.len() as u32);
        out.extend(body);
    }
    Ok(out)
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
