//! Where a browser may be sent after consent: a team allows URL prefixes,
//! and a flow's return URL must fall under one of them. Without this the
//! callback would be an open redirect that also hands out connection ids.

use url::Url;

/// Parses a return URL (or an allowed prefix): absolute, `https` (or
/// `http` on a loopback host, for development), no user info, no fragment.
pub fn parse(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("`{text}`: not an absolute URL ({e})"))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        other => {
            return Err(format!(
                "`{text}`: must be https (http only on localhost), got {other}"
            ))
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("`{text}`: must not carry user info"));
    }
    if url.fragment().is_some() {
        return Err(format!("`{text}`: must not carry a fragment"));
    }
    Ok(url)
}

/// Whether `url` falls under one of `allowed`: the same scheme, host and
/// port, and a path equal to the prefix's or below it on a `/` boundary.
pub fn allowed(url: &Url, allowed: &[String]) -> bool {
    allowed.iter().filter_map(|a| parse(a).ok()).any(|prefix| {
        let (p, u) = (prefix.path(), url.path());
        prefix.scheme() == url.scheme()
            && prefix.host_str() == url.host_str()
            && prefix.port_or_known_default() == url.port_or_known_default()
            && (u == p
                || p.ends_with('/') && u.starts_with(p)
                || u.strip_prefix(p).is_some_and(|rest| rest.starts_with('/')))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(url: &str, list: &[&str]) -> bool {
        let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        allowed(&parse(url).unwrap(), &list)
    }

    #[test]
    fn user_info_of_either_kind_is_refused() {
        for url in [
            "https://user@app.example.com/",
            "https://:pw@app.example.com/",
            "https://user:pw@app.example.com/",
        ] {
            let e = parse(url).unwrap_err();
            assert!(e.contains("user info"), "{url}: {e}");
        }
        assert!(parse("https://app.example.com/").is_ok());
    }

    #[test]
    fn a_url_must_fall_under_a_prefix_on_a_segment_boundary() {
        let list = ["https://app.example.com/connections"];
        assert!(ok("https://app.example.com/connections", &list));
        assert!(ok("https://app.example.com/connections/done?x=1", &list));
        assert!(!ok("https://app.example.com/connectionsX", &list));
        assert!(!ok("https://app.example.com/", &list));
        assert!(!ok("https://app.example.com.evil.net/connections", &list));
        assert!(!ok("https://app.example.com:8443/connections", &list));
        assert!(ok(
            "https://app.example.com/anything",
            &["https://app.example.com/"]
        ));
        assert!(!ok("https://app.example.com/x", &[]));
    }

    #[test]
    fn refuses_other_schemes_user_info_and_fragments() {
        assert!(parse("javascript:alert(1)").is_err());
        assert!(parse("http://app.example.com/").is_err());
        assert!(parse("http://localhost:3000/back").is_ok());
        assert!(parse("https://user:pw@app.example.com/").is_err());
        assert!(parse("https://app.example.com/#x").is_err());
        assert!(parse("/relative").is_err());
    }
}
