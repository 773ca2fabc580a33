//! Where a connection's secrets go on a request: the one implementation
//! behind the host's `http` capability and the standalone adapter, so the
//! two cannot drift. Each host turns its generated `auth`, `credential`
//! and `form-value` types into a [`Placement`] or a [`FormValue`] and
//! lends a lookup of secrets by name; a secret that is not set is named,
//! never guessed.

use crate::basic;
use url::{form_urlencoded, Url};

/// A request being built: what attachment may change.
#[derive(Clone, Debug)]
pub struct Draft {
    /// Target; query credentials are appended to it.
    pub url: Url,
    /// Header names as given; lookups ignore case.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

/// One secret placed on a request.
#[derive(Clone, Copy, Debug)]
pub enum Placement<'a> {
    /// `name: prefix + secret`.
    Header {
        /// Header name.
        name: &'a str,
        /// Text before the value (`Bearer `).
        prefix: &'a str,
        /// Secret name.
        secret: &'a str,
    },
    /// `?name=secret` appended.
    Query {
        /// Parameter name.
        name: &'a str,
        /// Secret name.
        secret: &'a str,
    },
    /// `Authorization: Basic` with a plain user name and a secret password.
    Basic {
        /// The user name (an OAuth client id).
        username: &'a str,
        /// Secret name of the password.
        password_secret: &'a str,
        /// RFC 6749 §2.3.1 form-encoding, or raw.
        encoding: basic::Encoding,
    },
    /// `Authorization: Basic` whose user name is a secret too (an API key
    /// as the user name); no password is an empty one.
    BasicSecretUser {
        /// Secret name of the user name.
        username_secret: &'a str,
        /// Secret name of the password, if any.
        password_secret: Option<&'a str>,
    },
    /// A string set inside a JSON body at an RFC 6901 pointer.
    Json {
        /// `/a/b`: the member `b` of the object at `/a`.
        pointer: &'a str,
        /// Secret name.
        secret: &'a str,
    },
}

/// One field of a form body.
#[derive(Clone, Copy, Debug)]
pub enum FormValue<'a> {
    /// Plain text.
    Text(&'a str),
    /// The value of the named secret.
    Secret(&'a str),
}

/// Why a secret could not be placed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AttachError {
    /// The named secret is not set for this connection.
    #[error("secret `{0}` is not set")]
    Missing(String),
    /// The placement cannot be made (a bad header name, a body that is not
    /// JSON, a user name with `:`).
    #[error("{0}")]
    Invalid(String),
}

/// Looks a secret's value up by name.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn need(secrets: Lookup<'_>, name: &str) -> Result<String, AttachError> {
    secrets(name).ok_or_else(|| AttachError::Missing(name.to_string()))
}

fn replace_header(headers: &mut Vec<(String, String)>, name: &str, value: String) {
    headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    headers.push((name.to_string(), value));
}

/// Puts one secret where `p` says.
pub fn place(d: &mut Draft, p: Placement<'_>, secrets: Lookup<'_>) -> Result<(), AttachError> {
    match p {
        Placement::Header {
            name,
            prefix,
            secret,
        } => {
            if name.is_empty()
                || name.eq_ignore_ascii_case("host")
                || name.bytes().any(|b| b <= b' ' || b == b':' || b == 0x7f)
            {
                return Err(AttachError::Invalid(format!("bad header name `{name}`")));
            }
            d.headers.push((
                name.to_string(),
                format!("{prefix}{}", need(secrets, secret)?),
            ));
        }
        Placement::Query { name, secret } => {
            let value = need(secrets, secret)?;
            d.url.query_pairs_mut().append_pair(name, &value);
        }
        Placement::Basic {
            username,
            password_secret,
            encoding,
        } => {
            let password = need(secrets, password_secret)?;
            let value = basic::header(username, &password, encoding);
            replace_header(&mut d.headers, "authorization", value);
        }
        Placement::BasicSecretUser {
            username_secret,
            password_secret,
        } => {
            let user = need(secrets, username_secret)?;
            if user.contains(':') {
                return Err(AttachError::Invalid(format!(
                    "secret `{username_secret}` holds `:`, which a Basic user name cannot (RFC 7617)"
                )));
            }
            let password = match password_secret {
                Some(p) => need(secrets, p)?,
                None => String::new(),
            };
            let value = basic::header(&user, &password, basic::Encoding::Raw);
            replace_header(&mut d.headers, "authorization", value);
        }
        Placement::Json { pointer, secret } => {
            let mut doc: serde_json::Value = serde_json::from_slice(&d.body).map_err(|e| {
                AttachError::Invalid(format!("a json credential needs a JSON body: {e}"))
            })?;
            let (parent, key) = pointer.rsplit_once('/').ok_or_else(|| {
                AttachError::Invalid(format!("`{pointer}` is not a JSON pointer"))
            })?;
            let key = key.replace("~1", "/").replace("~0", "~");
            let Some(serde_json::Value::Object(obj)) = doc.pointer_mut(parent) else {
                return Err(AttachError::Invalid(format!(
                    "the JSON body has no object at `{parent}` for `{pointer}`"
                )));
            };
            obj.insert(key, serde_json::Value::String(need(secrets, secret)?));
            d.body = serde_json::to_vec(&doc)
                .map_err(|e| AttachError::Invalid(format!("JSON body: {e}")))?;
        }
    }
    Ok(())
}

