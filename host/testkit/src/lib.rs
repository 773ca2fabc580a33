//! Test doubles for connhost: third-party providers on loopback speaking
//! their real protocols over real HTTPS with a throwaway CA. Used by the
//! end-to-end tests, the benchmark and `connhost demo`; the `connhost`
//! library itself ships none of this.
//!
//! * [`celonis`]: a fake Celonis (token endpoint, Intelligence and Data
//!   Push APIs), behaviour chosen by the credential used;
//! * [`oauth`]: a fake OAuth 2.0 / OpenID provider (authorization code
//!   with PKCE, refresh rotation, revocation, discovery);
//! * [`mcp`]: a fake OAuth-protected MCP server and its authorization
//!   server (RFC 9728, 8414, 7591, 8707);
//! * [`mtls`]: a fake token endpoint that authenticates clients by TLS
//!   certificate (RFC 8705);
//! * [`oauth1`]: a fake OAuth 1.0a provider (RFC 5849, signatures
//!   recomputed from the wire);
//! * [`conformance`]: the provider set-up of the cross-host conformance suite;
//! * [`pki`]: the throwaway CA.

pub mod catalogue;
pub mod celonis;
pub mod conformance;
pub mod mcp;
pub mod mtls;
pub mod oauth;
pub mod oauth1;
pub mod pki;
mod server;
pub mod sigv4;
pub mod webhook;

pub use pki::TestPki;
