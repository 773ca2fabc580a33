//! What the user typed, checked: `NAME=VALUE` fields and contexts,
//! secrets from env, a file or stdin (never argv), confirmation.

use anyhow::{anyhow, bail, Context};
use connhost::Secret;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};

pub fn parse_context(raw: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    parse_fields(raw).context("--context KEY=VALUE")
}

pub fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("refusing to delete without confirmation: pass --yes");
    }
    eprint!("{question} This cannot be undone; flows using it will fail. [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

pub fn parse_fields(raw: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut fields = BTreeMap::new();
    for item in raw {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| anyhow!("--field `{item}`: expected NAME=VALUE"))?;
        if fields.insert(k.trim().to_string(), v.to_string()).is_some() {
            bail!("--field `{k}` given twice");
        }
    }
    Ok(fields)
}

/// Reads `NAME=env:VAR|file:PATH|stdin`. Errors name the secret and the
/// source, never a value.
pub fn read_secrets(raw: &[String]) -> anyhow::Result<BTreeMap<String, Secret>> {
    let mut secrets = BTreeMap::new();
    let mut stdin_used = false;
    for item in raw {
        let Some((name, source)) = item.split_once('=') else {
            bail!("--secret: expected NAME=env:VAR, NAME=file:PATH or NAME=stdin");
        };
        let value = if let Some(var) = source.strip_prefix("env:") {
            // Name the variable only if it looks like one: `env:$KEY`
            // expanded by a shell would otherwise print the key.
            let shown = if looks_like_var(var) {
                format!("`{var}`")
            } else {
                "named there".into()
            };
            std::env::var(var).map_err(|_| {
                anyhow!("--secret {name}: the environment variable {shown} is not set")
            })?
        } else if let Some(path) = source.strip_prefix("file:") {
            read_capped(std::fs::File::open(path), name)
                .with_context(|| format!("--secret {name}: read {path}"))?
        } else if source == "stdin" {
            if stdin_used {
                bail!("--secret {name}: only one secret can come from stdin");
            }
            stdin_used = true;
            read_capped(Ok(std::io::stdin()), name)
                .with_context(|| format!("--secret {name}: read stdin"))?
        } else {
            bail!(
                "--secret {name}: plain values are not accepted on the command line; use {name}=env:VAR, {name}=file:PATH or {name}=stdin"
            );
        };
        if value.is_empty() {
            bail!("--secret {name}: the value is empty");
        }
        if secrets
            .insert(name.trim().to_string(), Secret::new(value))
            .is_some()
        {
            bail!("--secret {name} given twice");
        }
    }
    Ok(secrets)
}

/// Secrets are keys and tokens, not files: more than this is a mistake
/// (say `file:/dev/zero`), refused before it fills memory.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

fn read_capped(source: std::io::Result<impl Read>, name: &str) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    source?.take(MAX_SECRET_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SECRET_BYTES {
        bail!("--secret {name}: longer than {MAX_SECRET_BYTES} bytes");
    }
    let text = String::from_utf8(bytes).map_err(|_| anyhow!("--secret {name}: not UTF-8 text"))?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

fn looks_like_var(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}