/// Makes the body a form of `fields`, secrets filled in, and says so in
/// the one `content-type` header (a guest's own is replaced).
pub fn form<'a>(
    d: &mut Draft,
    fields: impl IntoIterator<Item = (&'a str, FormValue<'a>)>,
    secrets: Lookup<'_>,
) -> Result<(), AttachError> {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields {
        match value {
            FormValue::Text(t) => out.append_pair(name, t),
            FormValue::Secret(s) => out.append_pair(name, &need(secrets, s)?),
        };
    }
    d.body = out.finish().into_bytes();
    replace_header(
        &mut d.headers,
        "content-type",
        "application/x-www-form-urlencoded".into(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(body: &[u8]) -> Draft {
        Draft {
            url: Url::parse("https://api.example.com/v1?a=1").unwrap(),
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: body.to_vec(),
        }
    }

    fn secrets(name: &str) -> Option<String> {
        match name {
            "key" => Some("k3y".into()),
            "id" => Some("ab:c".into()),
            "user" => Some("u1".into()),
            _ => None,
        }
    }

    #[test]
    fn a_form_replaces_the_guests_content_type() {
        let mut d = draft(b"");
        form(
            &mut d,
            [
                ("grant_type", FormValue::Text("x y")),
                ("k", FormValue::Secret("key")),
            ],
            &secrets,
        )
        .unwrap();
        assert_eq!(d.body, b"grant_type=x+y&k=k3y");
        assert_eq!(
            d.headers,
            [(
                "content-type".to_string(),
                "application/x-www-form-urlencoded".to_string()
            )]
        );
    }

    #[test]
    fn each_placement_lands_where_it_says() {
        let mut d = draft(br#"{"auth":{}}"#);
        for p in [
            Placement::Header {
                name: "X-Key",
                prefix: "Token ",
                secret: "key",
            },
            Placement::Query {
                name: "api_key",
                secret: "key",
            },
            Placement::Json {
                pointer: "/auth/token",
                secret: "key",
            },
            Placement::BasicSecretUser {
                username_secret: "user",
                password_secret: None,
            },
        ] {
            place(&mut d, p, &secrets).unwrap();
        }
        assert_eq!(d.url.as_str(), "https://api.example.com/v1?a=1&api_key=k3y");
        assert!(d.headers.contains(&("X-Key".into(), "Token k3y".into())));
        // base64("u1:")
        assert!(d
            .headers
            .contains(&("authorization".into(), "Basic dTE6".into())));
        assert_eq!(d.body, br#"{"auth":{"token":"k3y"}}"#);
        // A second Basic replaces the first: one Authorization header.
        place(
            &mut d,
            Placement::Basic {
                username: "client",
                password_secret: "key",
                encoding: basic::Encoding::Raw,
            },
            &secrets,
        )
        .unwrap();
        let auth: Vec<_> = d
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .collect();
        assert_eq!(auth.len(), 1, "{auth:?}");
    }

    #[test]
    fn refusals_name_their_cause() {
        let mut d = draft(b"not json");
        let e = |p| place(&mut draft(b"{}"), p, &secrets).unwrap_err();
        assert_eq!(
            e(Placement::Query {
                name: "q",
                secret: "gone"
            }),
            AttachError::Missing("gone".into())
        );
        for bad in ["Host", "X Y", "a:b", ""] {
            let err = e(Placement::Header {
                name: bad,
                prefix: "",
                secret: "key",
            });
            assert!(
                matches!(err, AttachError::Invalid(m) if m.contains("header name")),
                "{bad:?}"
            );
        }
        let err = e(Placement::BasicSecretUser {
            username_secret: "id",
            password_secret: None,
        });
        assert!(err.to_string().contains("RFC 7617"), "{err}");
        let err = place(
            &mut d,
            Placement::Json {
                pointer: "/a",
                secret: "key",
            },
            &secrets,
        )
        .unwrap_err();
        assert!(err.to_string().contains("JSON body"), "{err}");
        let err = e(Placement::Json {
            pointer: "token",
            secret: "key",
        });
        assert!(err.to_string().contains("JSON pointer"), "{err}");
        assert_eq!(d.body, b"not json", "a refused placement changes nothing");
    }
}
