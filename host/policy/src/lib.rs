//! connhost's policy, in plain Rust with no wasmtime: shared by the host
//! (`connhost`) and the standalone WASI adapter (`component/standalone`),
//! so both enforce the same rules from the same code.
//!
//! * [`origin`]: which origins a connection may call (deny by default);
//! * [`address`]: which IP addresses a request may reach (public only);
//! * [`attach`]: where a connection's secrets go on a request;
//! * [`basic`]: `Authorization: Basic` per RFC 6749 §2.3.1;
//! * [`ids`]: what an id that names a file or a team may contain;
//! * [`return_url`]: where a browser may be sent after consent.

#![deny(missing_docs)]

pub mod address;
pub mod attach;
pub mod basic;
pub mod ids;
pub mod origin;
pub mod pattern;
pub mod return_url;

pub use origin::{Allowlist, Origin, TemplateError};
pub use pattern::OriginPattern;
