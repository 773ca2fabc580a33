//! Everything the CLI prints. With `--json`, one JSON document on stdout
//! per command (errors included); without, short human text. Secret
//! values are never in what reaches this module.

use connhost::ConnectionRecord;
use connhost::Manifest;
use connhost::{Refreshed, Verified};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::ExitCode;

pub struct Out {
    json: bool,
}

/// A connection as shown: secret fields as set/unset.
#[derive(Serialize)]
struct ConnectionView<'a> {
    id: &'a str,
    team: &'a str,
    connector: &'a str,
    name: &'a str,
    status: connhost::Status,
    account_label: Option<&'a str>,
    fields: &'a BTreeMap<String, String>,
    secrets: BTreeMap<String, &'static str>,
    granted_scopes: &'a [String],
    /// Origins the connector added beyond its host templates.
    added_origins: &'a [String],
    expires_at: Option<u64>,
    last_error: Option<&'a connhost::LastError>,
    created_at: u64,
    updated_at: u64,
    verified_at: Option<u64>,
}

fn view<'a>(r: &'a ConnectionRecord, manifest: Option<&Manifest>) -> ConnectionView<'a> {
    let mut secrets: BTreeMap<String, &'static str> =
        r.secret_names().map(|n| (n.to_string(), "set")).collect();
    // Secret fields of the connection's auth kind that were never given.
    if let Some(m) = manifest {
        let kind = r
            .fields
            .get(&m.auth_field)
            .and_then(|id| m.auth_kind(id))
            .or(m.auth_kinds.first());
        if let Some(kind) = kind {
            for f in m.fields_for(kind).filter(|f| f.secret) {
                secrets.entry(f.name.clone()).or_insert("unset");
            }
        }
    }
    ConnectionView {
        id: &r.id,
        team: &r.team,
        connector: &r.connector,
        name: &r.name,
        status: r.status,
        account_label: r.account_label.as_deref(),
        fields: &r.fields,
        secrets,
        granted_scopes: &r.granted_scopes,
        added_origins: &r.origins,
        expires_at: r.expires_at,
        last_error: r.last_error.as_ref(),
        created_at: r.created_at,
        updated_at: r.updated_at,
        verified_at: r.verified_at,
    }
}

fn status_text(s: connhost::Status) -> &'static str {
    match s {
        connhost::Status::Created => "created",
        connhost::Status::Ok => "ok",
        connhost::Status::Error => "error",
        connhost::Status::ReauthorizationRequired => "reauthorization-required",
    }
}

fn expiry_text(at: Option<u64>) -> String {
    match at {
        None => "never".into(),
        Some(t) => {
            let now = connhost_now();
            if t > now {
                format!("in {} s", t - now)
            } else {
                format!("{} s ago", now - t)
            }
        }
    }
}

