//! connhost's end-to-end suite, one binary (one link of wasmtime) with a
//! module per area. Real components, the real runtime and the real
//! `connhost` binary, against fake third-party providers on loopback.

#![allow(clippy::too_many_arguments)]

#[allow(dead_code)]
mod common;
mod conformance;
#[allow(dead_code)]
mod db;
mod docs;

mod catalogue;
mod cli;
mod costs;
mod holes;
mod hostile;
mod mcp;
mod migrate;
mod mtls;
mod neighbours;
mod nextbug;
mod oauth;
mod oauth1;
mod passthrough;
mod platform;
mod proxy;
mod replicas;
mod rollback;
mod rotation;
mod sandbox;
mod serve;
mod standalone;
mod store;
mod torture;
mod trust;
