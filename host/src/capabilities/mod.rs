//! What a plugin can touch: one module per imported WIT interface, each a
//! small context, a borrowed view implementing the generated `Host` trait,
//! and an `add_to_linker(linker, fn(&mut T) -> View)` that never names the
//! runtime's store type.
//!
//! * [`http`]: outbound HTTPS, policed by [`http::HttpHooks`];
//! * [`secrets`]: the connection's own secrets, for one call;
//! * [`log`]: messages to the host's log;
//! * [`signing`]: signatures with the connection's secrets, by name.

pub mod http;
pub mod log;
pub mod secrets;
pub mod signing;
