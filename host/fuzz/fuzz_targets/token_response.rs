//! Token endpoint responses (`connhost_sdk::oauth::parse_token_response`).
//!
//! Input: a first line `STATUS [DEFAULT_LIFETIME]` (decimal; a missing or
//! unreadable status is 200), then the response body.

#![no_main]

use connhost_sdk::http::Response;
use connhost_sdk::oauth::parse_token_response;
use connhost_sdk::ConnectorError;
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    let (head, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let head = String::from_utf8_lossy(head);
    let mut words = head.split_whitespace();
    let status: u16 = words.next().and_then(|w| w.parse().ok()).unwrap_or(200);
    let default_lifetime: Option<u64> = words.next().and_then(|w| w.parse().ok());
    let requested = vec!["read".to_string(), "write".to_string()];
    let resp = Response {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_vec(),
    };

    match parse_token_response(&resp, &requested, default_lifetime, NOW) {
        Ok(t) => {
            assert!((200..300).contains(&status), "HTTP {status} accepted");
            assert!(!t.access_token.is_empty());
            assert!(t.refresh_token.as_ref().is_none_or(|r| !r.is_empty()));
            // What it read is what the body says.
            // (serde_json skips UTF-8 checks in strings it ignores, so
            // read the body lossily: the fields it used are valid UTF-8.)
            // serde_json also skips a number out of f64 range in a field it
            // ignores (`"x": 1e370`), which `Value` refuses: then there is
            // nothing to compare against.
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&String::from_utf8_lossy(body))
            else {
                return;
            };
            assert_eq!(v["access_token"].as_str(), Some(t.access_token.as_str()));
            let token_type = v["token_type"].as_str().expect("token_type");
            assert!(token_type.eq_ignore_ascii_case("bearer"), "{token_type:?}");
            match v["scope"].as_str() {
                Some(scope) => {
                    let words: Vec<&str> = scope.split_whitespace().collect();
                    assert_eq!(t.state.granted_scopes, words);
                }
                None => assert_eq!(t.state.granted_scopes, requested),
            }
            if let Some(at) = t.state.expires_at {
                assert!(at >= NOW, "expires at {at}, before now ({NOW})");
            }
            assert!(t.state.fields.is_empty());
        }
        Err(e) => {
            // Errors carry a short message (provider text is capped).
            let message = match &e {
                ConnectorError::Unauthorized(m) | ConnectorError::ReauthorizationRequired(m) => {
                    m.clone()
                }
                ConnectorError::InvalidInput(f) => {
                    assert_eq!(f.field, "scopes");
                    f.reason.clone()
                }
                ConnectorError::ProviderError(p) => {
                    assert_eq!(p.status, status);
                    if !(200..300).contains(&status) {
                        p.message.clone()
                    } else {
                        String::new() // serde's message quotes the input
                    }
                }
                ConnectorError::AccountValidation(_) => {
                    assert_eq!(status, 403);
                    String::new()
                }
                ConnectorError::RateLimited(_) => {
                    assert_eq!(status, 429);
                    String::new()
                }
                other => panic!("unexpected error for HTTP {status}: {other:?}"),
            };
            assert!(message.chars().count() <= 300, "{} chars", message.len());
        }
    }
});
