//! The team-scoped API a platform calls on behalf of its users: every
//! operation names the caller's team and actor, sees only that team's
//! connections (another team's connection is "not found", even by id), and
//! leaves an audit record. It adds the platform semantics of the seeds:
//! usages, least-privilege scope plans, the pre-run scope check
//! (`AccountValidationError`), dynamic connections and the delete guard.

use super::audit::{AuditLog, AuditRecord};
use super::usage::{self, DynamicConnection, Registry, Usage, UsageState, DYNAMIC_PREFIX};
use crate::capabilities::Secret;
use crate::error::{ConnectorError, Error, Result};
use crate::manager::{AuthorizeStart, Deleted, Manager, NewConnection, Refreshed, Verified};
use crate::store::ConnectionRecord;
use crate::util::now;
use std::collections::BTreeMap;

/// Who is asking: the platform maps its users onto a team and an actor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub team: String,
    pub actor: String,
}

/// The outcome of a usage's pre-run check.
#[derive(Clone, Debug, serde::Serialize)]
pub struct UsageCheck {
    pub consumer: String,
    /// The concrete connection the usage runs with.
    pub connection: String,
    /// The dynamic connection it was resolved through, if any.
    pub via: Option<String>,
}

/// [`Manager`] as seen by one team.
pub struct TeamView<'a> {
    m: &'a Manager,
    caller: Caller,
    registry: Registry,
    audit: AuditLog,
}

fn valid_name(kind: &str, s: &str) -> Result<()> {
    if !connhost_policy::ids::is_safe(s, 64) {
        return Err(Error::invalid(
            kind,
            format!("`{s}` must match [A-Za-z0-9_-]{{1,64}}"),
        ));
    }
    Ok(())
}

impl Manager {
    /// The API for one caller's team.
    pub fn team(&self, caller: Caller) -> Result<TeamView<'_>> {
        valid_name("team", &caller.team)?;
        if caller.actor.trim().is_empty() {
            return Err(Error::invalid("actor", "must not be empty"));
        }
        Ok(TeamView {
            registry: Registry::new(self.home(), &caller.team),
            audit: AuditLog::new(self.home()),
            m: self,
            caller,
        })
    }
}

