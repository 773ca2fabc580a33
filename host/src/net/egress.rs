//! Where the host's requests may go: a name must resolve to public
//! addresses only (every one of them), unless the operator rerouted it
//! (`connect_to`). Connections go to the addresses checked here.

use super::{NetConfig, NetError};
use url::Url;

/// Whether `url` may be a destination of the host's requests, checked
/// as [`HttpsClient`] checks when it connects: an operator's `connect_to`
/// override counts as checked (tests, local development); otherwise the
/// name must resolve, to public addresses only. For a URL the host keeps
/// and calls later (a webhook): refused when it is given, not on every
/// call. (Egress still checks again on each connection.)
pub async fn check_destination(cfg: &NetConfig, url: &Url) -> Result<(), NetError> {
    let host = url
        .host_str()
        .ok_or_else(|| NetError::InvalidRequest("URL has no host".into()))?
        .to_ascii_lowercase();
    let port = url.port_or_known_default().unwrap_or(443);
    if cfg
        .connect_to
        .iter()
        .any(|c| c.host == host && c.port == port)
    {
        return Ok(());
    }
    public_addresses(&host, port).await.map(|_| ())
}

/// The public addresses `host` resolves to. One refusal text whatever the
/// reason (loopback, private, link-local, …), so a plugin cannot map the
/// host's network by the errors it gets; connecting to the addresses
/// resolved here (not resolving again) leaves no rebinding window.
pub(super) async fn public_addresses(
    host: &str,
    port: u16,
) -> Result<Vec<std::net::SocketAddr>, NetError> {
    let refused = || NetError::Network(format!("{host}: not a public address; refused"));
    let name = host.trim_start_matches('[').trim_end_matches(']');
    let resolved: Vec<std::net::SocketAddr> = tokio::net::lookup_host((name, port))
        .await
        .map_err(|_| NetError::Network(format!("{host}: name not resolved")))?
        .collect();
    if !all_public(&resolved) {
        return Err(refused());
    }
    Ok(resolved)
}

/// Whether a name's addresses may be connected to: there is one, and
/// every one is public (a name that resolves to a public and a private
/// address is refused, or a retry could land on the private one).
fn all_public(resolved: &[std::net::SocketAddr]) -> bool {
    !resolved.is_empty()
        && resolved
            .iter()
            .all(|a| connhost_policy::address::is_public(a.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_with_one_private_address_among_public_ones_is_refused() {
        let a = |s: &str| s.parse::<std::net::SocketAddr>().unwrap();
        assert!(all_public(&[
            a("93.184.216.34:443"),
            a("[2606:2800:220:1::1]:443")
        ]));
        for private in [
            "10.0.0.1:443",
            "127.0.0.1:443",
            "169.254.169.254:443",
            "[::1]:443",
        ] {
            assert!(
                !all_public(&[a("93.184.216.34:443"), a(private)]),
                "{private} among public ones"
            );
            assert!(!all_public(&[a(private), a("93.184.216.34:443")]));
        }
        assert!(!all_public(&[]), "no address at all");
    }
}
