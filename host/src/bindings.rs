//! Host-side bindings for the `connector-plugin` world, generated from
//! `wit/`. Private: capabilities implement the import traits on their own
//! views; the runtime calls the exports.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "connector-plugin",
    // No generated `tracing`: it would log `secrets.set` values at TRACE.
    // Each capability has its own span that names, never shows, a secret.
    imports: { default: async | trappable },
    exports: { default: async },
    additional_derives: [PartialEq, Eq],
});

pub use connhost::connector::{http, log, secrets, signing, types};
