//! The team-scoped API a platform calls on behalf of its users: every
//! operation names the caller's team and actor, sees only that team's
//! connections (another team's connection is "not found", even by id), and
//! leaves an audit record. It adds the platform semantics of the seeds:
//! usages, least-privilege scope plans, the pre-run scope check
//! (`AccountValidationError`), dynamic connections and the delete guard.

use super::roles::Operation;
use crate::error::{ConnectorError, Error, Result};
use crate::manager::{Deleted, Manager, NewConnection, Refreshed, Verified};
use crate::secret::Secret;
use crate::store::audit::{AuditLog, AuditRecord};
use crate::store::usage::{Registry, Usage, UsageState, DYNAMIC_PREFIX};
use crate::store::{Caller, ConnectionRecord, Role};
use crate::util::now;

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
    pub(super) m: &'a Manager,
    pub(super) caller: Caller,
    pub(super) registry: Registry,
    audit: AuditLog,
    /// A return URL prefix allowed besides the team's own list: the
    /// server's page, which starts consent for this view itself.
    pub(super) own_return: Option<String>,
    /// What the caller may do (admin unless a key says otherwise).
    pub(super) role: Role,
}

pub(super) fn valid_name(kind: &str, s: &str) -> Result<()> {
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
            registry: Registry::new(self.store(), &caller.team),
            audit: AuditLog::of(self.store()),
            m: self,
            caller,
            own_return: None,
            role: Role::Admin,
        })
    }
}

