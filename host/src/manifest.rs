//! A connector's manifest as the host keeps it: read from the component
//! once (`manifest()` export), validated, and stored beside the `.wasm`.

use crate::bindings::types as wit;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct FieldSpec {
    pub name: String,
    pub label: String,
    pub required: bool,
    pub secret: bool,
    pub advanced: bool,
    pub default: Option<String>,
    pub help: Option<String>,
    pub allowed_values: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct AuthKind {
    pub id: String,
    pub label: String,
    pub fields: Vec<FieldSpec>,
    pub authorization_code: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct ScopeSpec {
    pub name: String,
    pub group: String,
    pub description: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct Manifest {
    pub id: String,
    pub display_name: String,
    pub version: String,
    pub fields: Vec<FieldSpec>,
    pub auth_field: String,
    pub auth_kinds: Vec<AuthKind>,
    pub scopes: Vec<ScopeSpec>,
    pub hosts: Vec<String>,
    /// Field holding the scopes to request (contract 0.2.0).
    #[serde(default)]
    pub scopes_field: Option<String>,
    /// Field holding an OAuth issuer, checked against a callback's `iss`.
    #[serde(default)]
    pub issuer_field: Option<String>,
    /// Secrets the connector obtains itself (tokens).
    #[serde(default)]
    pub token_secrets: Vec<String>,
    /// The secret whose presence makes access renewable.
    #[serde(default)]
    pub refresh_secret: Option<String>,
    /// How stored definitions reach a data-driven connector.
    #[serde(default)]
    pub definitions: Option<DefinitionFields>,
    /// What `allowed-origins` may add (contract 0.3.0).
    #[serde(default)]
    pub origin_patterns: Vec<String>,
}

/// The fields through which a stored definition reaches a connector.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct DefinitionFields {
    /// Field naming a stored definition by id (e.g. `provider`).
    pub reference: String,
    /// Field carrying the definition's text (e.g. `definition`).
    pub content: String,
}

impl From<wit::FieldSpec> for FieldSpec {
    fn from(f: wit::FieldSpec) -> Self {
        FieldSpec {
            name: f.name,
            label: f.label,
            required: f.required,
            secret: f.secret,
            advanced: f.advanced,
            default: f.default,
            help: f.help,
            allowed_values: f.allowed_values,
        }
    }
}

impl From<wit::ConnectorManifest> for Manifest {
    fn from(m: wit::ConnectorManifest) -> Self {
        Manifest {
            id: m.id,
            display_name: m.display_name,
            version: m.version,
            fields: m.fields.into_iter().map(Into::into).collect(),
            auth_field: m.auth_field,
            auth_kinds: m
                .auth_kinds
                .into_iter()
                .map(|k| AuthKind {
                    id: k.id,
                    label: k.label,
                    fields: k.fields.into_iter().map(Into::into).collect(),
                    authorization_code: k.authorization_code,
                })
                .collect(),
            scopes: m
                .scopes
                .into_iter()
                .map(|s| ScopeSpec {
                    name: s.name,
                    group: s.group,
                    description: s.description,
                })
                .collect(),
            hosts: m.hosts,
            scopes_field: m.scopes_field,
            issuer_field: m.issuer_field,
            token_secrets: m.token_secrets,
            refresh_secret: m.refresh_secret,
            definitions: m.definitions.map(|d| DefinitionFields {
                reference: d.reference,
                content: d.content,
            }),
            origin_patterns: m.origin_patterns,
        }
    }
}

/// Field values and secrets as a user gave them, before validation.
#[derive(Debug, Default)]
pub struct Resolved {
    /// Non-secret fields with defaults applied.
    pub fields: BTreeMap<String, String>,
    /// The auth kind selected.
    pub auth_kind: String,
}

impl Manifest {
    /// Checks what the host relies on. A plugin's manifest is untrusted.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Err(Error::InvalidComponent(format!("manifest: {reason}")));
        if !connhost_policy::ids::is_connector_id(&self.id) {
            return bad(format!("id `{}` must match [a-z0-9-]{{1,64}}", self.id));
        }
        if self.auth_kinds.is_empty() {
            return bad("no auth kinds".into());
        }
        if !self.fields.iter().any(|f| f.name == self.auth_field) {
            return bad(format!("auth field `{}` is not a field", self.auth_field));
        }
        for kind in &self.auth_kinds {
            let mut seen = BTreeSet::new();
            for f in self.fields.iter().chain(&kind.fields) {
                if !seen.insert(f.name.as_str()) {
                    return bad(format!("field `{}` defined twice", f.name));
                }
                if f.name.is_empty()
                    || !f
                        .name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    return bad(format!("field name `{}` must match [A-Za-z0-9_]+", f.name));
                }
            }
        }
        let named = [&self.scopes_field, &self.issuer_field]
            .into_iter()
            .flatten()
            .chain(
                self.definitions
                    .iter()
                    .flat_map(|d| [&d.reference, &d.content]),
            );
        for name in named {
            if self.field(name).is_some_and(|f| f.secret) {
                return bad(format!(
                    "`{name}` is named by the manifest but is a secret field"
                ));
            }
        }
        if let Err(e) = connhost_policy::pattern::parse_all(&self.origin_patterns) {
            return bad(format!("origin-patterns: {e}"));
        }
        let secrets = self.token_secrets.iter().chain(&self.refresh_secret);
        for name in secrets {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return bad(format!("secret name `{name}` must match [A-Za-z0-9_]+"));
            }
        }
        Ok(())
    }

    /// The scopes to request, from the field the manifest names.
    pub fn requested_scopes(&self, fields: &BTreeMap<String, String>) -> Vec<String> {
        self.scopes_field
            .as_ref()
            .and_then(|f| fields.get(f))
            .map(|s| {
                s.split([' ', ','])
                    .filter(|x| !x.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// All fields that apply to `auth_kind`.
    pub fn fields_for<'a>(
        &'a self,
        auth_kind: &'a AuthKind,
    ) -> impl Iterator<Item = &'a FieldSpec> {
        self.fields.iter().chain(&auth_kind.fields)
    }

    pub fn auth_kind(&self, id: &str) -> Option<&AuthKind> {
        self.auth_kinds.iter().find(|k| k.id == id)
    }

    /// Every field name across all auth kinds, secret or not.
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields
            .iter()
            .chain(self.auth_kinds.iter().flat_map(|k| &k.fields))
            .find(|f| f.name == name)
    }

    /// Checks user input against the manifest: unknown fields, secrets
    /// given as fields, missing required values, values outside the allowed
    /// set. Returns the fields with defaults applied.
    pub fn resolve(
        &self,
        given: &BTreeMap<String, String>,
        secret_names: &BTreeSet<String>,
    ) -> Result<Resolved> {
        for name in given.keys() {
            match self.field(name) {
                None => {
                    return Err(Error::invalid(
                        name,
                        format!("is not a field of connector `{}`", self.id),
                    ))
                }
                Some(f) if f.secret => {
                    return Err(Error::invalid(
                        name,
                        "is secret: give it as a secret, never as a plain field",
                    ))
                }
                _ => {}
            }
        }
        for name in secret_names {
            match self.field(name) {
                Some(f) if f.secret => {}
                Some(_) => return Err(Error::invalid(name, "is not secret: give it as a field")),
                None => {
                    return Err(Error::invalid(
                        name,
                        format!("is not a field of connector `{}`", self.id),
                    ))
                }
            }
        }
        let auth_id = given
            .get(&self.auth_field)
            .cloned()
            .or_else(|| self.field(&self.auth_field).and_then(|f| f.default.clone()))
            .unwrap_or_else(|| self.auth_kinds[0].id.clone());
        let kind = self.auth_kind(&auth_id).ok_or_else(|| {
            Error::invalid(
                &self.auth_field,
                format!(
                    "must be one of {}, got `{auth_id}`",
                    self.auth_kinds
                        .iter()
                        .map(|k| k.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
        let mut fields = BTreeMap::new();
        for spec in self.fields_for(kind) {
            let value = given
                .get(&spec.name)
                .cloned()
                .or_else(|| spec.default.clone());
            if spec.secret {
                if spec.required && !secret_names.contains(&spec.name) {
                    return Err(Error::invalid(
                        &spec.name,
                        format!("is required for auth `{auth_id}` (a secret)"),
                    ));
                }
                continue;
            }
            match value {
                Some(v) if !v.trim().is_empty() => {
                    if !spec.allowed_values.is_empty() && !spec.allowed_values.contains(&v) {
                        return Err(Error::invalid(
                            &spec.name,
                            format!(
                                "must be one of {}, got `{v}`",
                                spec.allowed_values.join(", ")
                            ),
                        ));
                    }
                    fields.insert(spec.name.clone(), v);
                }
                _ if spec.required => {
                    return Err(Error::invalid(
                        &spec.name,
                        format!("is required for auth `{auth_id}`"),
                    ))
                }
                _ => {}
            }
        }
        for name in given.keys() {
            if !fields.contains_key(name) && self.fields_for(kind).all(|f| &f.name != name) {
                return Err(Error::invalid(
                    name,
                    format!("does not apply to auth `{auth_id}`"),
                ));
            }
        }
        Ok(Resolved {
            fields,
            auth_kind: auth_id,
        })
    }
}
