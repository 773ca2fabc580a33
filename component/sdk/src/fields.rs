//! Access to a connection's non-secret field values.

use crate::{invalid, ConnectionInput, ConnectorError};

/// Field values of one connection, looked up by name.
pub struct Fields<'a>(&'a [(String, String)]);

impl<'a> Fields<'a> {
    /// Wraps the fields of `input`.
    pub fn of(input: &'a ConnectionInput) -> Self {
        Fields(&input.fields)
    }

    /// The value of `name`, if set and non-empty (trimmed).
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The value of `name`, or `invalid-input` saying it is required.
    pub fn require(&self, name: &str) -> Result<&'a str, ConnectorError> {
        self.get(name).ok_or_else(|| invalid(name, "is required"))
    }

    /// The value of `name`, which must be one of `allowed`.
    pub fn one_of(&self, name: &str, allowed: &[&str]) -> Result<&'a str, ConnectorError> {
        let v = self.require(name)?;
        if allowed.contains(&v) {
            Ok(v)
        } else {
            Err(invalid(
                name,
                format!("must be one of {}, got `{v}`", allowed.join(", ")),
            ))
        }
    }

    /// Like [`Fields::one_of`], with the manifest's default when unset
    /// (hosts apply defaults; stock runtimes pass fields as given).
    pub fn one_of_or(
        &self,
        name: &str,
        allowed: &[&str],
        default: &'a str,
    ) -> Result<&'a str, ConnectorError> {
        match self.get(name) {
            None => Ok(default),
            Some(_) => self.one_of(name, allowed),
        }
    }

    /// A space- or comma-separated list (e.g. scopes), empty when unset.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split([' ', ','])
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }
}