impl TeamView<'_> {
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    fn log<T>(
        &self,
        operation: &str,
        connection: Option<&str>,
        connector: Option<&str>,
        via: Option<String>,
        r: &Result<T>,
    ) {
        let record = AuditRecord {
            time: now(),
            team: self.caller.team.clone(),
            actor: self.caller.actor.clone(),
            operation: operation.to_string(),
            connection: connection.map(str::to_string),
            connector: connector.map(str::to_string),
            via,
            result: match r {
                Ok(_) => "ok".into(),
                Err(e) => e.kind().to_string(),
            },
        };
        if let Err(e) = self.audit.append(&record) {
            tracing::error!("audit log: {e}");
        }
    }

    /// A connection of this team; any other is "not found".
    fn own(&self, id: &str) -> Result<ConnectionRecord> {
        let not_found = || Error::NotFound {
            what: "connection",
            id: id.to_string(),
        };
        match self.m.get(id) {
            Ok(r) if r.team == self.caller.team => Ok(r),
            Ok(_) => Err(not_found()),
            Err(Error::NotFound { .. }) => Err(not_found()),
            Err(e) => Err(e),
        }
    }

    /// Runs `f` on an owned connection and audits it.
    async fn on<T, F, Fut>(&self, operation: &str, id: &str, f: F) -> Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let (result, connector) = match self.own(id) {
            Ok(r) => (f().await, Some(r.connector)),
            Err(e) => (Err(e), None),
        };
        self.log(operation, Some(id), connector.as_deref(), None, &result);
        result
    }

    // ---- connections ----

    pub fn list(&self) -> Result<Vec<ConnectionRecord>> {
        self.m.list(Some(&self.caller.team))
    }

    pub fn get(&self, id: &str) -> Result<ConnectionRecord> {
        self.own(id)
    }

    pub async fn create(&self, mut new: NewConnection) -> Result<ConnectionRecord> {
        new.team = Some(self.caller.team.clone());
        let connector = new.connector.clone();
        let r = self.m.create(new).await;
        self.log(
            "connection.create",
            r.as_ref().ok().map(|r| r.id.as_str()),
            Some(&connector),
            None,
            &r,
        );
        r
    }

    pub async fn rename(&self, id: &str, name: &str) -> Result<ConnectionRecord> {
        self.on("connection.rename", id, || async {
            self.m.rename(id, name)
        })
        .await
    }

    /// Replaces all data; see [`Manager::edit`].
    pub async fn edit(&self, id: &str, new: NewConnection) -> Result<ConnectionRecord> {
        self.on("connection.edit", id, || self.m.edit(id, new))
            .await
    }

    /// Replaces one secret (e.g. a regenerated client secret), keeping the
    /// other data: an edit, so the connection changes only if it verifies
    /// with the new secret.
    pub async fn set_secret(
        &self,
        id: &str,
        name: &str,
        value: Secret,
    ) -> Result<ConnectionRecord> {
        self.on("connection.set-secret", id, || {
            self.m.set_secret(id, name, value)
        })
        .await
    }

    pub async fn verify(&self, id: &str) -> Result<Verified> {
        self.on("connection.verify", id, || self.m.verify(id)).await
    }

    pub async fn refresh(&self, id: &str) -> Result<Refreshed> {
        self.on("connection.refresh", id, || self.m.refresh(id))
            .await
    }

    pub async fn check_scopes(&self, id: &str, scopes: &[String]) -> Result<()> {
        self.on("connection.check", id, || self.m.check_scopes(id, scopes))
            .await
    }

    /// Usages in state active or scheduled that would break without `id`.
    pub fn blocking_usages(&self, id: &str) -> Result<Vec<Usage>> {
        let dynamics = self.registry.dynamics()?;
        Ok(self
            .registry
            .usages()?
            .into_iter()
            .filter(|u| u.state != UsageState::Inactive)
            .filter(|u| match u.connection.strip_prefix(DYNAMIC_PREFIX) {
                Some(name) => dynamics
                    .iter()
                    .any(|d| d.name == name && d.targets().any(|t| t == id)),
                None => u.connection == id,
            })
            .collect())
    }

    /// Deletes a connection, refusing while active or scheduled usages need
    /// it (directly or through a dynamic connection) unless `force`.
    pub async fn delete(&self, id: &str, force: bool) -> Result<Deleted> {
        self.on("connection.delete", id, || async {
            let blocking = self.blocking_usages(id)?;
            if !blocking.is_empty() && !force {
                return Err(Error::InUse {
                    connection: id.to_string(),
                    consumers: blocking
                        .iter()
                        .map(|u| {
                            format!("{} ({:?}, via {})", u.consumer, u.state, u.connection)
                                .to_lowercase()
                        })
                        .collect(),
                });
            }
            self.m.delete(id).await
        })
        .await
    }

    pub async fn authorize_start(
        &self,
        mut new: NewConnection,
        redirect_uri: &str,
    ) -> Result<AuthorizeStart> {
        new.team = Some(self.caller.team.clone());
        let connector = new.connector.clone();
        let r = self.m.authorize_start(new, redirect_uri).await;
        self.log(
            "connection.authorize-start",
            r.as_ref().ok().map(|s| s.connection_id.as_str()),
            Some(&connector),
            None,
            &r,
        );
        r
    }

    pub async fn reauthorize_start(&self, id: &str, redirect_uri: &str) -> Result<AuthorizeStart> {
        self.on("connection.reauthorize-start", id, || {
            self.m.reauthorize_start(id, redirect_uri)
        })
        .await
    }

    pub async fn authorize_finish(
        &self,
        pending: &str,
        redirect_url: &str,
    ) -> Result<ConnectionRecord> {
        let r = match self.m.pending_team(pending) {
            Ok(team) if team != self.caller.team => Err(Error::NotFound {
                what: "pending authorization",
                id: pending.to_string(),
            }),
            _ => self.m.authorize_finish(pending, redirect_url).await,
        };
        self.log(
            "connection.authorize-finish",
            r.as_ref().ok().map(|r| r.id.as_str()),
            None,
            None,
            &r,
        );
        r
    }

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
            usage::plan_scopes(&catalogue, std::slice::from_ref(&usage.scopes))?;
        }
        let mut all = self.registry.usages()?;
        all.retain(|u| !(u.consumer == usage.consumer && u.connection == usage.connection));
        all.push(usage.clone());
        let r = self.registry.save_usages(&all).map(|()| usage);
        self.log("usage.add", None, Some(&connector), None, &r);
        r
    }

    pub fn usages(&self) -> Result<Vec<Usage>> {
        self.registry.usages()
    }

    /// Removes a consumer's usages (of one connection, or all); returns how many.
    pub fn remove_usage(&self, consumer: &str, connection: Option<&str>) -> Result<usize> {
        let mut all = self.registry.usages()?;
        let before = all.len();
        all.retain(|u| !(u.consumer == consumer && connection.is_none_or(|c| u.connection == c)));
        let removed = before - all.len();
        if removed == 0 {
            return Err(Error::NotFound {
                what: "usage",
                id: consumer.to_string(),
            });
        }
        self.registry.save_usages(&all)?;
        Ok(removed)
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
        usage::plan_scopes(&catalogue, needs)
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
            self.log("usage.check", conn.as_deref(), None, via.clone(), &result);
            let (connection, via) = result?;
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
        let mut all = self.registry.dynamics()?;
        all.retain(|x| x.name != d.name);
        all.push(d.clone());
        let r = self.registry.save_dynamics(&all).map(|()| d);
        self.log(
            "dynamic.put",
            None,
            r.as_ref().ok().map(|d| d.connector.as_str()),
            None,
            &r,
        );
        r
    }

    pub fn dynamics(&self) -> Result<Vec<DynamicConnection>> {
        self.registry.dynamics()
    }

    pub fn remove_dynamic(&self, name: &str) -> Result<()> {
        self.dynamic(name)?;
        let reference = format!("{DYNAMIC_PREFIX}{name}");
        let users: Vec<String> = self
            .registry
            .usages()?
            .into_iter()
            .filter(|u| u.connection == reference && u.state != UsageState::Inactive)
            .map(|u| u.consumer)
            .collect();
        if !users.is_empty() {
            return Err(Error::InUse {
                connection: reference,
                consumers: users,
            });
        }
        let mut all = self.registry.dynamics()?;
        all.retain(|d| d.name != name);
        self.registry.save_dynamics(&all)
    }

    /// Audit records of this team.
    pub fn audit(&self, connection: Option<&str>, since: Option<u64>) -> Result<Vec<AuditRecord>> {
        self.audit.read(&self.caller.team, connection, since)
    }
}

/// `AccountValidationError` for the platform: a connector error of kind
/// `account-validation`, whether from the pre-run check or a provider 403.
pub fn is_account_validation(e: &Error) -> Option<&[String]> {
    match e {
        Error::Connector(ConnectorError::AccountValidation { missing }) => Some(missing),
        _ => None,
    }
}
