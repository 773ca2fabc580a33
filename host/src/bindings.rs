//! Host-side bindings for the `connector-plugin` world, generated from `wit/`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "connector-plugin",
    imports: { default: async | trappable | tracing },
    exports: { default: async },
});

pub use connhost::connector::{http, log, secrets, types};
