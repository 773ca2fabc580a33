//! OAuth 2.0 protected-resource discovery (RFC 9728), for connectors whose
//! manifest declares the origin pattern `{resource:NAME}`: field NAME is a
//! protected resource the user named (an MCP server). Before the connector
//! first runs on such a connection, the host itself reads the resource's
//! metadata, through the same egress policy as every call, and takes the
//! authorization server it lists as the connection's issuer. The connector
//! then discovers that server (RFC 8414) and may call it because `{issuer}`
//! matches it: the authorization server a connection reaches is the one
//! the resource the user chose names, never one a connector made up.

use super::Manager;
use crate::error::{ConnectorError, Error, Result};
use crate::manifest::Manifest;
use crate::net::{HttpsClient, NetConfig, OutRequest};
use crate::store::ConnectionRecord;
use std::time::Duration;
use url::Url;

/// The part of RFC 9728 §2's metadata the host reads.
#[derive(serde::Deserialize)]
struct Metadata {
    resource: String,
    #[serde(default)]
    authorization_servers: Vec<String>,
}

impl Manager {
    /// Sets the issuer field of a `{resource:NAME}` connection that has
    /// none yet from the resource's metadata; a no-op otherwise.
    pub(super) async fn discover_resource(
        &self,
        manifest: &Manifest,
        record: &mut ConnectionRecord,
    ) -> Result<()> {
        let Some(issuer_field) = manifest.issuer_field.as_deref() else {
            return Ok(());
        };
        if record
            .fields
            .get(issuer_field)
            .is_some_and(|v| !v.is_empty())
        {
            return Ok(());
        }
        let Some(field) = manifest.origin_patterns.iter().find_map(|p| {
            p.strip_prefix("{resource:")
                .and_then(|r| r.strip_suffix('}'))
        }) else {
            return Ok(());
        };
        let Some(resource) = record.fields.get(field).cloned() else {
            return Ok(());
        };
        let server = authorization_server(&self.cfg.net, field, &resource).await?;
        // Origins only: a resource URL may carry a token in its path.
        tracing::info!(connection = %record.id, server = %server, "protected resource names its authorization server");
        record.fields.insert(issuer_field.to_string(), server);
        Ok(())
    }
}

/// The first authorization server `resource`'s metadata lists. The
/// metadata must name `resource` itself (RFC 9728 §3.3), and the server
/// must be an https issuer identifier (RFC 8414 §2).
pub async fn authorization_server(net: &NetConfig, field: &str, resource: &str) -> Result<String> {
    let url = Url::parse(resource).map_err(|e| Error::invalid(field, e.to_string()))?;
    if url.scheme() != "https"
        || url.fragment().is_some()
        || url.host_str().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(Error::invalid(
            field,
            "must be an https URL without user info or a fragment (RFC 9728 §1.2)",
        ));
    }
    let origin = match url.port() {
        Some(p) => format!("https://{}:{p}", url.host_str().unwrap_or_default()),
        None => format!("https://{}", url.host_str().unwrap_or_default()),
    };
    // §3.1: the well-known suffix goes between the host and the path; a
    // server that only publishes it at the root is common (MCP allows it).
    let path = url.path().trim_end_matches('/');
    let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
    let mut candidates = vec![format!(
        "{origin}/.well-known/oauth-protected-resource{path}{query}"
    )];
    if !path.is_empty() {
        candidates.push(format!("{origin}/.well-known/oauth-protected-resource"));
    }
    let client = HttpsClient::new(net.clone()).map_err(Error::Runtime)?;
    let mut last = 0;
    for candidate in candidates {
        let resp = client
            .send(OutRequest {
                method: hyper::Method::GET,
                url: Url::parse(&candidate).map_err(|e| Error::invalid(field, e.to_string()))?,
                headers: vec![("accept".into(), "application/json".into())],
                body: Vec::new(),
                timeout: Some(Duration::from_secs(10)),
            })
            .await
            .map_err(|e| {
                Error::Connector(ConnectorError::Network {
                    message: format!("reading the protected-resource metadata at {origin}: {e}"),
                })
            })?;
        if resp.status == 404 {
            last = 404;
            continue;
        }
        if resp.status != 200 {
            last = resp.status;
            break;
        }
        let meta: Metadata = serde_json::from_slice(&resp.body).map_err(|e| {
            Error::invalid(
                field,
                format!("its protected-resource metadata is not valid: {e}"),
            )
        })?;
        if meta.resource != resource {
            return Err(Error::invalid(
                field,
                format!(
                    "its metadata names the resource `{}`, not this one (RFC 9728 §3.3); refused",
                    meta.resource
                ),
            ));
        }
        let Some(server) = meta.authorization_servers.into_iter().next() else {
            return Err(Error::invalid(
                field,
                "its metadata lists no authorization server",
            ));
        };
        let ok = Url::parse(&server).is_ok_and(|u| {
            u.scheme() == "https"
                && u.query().is_none()
                && u.fragment().is_none()
                && u.host_str().is_some()
                && u.username().is_empty()
                && u.password().is_none()
        });
        if !ok {
            return Err(Error::invalid(
                field,
                format!("its authorization server `{server}` is not an https issuer (RFC 8414 §2); refused"),
            ));
        }
        return Ok(server);
    }
    Err(Error::invalid(
        field,
        format!("no protected-resource metadata (RFC 9728) at {origin} (HTTP {last})"),
    ))
}
