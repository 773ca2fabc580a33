//! A connector instantiated for one operation, with typed calls: each
//! method returns the export's value, its `connector-error` as
//! [`Error::Connector`], or a trap/limit as [`Error::Plugin`].

use super::limits::{plugin_error, timed_out};
use super::state::PluginState;
use crate::bindings::types as wit;
use crate::bindings::ConnectorPlugin;
use crate::error::{ConnectorError, Error, Result};
use crate::secret::SecretScope;
use connhost_policy::TemplateError;
use std::time::Duration;
use wasmtime::Store;

/// What an instance leaves when it is done.
#[derive(Debug)]
pub struct CallOutcome {
    /// The connection's secrets as the component left them.
    pub secrets: SecretScope,
    /// Outbound requests sent.
    pub http_requests: u32,
}

/// One instance of a connector in its own store.
pub struct ConnectorInstance {
    pub(super) _permit: super::permits::CallPermit,
    pub(super) store: Store<PluginState>,
    pub(super) bindings: ConnectorPlugin,
    pub(super) connector: String,
    pub(super) timeout: Duration,
    pub(super) max_memory_bytes: usize,
}

/// Defines a typed method per export: bounded by the call timeout, the
/// guest's `result` mapped onto [`Error::Connector`].
macro_rules! export_calls {
    ($( $(#[$doc:meta])* $name:ident => $call:ident ( $($arg:ident : $ty:ty),* ) -> $out:ty; )*) => {
        impl ConnectorInstance {
            $(
                $(#[$doc])*
                pub async fn $name(&mut self, $($arg: $ty),*) -> Result<$out> {
                    self.store.data_mut().deadline = std::time::Instant::now() + self.timeout;
                    self.store.set_epoch_deadline(1);
                    let guest = self.bindings.connhost_connector_connector();
                    let call = guest.$call(&mut self.store, $($arg),*);
                    let result = bounded(&self.connector, self.timeout, self.max_memory_bytes, call).await?;
                    // A provider's words may repeat what it was sent.
                    let secrets = &self.store.data().secrets;
                    result.map_err(|e| Error::Connector(ConnectorError::from(e).map_text(|t| secrets.scrub(t))))
                }
            )*
        }
    };
}

export_calls! {
    /// `create`: check fields, obtain access.
    create => call_create(input: &wit::ConnectionInput) -> wit::ConnectionState;
    /// `verify`: prove the connection works.
    verify => call_verify(input: &wit::ConnectionInput) -> wit::Verification;
    /// `refresh`: renew access.
    refresh => call_refresh(input: &wit::ConnectionInput) -> wit::RefreshOutcome;
    /// `validate-scopes`: `required` ⊆ `granted`, or `account-validation`.
    validate_scopes => call_validate_scopes(required: &[String], granted: &[String]) -> ();
    /// `authorize-url`: the provider's consent URL.
    authorize_url => call_authorize_url(input: &wit::ConnectionInput, request: &wit::AuthorizeRequest) -> wit::Authorization;
    /// `exchange-code`: redeem an authorization code.
    exchange_code => call_exchange_code(input: &wit::ConnectionInput, exchange: &wit::CodeExchange) -> wit::ConnectionState;
    /// `revoke`: revoke tokens at the provider.
    revoke => call_revoke(input: &wit::ConnectionInput) -> ();
    /// `allowed-origins`: origins the connection may call beyond the templates.
    allowed_origins => call_allowed_origins(input: &wit::ConnectionInput) -> Vec<String>;
    /// `authenticate-request`: the connection's credentials on a request.
    authenticate_request => call_authenticate_request(input: &wit::ConnectionInput, request: &crate::bindings::http::Request) -> crate::bindings::http::Request;
}

impl ConnectorInstance {
    /// Sends `request` as the component's own requests are sent: this
    /// instance's allowlist, secrets attached by name, no redirects, the
    /// body cap and deadline. For requests the platform makes through a
    /// connection (after `authenticate-request`).
    pub async fn send(
        &mut self,
        request: crate::bindings::http::Request,
    ) -> Result<crate::bindings::http::Response> {
        // With what `add-credentials` staged in `authenticate-request`.
        let state = self.store.data_mut();
        let extra = std::mem::take(&mut state.http.staged);
        match state.http().send_extra(request, extra).await {
            Ok(sent) => sent.map_err(refusal),
            Err(e) => Err(Error::Runtime(e.to_string())),
        }
    }

    /// `request` as [`ConnectorInstance::send`] would send it (policy
    /// checked, secrets attached), and the client to send it with, for
    /// the pass-through proxy, which streams the body itself.
    pub fn outbound(
        &mut self,
        request: crate::bindings::http::Request,
    ) -> Result<(crate::net::OutRequest, crate::net::HttpsClient)> {
        let state = self.store.data_mut();
        let extra = std::mem::take(&mut state.http.staged);
        let client = state.http.client.clone();
        let out = state.http().outbound(request, extra).map_err(refusal)?;
        Ok((out, client))
    }
}

/// Why a request the host sent itself got no response, as the host's error.
pub fn net_failure(e: crate::net::NetError) -> Error {
    refusal(crate::capabilities::http::from_net(e))
}

/// A refusal or failure of the `http` capability as the host's error.
fn refusal(e: crate::bindings::http::Error) -> Error {
    use crate::bindings::http::Error as H;
    match e {
        H::DeniedHost(target) => ConnectorError::DeniedHost { target }.into(),
        H::InvalidRequest(reason) => Error::invalid("request", reason),
        H::Network(message) => ConnectorError::Network { message }.into(),
        H::Timeout(message) => ConnectorError::Timeout { message }.into(),
        H::TooLarge(n) => ConnectorError::Network {
            message: format!("the response is larger than the {n}-byte cap"),
        }
        .into(),
    }
}

impl ConnectorInstance {
    /// `manifest`: what the connector is (no imports used).
    pub async fn manifest(&mut self) -> Result<wit::ConnectorManifest> {
        self.store.data_mut().deadline = std::time::Instant::now() + self.timeout;
        self.store.set_epoch_deadline(1);
        let guest = self.bindings.connhost_connector_connector();
        let call = guest.call_manifest(&mut self.store);
        bounded(&self.connector, self.timeout, self.max_memory_bytes, call).await
    }

    /// Lets the rest of this instance's calls reach `origins` too (what
    /// `allowed-origins` answered); each must be a bare https origin.
    pub fn allow_origins(&mut self, origins: &[String]) -> Result<()> {
        let state = self.store.data_mut();
        state
            .allowlist
            .add_origins(origins)
            .map_err(|e: TemplateError| Error::Plugin {
                connector: self.connector.clone(),
                reason: format!("allowed-origins: {e}"),
            })
    }

    /// The connection's secrets as they stand now.
    pub fn secrets(&self) -> &SecretScope {
        &self.store.data().secrets
    }

    /// Ends the instance, handing back the secrets and statistics.
    pub fn finish(self) -> CallOutcome {
        let state = self.store.into_data();
        CallOutcome {
            secrets: state.secrets,
            http_requests: state.http.requests,
        }
    }
}

/// Runs one export call under the wall-clock limit: the epoch deadline
/// stops runaway wasm, this also bounds time spent in host calls.
pub(super) async fn bounded<T>(
    connector: &str,
    timeout: Duration,
    max_memory_bytes: usize,
    call: impl std::future::Future<Output = wasmtime::Result<T>>,
) -> Result<T> {
    // A small grace lets the epoch trap win the race.
    let call = tokio::time::timeout(timeout + Duration::from_millis(200), call);
    match off_the_workers(call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(plugin_error(connector, e, timeout, max_memory_bytes)),
        Err(_) => Err(timed_out(connector, timeout)),
    }
}

/// Runs a guest call on a thread of its own, not on one of the runtime's
/// workers: the worker hands its other tasks on (`block_in_place`) and
/// this thread drives the call to its end. A looping or slow guest then
/// costs its own thread, which the OS time-slices with everything else,
/// and never delays health checks or another team's requests queued
/// behind it on a worker. (Call slots, `permits`, bound the threads.) On
/// a current-thread runtime (some tests) the call just runs in place.
async fn off_the_workers<F: std::future::Future>(call: F) -> F::Output {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| h.block_on(call))
        }
        _ => call.await,
    }
}
