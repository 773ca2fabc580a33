//! OAuth for MCP servers: the user names the server (`mcp_server`); the
//! host reads its protected-resource metadata (RFC 9728) and fills
//! `issuer`; discovery (RFC 8414) gives the endpoints; a client is
//! registered on the fly when none is given (RFC 7591); authorization and
//! token requests carry `resource` (RFC 8707); verification is the MCP
//! `initialize` handshake with the token.

use crate::provider::Provider;
use connhost_sdk::http::{classify, Request};
use connhost_sdk::{
    invalid, secrets, ConnectionInput, ConnectorError, ProviderFailure, Verification,
};

/// The MCP protocol revision this client speaks first.
const PROTOCOL_VERSION: &str = "2025-06-18";

fn failure(status: u16, message: impl Into<String>) -> ConnectorError {
    ConnectorError::ProviderError(ProviderFailure {
        status,
        message: message.into(),
    })
}

impl Provider {
    /// RFC 7591 §3: registers a public client (PKCE, no secret) for
    /// `redirect_uri`; its `client_id`. A secret, if the server issues one
    /// anyway, is kept as `client_secret`.
    pub(crate) fn register_client(
        &self,
        redirect_uri: &str,
        scopes: &[String],
    ) -> Result<String, ConnectorError> {
        let url = self
            .def
            .registration_url
            .as_deref()
            .map(|u| self.url(u))
            .ok_or_else(|| {
                invalid(
                    "client_id",
                    "is required (the server offers no client registration)",
                )
            })?;
        let mut body = serde_json::json!({
            "client_name": "connhost",
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        });
        if !scopes.is_empty() {
            body["scope"] = scopes.join(" ").into();
        }
        let resp = Request::post(&url).json(&body).send()?;
        if resp.status != 201 && resp.status != 200 {
            return Err(classify(&resp));
        }
        let v: serde_json::Value = serde_json::from_slice(&resp.body)
            .map_err(|e| failure(resp.status, format!("client registration answer: {e}")))?;
        let id = v["client_id"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| failure(resp.status, "client registration answer has no client_id"))?;
        if let Some(secret) = v["client_secret"].as_str().filter(|s| !s.is_empty()) {
            secrets::set("client_secret", secret);
        }
        Ok(id.to_string())
    }

    /// MCP's `initialize` with the connection's token: the server's answer
    /// (JSON, or one server-sent event) names it.
    pub(crate) fn mcp_initialize(
        &self,
        input: &ConnectionInput,
        server: &str,
    ) -> Result<Verification, ConnectorError> {
        let body = serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "connhost", "version": env!("CARGO_PKG_VERSION")},
            },
        });
        // Streamable HTTP: the client accepts JSON and an event stream.
        let (mut wire, _) = Request::post(server).json(&body).into_parts();
        wire.headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("accept"));
        wire.headers.push((
            "accept".into(),
            "application/json, text/event-stream".into(),
        ));
        let req = Request::from_wire(wire);
        let resp = self.authed(input, req)?.send()?;
        if resp.status != 200 {
            return Err(classify(&resp));
        }
        let text = String::from_utf8_lossy(&resp.body);
        let event_stream = resp.headers.iter().any(|(k, v)| {
            k == "content-type" && v.to_ascii_lowercase().starts_with("text/event-stream")
        });
        // Streamable HTTP may answer with an event stream: the first
        // `data:` lines hold the response.
        let json = if event_stream {
            text.split("\n\n")
                .filter_map(|event| {
                    let data: Vec<&str> = event
                        .lines()
                        .filter_map(|l| l.strip_prefix("data:"))
                        .map(str::trim_start)
                        .collect();
                    (!data.is_empty()).then(|| data.join("\n"))
                })
                .next()
                .unwrap_or_default()
        } else {
            text.into_owned()
        };
        let v: serde_json::Value = serde_json::from_str(&json).map_err(|e| {
            failure(
                200,
                format!("the MCP initialize answer is not JSON-RPC: {e}"),
            )
        })?;
        if let Some(err) = v.get("error") {
            return Err(failure(
                200,
                format!(
                    "MCP initialize failed: {}",
                    err["message"].as_str().unwrap_or("error")
                ),
            ));
        }
        let name = v["result"]["serverInfo"]["name"]
            .as_str()
            .ok_or_else(|| failure(200, "the MCP initialize answer has no result.serverInfo"))?;
        Ok(Verification {
            account_label: format!("{name} (MCP initialize)"),
        })
    }
}