impl TeamView<'_> {
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// Also allows return URLs under `prefix` in this view's consent flows
    /// (a server's own page, which no team has to list).
    pub fn returning_to(mut self, prefix: String) -> Self {
        self.own_return = Some(prefix);
        self
    }

    /// Audits an outcome and hands it back. Fails closed: if the record
    /// cannot be written, the caller gets that error instead of a silent
    /// gap (the operation itself has happened; the error says so).
    pub(super) fn log<T>(
        &self,
        operation: &str,
        connection: Option<&str>,
        connector: Option<&str>,
        via: Option<String>,
        r: Result<T>,
    ) -> Result<T> {
        let mut record = AuditRecord {
            time: now(),
            team: self.caller.team.clone(),
            actor: self.caller.actor.clone(),
            operation: operation.to_string(),
            connection: connection.map(str::to_string),
            connector: connector.map(str::to_string),
            via,
            result: match &r {
                Ok(_) => "ok".into(),
                Err(e) => e.kind().to_string(),
            },
            seq: 0,
            prev: String::new(),
            mac: String::new(),
        };
        match self.audit.append(&mut record) {
            Ok(()) => r,
            Err(e) => {
                tracing::error!("audit log: {e}");
                Err(Error::AuditFailed {
                    operation: operation.to_string(),
                    outcome: record.result,
                    reason: e.to_string(),
                })
            }
        }
    }

    /// A connection of this team; any other is "not found".
    pub(super) fn own(&self, id: &str) -> Result<ConnectionRecord> {
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
    pub(super) async fn on<T, F, Fut>(&self, operation: &str, id: &str, f: F) -> Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let (result, connector) = match self.own(id) {
            Ok(r) => (f().await, Some(r.connector)),
            Err(e) => (Err(e), None),
        };
        self.log(operation, Some(id), connector.as_deref(), None, result)
    }

    // ---- connections ----

    pub fn list(&self) -> Result<Vec<ConnectionRecord>> {
        self.m.list(Some(&self.caller.team))
    }

    /// One page of the team's connections (see [`crate::Store::list_page`]).
    pub fn list_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<ConnectionRecord>, Option<String>)> {
        self.m.store().list_page(&self.caller.team, after, limit)
    }

    pub fn get(&self, id: &str) -> Result<ConnectionRecord> {
        self.own(id)
    }

    pub async fn create(&self, new: NewConnection) -> Result<ConnectionRecord> {
        self.create_checked(new, false).await
    }

    /// Creates a connection only if it also verifies; see
    /// [`Manager::create_verified`].
    pub async fn create_verified(&self, new: NewConnection) -> Result<ConnectionRecord> {
        self.create_checked(new, true).await
    }

    async fn create_checked(
        &self,
        mut new: NewConnection,
        verify: bool,
    ) -> Result<ConnectionRecord> {
        new.team = Some(self.caller.team.clone());
        let connector = new.connector.clone();
        let r = match verify {
            true => self.m.create_verified(new).await,
            false => self.m.create(new).await,
        };
        self.log(
            "connection.create",
            r.as_ref().ok().map(|r| r.id.clone()).as_deref(),
            Some(&connector),
            None,
            r,
        )
    }

    pub async fn rename(&self, id: &str, name: &str) -> Result<ConnectionRecord> {
        self.on("connection.rename", id, || async {
            self.m.rename(id, name)
        })
        .await
    }

    /// Replaces all data; see [`Manager::edit`].
    pub async fn edit(&self, id: &str, new: NewConnection) -> Result<ConnectionRecord> {
        self.on("connection.edit", id, || async {
            self.keeps_usages_scopes(id, &new)?;
            // Asked for is not enough: what the provider grants is checked
            // before the change is kept (client credentials included).
            let keep = self.grant_to_keep(id)?;
            self.m.edit_keeping(id, new, &keep).await
        })
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
        self.on("connection.set-secret", id, || async {
            let keep = self.grant_to_keep(id)?;
            self.m.set_secret_keeping(id, name, value, &keep).await
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
            if !blocking.is_empty() && force {
                self.may(Operation::DeleteInUse).map_err(|_| {
                    Error::Forbidden(format!(
                        "usages still need `{id}`; only a team admin may delete it anyway"
                    ))
                })?;
            }
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

    /// A request through one of this team's connections (`conn_…` or
    /// `dynamic:NAME` for `context`); see [`Manager::request`]. With a
    /// `consumer`, its usages of that connection must have their scopes
    /// first (`account-validation` naming the missing ones).
    pub async fn request(
        &self,
        reference: &str,
        req: &crate::manager::ApiRequest,
        consumer: Option<&str>,
        context: &std::collections::BTreeMap<String, String>,
    ) -> Result<crate::manager::ApiResponse> {
        self.through(
            "connection.request",
            reference,
            consumer,
            context,
            |r: &crate::manager::ApiResponse| r.connector.clone(),
            |id| async move { self.m.request(&id, req).await },
        )
        .await
    }

    /// [`TeamView::request`] with the body streamed both ways (the
    /// pass-through proxy); see [`Manager::pass`].
    pub async fn pass(
        &self,
        reference: &str,
        head: &crate::manager::ApiRequest,
        body: crate::manager::Upload,
        consumer: Option<&str>,
        context: &std::collections::BTreeMap<String, String>,
    ) -> Result<crate::manager::Passed> {
        self.through(
            "connection.proxy",
            reference,
            consumer,
            context,
            |r: &crate::manager::Passed| r.connector.clone(),
            |id| async move { self.m.pass(&id, head, body).await },
        )
        .await
    }

    /// Resolves `reference` in this team, checks `consumer`'s usages of
    /// it, runs `send` on the connection id, and audits the outcome.
    async fn through<T, F, Fut>(
        &self,
        operation: &str,
        reference: &str,
        consumer: Option<&str>,
        context: &std::collections::BTreeMap<String, String>,
        connector_of: impl Fn(&T) -> String,
        send: F,
    ) -> Result<T>
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let resolved = self.resolve(reference, context);
        let (conn, via) = match &resolved {
            Ok((id, via)) => (Some(id.clone()), via.clone()),
            Err(_) => (None, None),
        };

        let result = async {
            let (id, _) = resolved?;
            if let Some(consumer) = consumer {
                let needs: Vec<Usage> = self
                    .registry
                    .usages()?
                    .into_iter()
                    .filter(|u| u.consumer == consumer && u.connection == reference)
                    .collect();
                if needs.is_empty() {
                    return Err(Error::NotFound {
                        what: "usage",
                        id: format!("{consumer} of {reference}"),
                    });
                }
                for u in needs {
                    self.m.check_scopes(&id, &u.scopes).await?;
                }
            }
            send(id).await
        }
        .await;
        let connector = result.as_ref().ok().map(connector_of);
        self.log(
            operation,
            conn.as_deref(),
            connector.as_deref(),
            via,
            result,
        )
    }

    /// Audit records of this team.
    pub fn audit(&self, connection: Option<&str>, since: Option<u64>) -> Result<Vec<AuditRecord>> {
        self.audit.read(&self.caller.team, connection, since)
    }

    /// A page of the team's audit records after `after` (see
    /// [`crate::store::audit::AuditLog::read_page`]); `true` when more
    /// follow.
    pub fn audit_page(
        &self,
        connection: Option<&str>,
        since: Option<u64>,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<AuditRecord>, bool)> {
        self.audit
            .read_page(&self.caller.team, connection, since, after, limit)
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