fn connhost_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Text from plugins, providers and users (labels, names, error messages)
/// reaches the terminal: replace control characters, so it cannot send
/// escape sequences, and invisible format characters (bidi overrides such
/// as U+202E, zero-width spaces), so it cannot disguise what it says.
fn printable(text: &str) -> String {
    let format = |c: char| {
        matches!(c, '\u{061c}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
    };
    text.chars()
        .map(|c| {
            if (c.is_control() && c != '\n' && c != '\t') || format(c) {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}

/// Writes one line on stdout. A reader that went away (`connhost … |
/// head`) ends the process quietly with the status SIGPIPE would give,
/// without the process-wide SIGPIPE that would also end a server whose
/// provider closed a socket.
pub fn print_line(args: std::fmt::Arguments) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_fmt(args)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    if let Err(e) = written {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        eprintln!("error: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// `println!` through [`print_line`].
macro_rules! outln {
    ($($t:tt)*) => { $crate::output::print_line(format_args!($($t)*)) };
}

impl Out {
    pub fn new(json: bool) -> Self {
        Out { json }
    }

    fn emit(&self, value: Value, human: impl FnOnce() -> String) {
        if self.json {
            outln!("{value}");
        } else {
            outln!("{}", printable(&human()));
        }
    }

    /// `value` with --json, else `human`.
    pub fn json_or(&self, value: Value, human: String) {
        self.emit(value, || human);
    }

    pub fn emit_id(&self, what: &str, id: &str) {
        self.emit(json!({ "id": id }), || format!("{what}: {id}"));
    }

    pub fn connector_added(&self, m: &Manifest) {
        self.emit(
            json!({"id": m.id, "display_name": m.display_name, "version": m.version}),
            || {
                format!(
                    "added connector {} ({} {})",
                    m.id, m.display_name, m.version
                )
            },
        );
    }

    pub fn connectors(&self, list: &[Manifest]) {
        self.emit(
            json!(list
                .iter()
                .map(|m| json!({"id": m.id, "display_name": m.display_name, "version": m.version}))
                .collect::<Vec<_>>()),
            || {
                if list.is_empty() {
                    return "no connectors (add one: connhost connector add builtin:celonis or builtin:generic)"
                        .into();
                }
                list.iter()
                    .map(|m| format!("{:<16} {:<24} {}", m.id, m.display_name, m.version))
                    .collect::<Vec<_>>()
                    .join("\n")
            },
        );
    }

    pub fn manifest(&self, m: &Manifest) {
        self.emit(
            serde_json::to_value(m).expect("manifest serializes"),
            || {
                let mut s = format!(
                    "{} — {} {}\nhosts: {}\n",
                    m.id,
                    m.display_name,
                    m.version,
                    m.hosts.join(", ")
                );
                let field_line = |f: &connhost::FieldSpec| {
                    let mut flags = vec![];
                    if f.required {
                        flags.push("required".to_string())
                    }
                    if f.secret {
                        flags.push("secret".to_string())
                    }
                    if f.advanced {
                        flags.push("advanced".to_string())
                    }
                    if let Some(d) = &f.default {
                        flags.push(format!("default {d}"))
                    }
                    if !f.allowed_values.is_empty() {
                        flags.push(format!("one of {}", f.allowed_values.join("|")))
                    }
                    format!("    {:<14} {:<32} {}\n", f.name, f.label, flags.join(", "))
                };
                s.push_str("fields:\n");
                for f in &m.fields {
                    s.push_str(&field_line(f));
                }
                for k in &m.auth_kinds {
                    s.push_str(&format!("auth {}={} ({}):\n", m.auth_field, k.id, k.label));
                    for f in &k.fields {
                        s.push_str(&field_line(f));
                    }
                }
                if !m.scopes.is_empty() {
                    s.push_str(&format!("scopes ({}):\n", m.scopes.len()));
                    for sc in &m.scopes {
                        s.push_str(&format!(
                            "    {:<46} {:<20} {}\n",
                            sc.name, sc.group, sc.description
                        ));
                    }
                }
                s.trim_end().to_string()
            },
        );
    }

    pub fn created(&self, r: &ConnectionRecord) {
        if self.json {
            outln!("{}", json!(view(r, None)));
        } else {
            eprintln!(
                "created connection {} ({}, team {}){}",
                r.name,
                r.connector,
                r.team,
                if r.granted_scopes.is_empty() {
                    String::new()
                } else {
                    format!("; granted scopes: {}", r.granted_scopes.join(" "))
                }
            );
            outln!("{}", r.id);
        }
    }

    pub fn connections(&self, list: &[ConnectionRecord]) {
        self.emit(
            json!(list.iter().map(|r| view(r, None)).collect::<Vec<_>>()),
            || {
                if list.is_empty() {
                    return "no connections".into();
                }
                let mut s = format!(
                    "{:<22} {:<20} {:<10} {:<10} {:<25} {}\n",
                    "ID", "NAME", "CONNECTOR", "TEAM", "STATUS", "ACCOUNT / LAST ERROR"
                );
                for r in list {
                    let detail = match (&r.last_error, &r.account_label) {
                        (Some(e), _) if r.status != connhost::Status::Ok => e.message.clone(),
                        (_, Some(l)) => l.clone(),
                        _ => String::new(),
                    };
                    s.push_str(&format!(
                        "{:<22} {:<20} {:<10} {:<10} {:<25} {}\n",
                        r.id,
                        r.name,
                        r.connector,
                        r.team,
                        status_text(r.status),
                        detail
                    ));
                }
                s.trim_end().to_string()
            },
        );
    }

    /// A provider's response through a connection: status and body (as
    /// text, control characters stripped), or all of it in JSON.
    pub fn api_response(&self, r: &connhost::ApiResponse) {
        self.emit(json!(r), || {
            format!(
                "HTTP {}{}\n{}",
                r.status,
                if r.renewed {
                    " (access renewed first)"
                } else {
                    ""
                },
                printable(&String::from_utf8_lossy(&r.body))
            )
        });
    }

    pub fn connection(&self, r: &ConnectionRecord, m: Option<&Manifest>) {
        let v = view(r, m);
        self.emit(json!(v), || {
            let mut s = format!(
                "{} ({})\n  connector  {}\n  team       {}\n  status     {}\n",
                r.name,
                r.id,
                r.connector,
                r.team,
                status_text(r.status)
            );
            if let Some(l) = &r.account_label {
                s.push_str(&format!("  account    {l}\n"));
            }
            if let Some(e) = &r.last_error {
                s.push_str(&format!("  last error {} ({})\n", e.message, e.kind));
            }
            for (k, val) in &r.fields {
                s.push_str(&format!("  {k:<10} {val}\n"));
            }
            for (k, state) in &v.secrets {
                s.push_str(&format!("  {k:<10} <{state}>\n"));
            }
            if !r.granted_scopes.is_empty() {
                s.push_str(&format!("  scopes     {}\n", r.granted_scopes.join(" ")));
            }
            if !r.origins.is_empty() {
                s.push_str(&format!("  origins    {}\n", r.origins.join(" ")));
            }
            s.push_str(&format!("  expires    {}", expiry_text(r.expires_at)));
            s
        });
    }

    pub fn updated(&self, what: &str, r: &ConnectionRecord) {
        self.emit(json!(view(r, None)), || {
            format!("{what}: {} ({})", r.name, r.id)
        });
    }

    pub fn verified(&self, v: &Verified) {
        self.emit(
            json!({"id": v.id, "ok": true, "account_label": v.account_label, "refreshed_first": v.refreshed_first}),
            || format!("✓ {} — connected as {}", v.id, v.account_label),
        );
    }

    pub fn refreshed(&self, id: &str, r: &Refreshed) {
        let mut value = serde_json::to_value(r).expect("serializes");
        value["id"] = id.into();
        self.emit(value, || match r {
            Refreshed::Refreshed {
                expires_at,
                granted_scopes,
            } => format!(
                "refreshed {id}: new access expires {}; scopes: {}",
                expiry_text(*expires_at),
                granted_scopes.join(" ")
            ),
            Refreshed::NotNeeded { reason } => format!("nothing to refresh for {id}: {reason}"),
        });
    }

    pub fn scopes_ok(&self, id: &str, scopes: &[String]) {
        self.emit(json!({"id": id, "ok": true, "scopes": scopes}), || {
            format!("✓ {id} has {}", scopes.join(", "))
        });
    }

    pub fn deleted(&self, d: &connhost::Deleted) {
        self.emit(
            json!({"id": d.id, "deleted": true, "revoked": d.revocation_error.is_none(), "revocation_error": d.revocation_error}),
            || match &d.revocation_error {
                None => format!("deleted {} ({})", d.name, d.id),
                Some(e) => format!("deleted {} ({}); revoking its tokens at the provider failed: {e}", d.name, d.id),
            },
        );
    }

    pub fn authorize_started(&self, a: &connhost::AuthorizeStart) {
        self.emit(serde_json::to_value(a).expect("serializes"), || {
            format!(
                "Open this URL in a browser and approve access:\n\n  {}\n\n(waiting for the redirect to {}; pending authorization {})",
                a.authorize_url, a.redirect_uri, a.pending_id
            )
        });
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }

    pub fn providers(&self, list: &[connhost::catalogue::ProviderSummary]) {
        self.emit(json!(list), || {
            if list.is_empty() {
                return "no provider matches".into();
            }
            let mut s = format!(
                "{:<24} {:<34} {:<18} {:<12} {}\n",
                "ID", "NAME", "CATEGORY", "AUTH", "FIELDS"
            );
            for p in list {
                let src = if p.source == "added" { " (added)" } else { "" };
                s.push_str(&format!(
                    "{:<24} {:<34} {:<18} {:<12} {}{src}\n",
                    p.id,
                    p.display_name,
                    p.category,
                    p.auth_mode,
                    p.fields.join(",")
                ));
            }
            s.push_str(&format!("{} providers", list.len()));
            s
        });
    }

    pub fn provider(&self, p: &connhost::catalogue::ProviderDetail) {
        self.emit(json!(p), || {
            let s0 = &p.summary;
            let mut s = format!(
                "{} — {} ({}, {})\nauth mode: {}   verify: {}\n",
                s0.id, s0.display_name, s0.category, s0.source, s0.auth_mode, s0.verify
            );
            if let Some(d) = &s0.docs {
                s.push_str(&format!("docs: {d}\n"));
            }
            s.push_str(&format!("hosts: {}\n", p.hosts.join(", ")));
            if !p.field_specs.is_empty() {
                s.push_str("fields (give with --field NAME=VALUE):\n");
                for f in &p.field_specs {
                    let rule = if f.one_of.is_empty() {
                        f.rule.clone()
                    } else {
                        format!("one of {}", f.one_of.join("|"))
                    };
                    let default = f.default.as_deref().map(|d| format!(", default {d}")).unwrap_or_default();
                    s.push_str(&format!("    {:<12} {:<30} {rule}{default}\n", f.name, f.label));
                    if let Some(h) = &f.help {
                        s.push_str(&format!("    {:<12} {h}\n", ""));
                    }
                }
            }
            if !p.scopes.is_empty() {
                s.push_str(&format!("scopes (default: {}):\n", p.default_scopes.join(" ")));
                for sc in &p.scopes {
                    s.push_str(&format!("    {:<40} {:<16} {}\n", sc.name, sc.group, sc.description));
                }
            }
            s.push_str(&format!(
                "connect: connhost connection create --connector generic --field provider={} --field auth_mode={}{}",
                s0.id,
                s0.auth_mode,
                s0.fields.iter().map(|f| format!(" --field {f}=…")).collect::<String>()
            ));
            s
        });
    }

    /// Prints an error once, with its cause chain; exit code 1.
    pub fn fail(&self, e: &anyhow::Error) -> ExitCode {
        let lib = e.downcast_ref::<connhost::Error>();
        if self.json {
            let mut err = lib
                .map(connhost::Error::to_json)
                .unwrap_or_else(|| json!({"kind": "error"}));
            err["message"] = format!("{e:#}").into();
            outln!("{}", json!({ "error": err }));
        } else {
            let mark = if matches!(lib, Some(connhost::Error::Connector(_))) {
                "✗ "
            } else {
                "error: "
            };
            eprintln!("{mark}{}", printable(&format!("{e:#}")));
        }
        // `--json` readers get the library's own object, unchanged.
        if let Some(advice) = lib.and_then(advice).filter(|_| !self.json) {
            eprintln!("  {advice}");
        }
        ExitCode::from(1)
    }
}

/// What to do about `e` with this CLI's flags: the library says what went
/// wrong in terms any front end shares; the flags are the CLI's.
fn advice(e: &connhost::Error) -> Option<String> {
    match e {
        connhost::Error::InUse { .. } => {
            Some("use --force to delete it anyway (an admin's key)".into())
        }
        connhost::Error::InvalidInput { field, reason } => {
            let secret = format!("give it with --secret {field}=env:VAR|file:PATH|stdin");
            if reason.starts_with("is secret") || reason.ends_with("(a secret)") {
                Some(secret)
            } else if reason.starts_with("is not secret") {
                Some(format!("give it with --field {field}=VALUE"))
            } else if reason
                .ends_with("needs the browser consent flow: start an authorization instead")
            {
                Some(
                    "use `connection create --redirect-uri …` or `connection authorize start`"
                        .into(),
                )
            } else if reason
                .ends_with("does not use the consent flow: create the connection directly")
            {
                Some("use `connection create`".into())
            } else {
                None
            }
        }
        _ => None,
    }
}
