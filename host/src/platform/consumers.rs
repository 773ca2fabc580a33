//! What uses the team's connections: usages (with their pre-run scope
//! check and least-privilege plans) and dynamic connections. Every change
//! is a locked read-modify-write of the team's registry, and audited.

use super::roles::Operation;
use super::team::{valid_name, TeamView, UsageCheck};
use crate::error::{Error, Result};
use crate::store::usage::{DynamicConnection, Usage, UsageState, DYNAMIC_PREFIX};
use std::collections::BTreeMap;

impl TeamView<'_> {
    // ---- usages ----

    /// Registers (or replaces) what `usage.consumer` needs from a connection.
    pub fn add_usage(&self, usage: Usage) -> Result<Usage> {
        if usage.consumer.trim().is_empty() {
            return Err(Error::invalid("consumer", "must not be empty"));
        }
        let connector = match usage.connection.strip_prefix(DYNAMIC_PREFIX) {
            Some(name) => self.dynamic(name)?.connector,
            None => self.own(&usage.connection)?.connector,
        };
        let catalogue: Vec<String> = self
            .m
            .connector(&connector)?
            .scopes
            .into_iter()
            .map(|s| s.name)
            .collect();
        if !catalogue.is_empty() {
            plan_scopes(&catalogue, std::slice::from_ref(&usage.scopes))?;
        }
        let reference = usage.connection.clone();
        let member = self.keeps_usages(Operation::SetUsage);
        let r = self.registry.update_usages(|all| {
            // A member may not switch a blocking usage off or narrow what
            // it needs (either would let a delete or an edit break it).
            let narrows = all.iter().any(|u| {
                u.consumer == usage.consumer
                    && u.connection == usage.connection
                    && u.state != UsageState::Inactive
                    && (usage.state == UsageState::Inactive
                        || u.scopes.iter().any(|s| !usage.scopes.contains(s)))
            });
            if member && narrows {
                return Err(Error::Forbidden(format!(
                    "only a team admin may switch off `{}`'s usage or drop scopes it needs",
                    usage.consumer
                )));
            }
            all.retain(|u| !(u.consumer == usage.consumer && u.connection == usage.connection));
            all.push(usage.clone());
            Ok(usage)
        });
        let (connection, via) = match reference.starts_with(DYNAMIC_PREFIX) {
            true => (None, Some(reference)),
            false => (Some(reference), None),
        };
        self.log("usage.add", connection.as_deref(), Some(&connector), via, r)
    }

    pub fn usages(&self) -> Result<Vec<Usage>> {
        self.registry.usages()
    }

    /// The team's usages of `connector`'s connections, directly or through
    /// a dynamic connection (what a least-privilege plan picks from).
    pub fn usages_of_connector(&self, connector: &str) -> Result<Vec<Usage>> {
        let mut out = Vec::new();
        for u in self.usages()? {
            let of = match u.connection.strip_prefix(DYNAMIC_PREFIX) {
                Some(name) => self.dynamic(name).map(|d| d.connector),
                None => self.own(&u.connection).map(|r| r.connector),
            };
            match of {
                Ok(c) if c == connector => out.push(u),
                // A usage of a deleted connection plans nothing.
                Ok(_) | Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Removes a consumer's usages (of one connection, or all); returns how many.
    pub fn remove_usage(&self, consumer: &str, connection: Option<&str>) -> Result<usize> {
        let member = self.keeps_usages(Operation::RemoveUsage);
        let r = self.registry.update_usages(|all| {
            let targets =
                |u: &Usage| u.consumer == consumer && connection.is_none_or(|c| u.connection == c);
            if member
                && all
                    .iter()
                    .any(|u| targets(u) && u.state != UsageState::Inactive)
            {
                return Err(Error::Forbidden(format!(
                    "only a team admin may remove `{consumer}`'s active or scheduled usages"
                )));
            }
            let before = all.len();
            all.retain(|u| {
                !(u.consumer == consumer && connection.is_none_or(|c| u.connection == c))
            });
            match before - all.len() {
                0 => Err(Error::NotFound {
                    what: "usage",
                    id: consumer.to_string(),
                }),
                n => Ok(n),
            }
        });
        self.log("usage.remove", connection, None, None, r)
    }

    /// The least-privilege scopes for a new connection of `connector`
    /// serving consumers that need `needs`.
    pub fn plan_scopes(&self, connector: &str, needs: &[Vec<String>]) -> Result<Vec<String>> {
        let catalogue: Vec<String> = self
            .m
            .connector(connector)?
            .scopes
            .into_iter()
            .map(|s| s.name)
            .collect();
        plan_scopes(&catalogue, needs)
    }

    /// Resolves a reference (`conn_…` or `dynamic:NAME`) for a context to a
    /// connection of this team.
    pub fn resolve(
        &self,
        reference: &str,
        context: &BTreeMap<String, String>,
    ) -> Result<(String, Option<String>)> {
        let (id, via) = match reference.strip_prefix(DYNAMIC_PREFIX) {
            Some(name) => {
                let d = self.dynamic(name)?;
                let id = d.resolve(context)?.to_string();
                (id, Some(reference.to_string()))
            }
            None => (reference.to_string(), None),
        };
        match self.own(&id) {
            Ok(_) => Ok((id, via)),
            Err(Error::NotFound { .. }) => Err(Error::ConnectionDeleted { reference: id }),
            Err(e) => Err(e),
        }
    }

    /// The pre-run check of a consumer: resolve its connection for the
    /// context, then require the scopes it needs (`AccountValidationError`
    /// naming exactly the missing ones), before any call is made.
    pub async fn check_usage(
        &self,
        consumer: &str,
        context: &BTreeMap<String, String>,
    ) -> Result<Vec<UsageCheck>> {
        let usages: Vec<Usage> = self
            .registry
            .usages()?
            .into_iter()
            .filter(|u| u.consumer == consumer)
            .collect();
        if usages.is_empty() {
            return Err(Error::NotFound {
                what: "usage",
                id: consumer.to_string(),
            });
        }
        let mut out = Vec::new();
        for u in usages {
            let resolved = self.resolve(&u.connection, context);
            let result = match &resolved {
                Ok((id, _)) => self.m.check_scopes(id, &u.scopes).await,
                Err(_) => Ok(()),
            };
            let result = resolved.and_then(|r| result.map(|()| r));
            let (conn, via) = match &result {
                Ok((id, via)) => (Some(id.clone()), via.clone()),
                Err(_) => (
                    None,
                    u.connection
                        .starts_with(DYNAMIC_PREFIX)
                        .then(|| u.connection.clone()),
                ),
            };
            let (connection, via) =
                self.log("usage.check", conn.as_deref(), None, via.clone(), result)?;
            out.push(UsageCheck {
                consumer: u.consumer,
                connection,
                via,
            });
        }
        Ok(out)
    }

    // ---- dynamic connections ----

    fn dynamic(&self, name: &str) -> Result<DynamicConnection> {
        self.registry
            .dynamics()?
            .into_iter()
            .find(|d| d.name == name)
            .ok_or_else(|| Error::NotFound {
                what: "dynamic connection",
                id: name.to_string(),
            })
    }

    /// Creates or replaces a dynamic connection; every target must be a
    /// connection of this team and of the same connector.
    pub fn put_dynamic(&self, d: DynamicConnection) -> Result<DynamicConnection> {
        valid_name("name", &d.name)?;
        if d.key.trim().is_empty() {
            return Err(Error::invalid("key", "must not be empty"));
        }
        for target in d.targets() {
            let r = self.own(target)?;
            if r.connector != d.connector {
                return Err(Error::invalid(
                    "connection",
                    format!(
                        "`{target}` is a {} connection, not {}",
                        r.connector, d.connector
                    ),
                ));
            }
        }
        // A member may add dynamic connections, not re-point one that
        // active or scheduled usages run through.
        if self.keeps_usages(Operation::SetDynamic)
            && self.dynamics()?.iter().any(|x| x.name == d.name)
        {
            let reference = format!("{DYNAMIC_PREFIX}{}", d.name);
            let used = self
                .usages()?
                .iter()
                .any(|u| u.connection == reference && u.state != UsageState::Inactive);
            if used {
                return Err(Error::Forbidden(format!(
                    "only a team admin may change `{}`: usages run through it",
                    d.name
                )));
            }
        }
        let r = self.registry.update_dynamics(|all| {
            all.retain(|x| x.name != d.name);
            all.push(d.clone());
            Ok(d)
        });
        self.log(
            "dynamic.put",
            None,
            r.as_ref().ok().map(|d| d.connector.clone()).as_deref(),
            None,
            r,
        )
    }

    pub fn dynamics(&self) -> Result<Vec<DynamicConnection>> {
        self.registry.dynamics()
    }

    pub fn remove_dynamic(&self, name: &str) -> Result<()> {
        let reference = format!("{DYNAMIC_PREFIX}{name}");
        let r = self.registry.update_both(|usages, dynamics| {
            if !dynamics.iter().any(|d| d.name == name) {
                return Err(Error::NotFound {
                    what: "dynamic connection",
                    id: name.to_string(),
                });
            }
            let users: Vec<String> = usages
                .iter()
                .filter(|u| u.connection == reference && u.state != UsageState::Inactive)
                .map(|u| u.consumer.clone())
                .collect();
            if !users.is_empty() {
                return Err(Error::InUse {
                    connection: reference.clone(),
                    consumers: users,
                });
            }
            dynamics.retain(|d| d.name != name);
            Ok(())
        });
        self.log("dynamic.remove", None, None, Some(reference.clone()), r)
    }
}

/// The least-privilege scope set for usages: their union, in first-seen
/// order, each checked against the connector's catalogue.
pub fn plan_scopes(catalogue: &[String], needs: &[Vec<String>]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for scope in needs.iter().flatten() {
        if !catalogue.contains(scope) {
            return Err(Error::invalid(
                "scopes",
                format!("`{scope}` is not in the connector's scope catalogue"),
            ));
        }
        if !out.contains(scope) {
            out.push(scope.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_is_the_union_and_names_unknown_scopes() {
        let cat: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let needs = vec![
            vec!["a".to_string(), "b".to_string()],
            vec!["b".to_string(), "c".to_string()],
        ];
        assert_eq!(plan_scopes(&cat, &needs).unwrap(), ["a", "b", "c"]);
        let err = plan_scopes(&cat, &[vec!["z".to_string()]]).unwrap_err();
        assert!(err.to_string().contains("`z`"), "{err}");
    }
}
