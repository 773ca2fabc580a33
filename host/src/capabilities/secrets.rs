//! The `secrets` capability: storage scoped to the one connection a call
//! works on. The scope is opened from the store (decrypted) before the
//! call and sealed back only if the operation succeeds, so a component can
//! neither see another connection's secrets nor leave half a change behind.

use crate::bindings::secrets;
use crate::secret::{Secret, SecretScope};
use wasmtime::component::{HasData, Linker};

/// What the capability works on for one call: the connection's scope.
pub struct SecretsView<'a> {
    /// Connection id, for log fields.
    pub connection: &'a str,
    pub scope: &'a mut SecretScope,
}

impl secrets::Host for SecretsView<'_> {
    #[tracing::instrument(name = "secrets.has", skip(self), fields(connection = %self.connection))]
    async fn has(&mut self, name: String) -> wasmtime::Result<bool> {
        Ok(self.scope.get(&name).is_some())
    }

    #[tracing::instrument(name = "secrets.set", skip(self, value), fields(connection = %self.connection))]
    async fn set(&mut self, name: String, value: String) -> wasmtime::Result<()> {
        self.scope.set(name, Secret::new(value));
        Ok(())
    }

    #[tracing::instrument(name = "secrets.remove", skip(self), fields(connection = %self.connection))]
    async fn remove(&mut self, name: String) -> wasmtime::Result<()> {
        self.scope.remove(&name);
        Ok(())
    }

    #[tracing::instrument(name = "secrets.reveal", skip(self), fields(connection = %self.connection))]
    async fn reveal(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        // Recorded by name only: the value never reaches a log.
        tracing::info!("secret revealed to plugin");
        Ok(self.scope.reveal(&name).map(|s| s.expose().to_string()))
    }
}

struct HasSecrets;
impl HasData for HasSecrets {
    type Data<'a> = SecretsView<'a>;
}

/// Adds `connhost:connector/secrets` to `linker`; `view` picks the call's
/// scope out of the store data.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> SecretsView<'_>,
) -> wasmtime::Result<()> {
    secrets::add_to_linker::<T, HasSecrets>(linker, view)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrets::Host as _;
    use std::collections::BTreeMap;

    #[tokio::test]
    async fn set_remove_reveal_track_changes_and_names() {
        let mut scope = SecretScope::new(BTreeMap::from([("k".into(), Secret::new("v"))]));
        let mut view = SecretsView {
            connection: "conn_x",
            scope: &mut scope,
        };
        assert!(view.has("k".into()).await.unwrap());
        assert_eq!(view.reveal("k".into()).await.unwrap().as_deref(), Some("v"));
        view.remove("missing".into()).await.unwrap();
        assert!(!scope.changed());
        let mut view = SecretsView {
            connection: "conn_x",
            scope: &mut scope,
        };
        view.set("t".into(), "tok".into()).await.unwrap();
        assert!(scope.changed());
        assert_eq!(scope.reveals(), ["k"]);
        assert_eq!(scope.get("t").unwrap().expose(), "tok");
    }
}
