//! Connections: create, rename, edit, delete, and the scope check.

use super::{allowlist_for, input_of, Deleted, Manager, NewConnection, DEFAULT_TEAM};
use crate::bindings::types as wit;
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::secret::SecretScope;
use crate::store::{ConnectionRecord, Status};
use crate::util::{now, random_hex};
use std::collections::BTreeSet;

impl Manager {
    /// Connections of `team` (all teams when `None`).
    pub fn list(&self, team: Option<&str>) -> Result<Vec<ConnectionRecord>> {
        let Some(team) = team else {
            return self.store.list();
        };
        // The team's own listing, a page at a time: other teams' records
        // are never read.
        let (mut all, mut after) = (Vec::new(), None);
        loop {
            let (page, next) = self.store.list_page(team, after.as_deref(), 1000)?;
            all.extend(page);
            match next {
                Some(n) => after = Some(n),
                None => return Ok(all),
            }
        }
    }

    pub fn get(&self, id: &str) -> Result<ConnectionRecord> {
        self.store.get(id)
    }

    pub(super) fn new_record(
        &self,
        manifest: &Manifest,
        new: &NewConnection,
    ) -> Result<ConnectionRecord> {
        let team = new.team.clone().unwrap_or_else(|| DEFAULT_TEAM.to_string());
        let name = match &new.name {
            Some(n) => check_name(n)?,
            None => self.default_name(manifest, &team)?,
        };
        Ok(ConnectionRecord::new(
            format!("conn_{}", random_hex(8)),
            team,
            manifest.id.clone(),
            name,
        ))
    }

    /// Creates a connection: checks fields against the manifest, lets the
    /// component validate them and obtain access, then stores the record.
    pub async fn create(&self, new: NewConnection) -> Result<ConnectionRecord> {
        self.create_checked(new, false).await
    }

    /// [`Manager::create`], and the connection also verifies (in the same
    /// instance) before anything is stored: on any failure nothing is
    /// kept, so no connection in error is left behind.
    pub async fn create_verified(&self, new: NewConnection) -> Result<ConnectionRecord> {
        self.create_checked(new, true).await
    }

    async fn create_checked(
        &self,
        mut new: NewConnection,
        verify: bool,
    ) -> Result<ConnectionRecord> {
        let manifest = self.connector(&new.connector)?;
        let team = new.team.as_deref().unwrap_or(DEFAULT_TEAM).to_string();
        let approved = self.expand_definition(&team, &manifest, &mut new.fields)?;
        let mut record = self.new_record(&manifest, &new)?;
        record.definition_origins = approved;
        let (_, mut instance) = self.run_create(&manifest, &mut record, &new).await?;
        if verify {
            let label = instance.verify(&input_of(&record)).await?.account_label;
            let t = now();
            record.status = Status::Ok;
            record.account_label = Some(label);
            record.last_error = None;
            record.verified_at = Some(t);
            record.updated_at = t;
        }
        let secrets = self.finish(&record, instance)?;
        self.store.seal_secrets(&mut record, secrets.values());
        self.store.insert(&mut record)?;
        tracing::info!(connection = %record.id, connector = %record.connector, "created");
        Ok(record)
    }

    /// Validates `new` against the manifest, then runs the component's
    /// `create` on `record` (in memory only). Returns the instance, which
    /// the caller may go on using (an edit verifies with it).
    async fn run_create(
        &self,
        manifest: &Manifest,
        record: &mut ConnectionRecord,
        new: &NewConnection,
    ) -> Result<(wit::ConnectionState, crate::runtime::ConnectorInstance)> {
        let resolved = resolve(manifest, new, false)?;
        allowlist_for(manifest, &resolved.fields)?;
        record.fields = resolved.fields;
        record.granted_scopes.clear();
        record.expires_at = None;
        let scope = SecretScope::new(new.secrets.clone());
        let (manifest, mut instance) = self.instance_with_origins(record, scope).await?;
        let state = instance.create(&input_of(record)).await?;
        super::renewal::apply_state(record, state.clone());
        if !state.fields.is_empty() {
            self.origins_after_state(&manifest, record, &mut instance)
                .await?;
        }
        Ok((state, instance))
    }

    /// "Celonis 1", "Celonis 2", …: the first name not taken in the team.
    fn default_name(&self, manifest: &Manifest, team: &str) -> Result<String> {
        // A large team gets the next number without reading every record
        // (names need not be unique; the user can change it).
        const READ_UP_TO: usize = 1000;
        let size = self.store.team_size(team, READ_UP_TO + 1)?;
        if size > READ_UP_TO {
            let all = self.store.team_size(team, usize::MAX)?;
            return Ok(format!("{} {}", manifest.display_name, all + 1));
        }
        let taken: BTreeSet<String> = self.list(Some(team))?.into_iter().map(|r| r.name).collect();
        Ok((1..)
            .map(|n| format!("{} {n}", manifest.display_name))
            .find(|n| !taken.contains(n))
            .expect("unbounded counter"))
    }

    pub fn rename(&self, id: &str, name: &str) -> Result<ConnectionRecord> {
        let name = check_name(name)?;
        let record = self.store.get(id)?;
        self.commit(record, |r| {
            r.name.clone_from(&name);
            r.updated_at = now();
            Ok(())
        })
    }

    /// Replaces all data of a connection (secrets must be given again).
    /// The new data is created and verified through the component first,
    /// in one instance; the stored connection changes only if both
    /// succeed. The id stays, and so does a name changed meanwhile unless
    /// the edit gives one.
    pub async fn edit(&self, id: &str, new: NewConnection) -> Result<ConnectionRecord> {
        self.edit_keeping(id, new, &[]).await
    }

    /// [`Manager::edit`] that must keep `keep` granted: when the provider
    /// grants fewer of them (a client-credentials client that now gets
    /// less, say) nothing is kept, the new tokens are revoked where the
    /// connector can, and the edit is `forbidden`.
    pub async fn edit_keeping(
        &self,
        id: &str,
        mut new: NewConnection,
        keep: &[String],
    ) -> Result<ConnectionRecord> {
        let old = self.store.get(id)?;
        let manifest = self.connector(&old.connector)?;
        let mut approved = self.expand_definition(&old.team, &manifest, &mut new.fields)?;
        // The same definition text (a secret replaced by `set_secret`)
        // keeps the origins approved when it was added.
        if let Some(d) = &manifest.definitions {
            if approved.is_empty() && new.fields.get(&d.content) == old.fields.get(&d.content) {
                approved.clone_from(&old.definition_origins);
            }
        }
        if !new.connector.is_empty() && new.connector != old.connector {
            return Err(Error::invalid(
                "connector",
                format!("an edit keeps the connector (`{}`)", old.connector),
            ));
        }
        let name = new.name.as_deref().map(check_name).transpose()?;
        let mut record = old.clone();
        record.definition_origins = approved;
        let (_, mut instance) = self.run_create(&manifest, &mut record, &new).await?;
        // A provider that names no grant granted what was asked.
        let granted = match record.granted_scopes.is_empty() {
            true => manifest.requested_scopes(&record.fields),
            false => record.granted_scopes.clone(),
        };
        let lost: Vec<&String> = keep.iter().filter(|s| !granted.contains(s)).collect();
        if !lost.is_empty() {
            if let Err(e) = instance.revoke(&input_of(&record)).await {
                tracing::warn!(connection = %id, "revoking the narrower tokens failed: {e}");
            }
            return Err(Error::Forbidden(format!(
                "the provider granted less than usages need (missing {}); only a team admin may narrow the grant",
                lost.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        let label = instance.verify(&input_of(&record)).await?.account_label;
        let secrets = self.finish(&record, instance)?;
        let t = now();
        self.commit(old, |r| {
            super::take_access(r, &record);
            if let Some(n) = &name {
                r.name.clone_from(n);
            }
            r.status = Status::Ok;
            r.account_label = Some(label.clone());
            r.last_error = None;
            r.verified_at = Some(t);
            r.updated_at = t;
            self.store.seal_secrets(r, secrets.values());
            Ok(())
        })
    }

    /// Replaces one secret (e.g. a regenerated client secret), keeping the
    /// other data: an edit, so the connection changes only if it verifies
    /// with the new secret. Tokens are dropped: create obtains fresh ones.
    pub async fn set_secret(
        &self,
        id: &str,
        name: &str,
        value: crate::secret::Secret,
    ) -> Result<ConnectionRecord> {
        self.set_secret_keeping(id, name, value, &[]).await
    }

    /// [`Manager::set_secret`] that must keep `keep` granted (see
    /// [`Manager::edit_keeping`]).
    pub async fn set_secret_keeping(
        &self,
        id: &str,
        name: &str,
        value: crate::secret::Secret,
        keep: &[String],
    ) -> Result<ConnectionRecord> {
        let record = self.store.get(id)?;
        let manifest = self.connector(&record.connector)?;
        if !manifest.field(name).is_some_and(|f| f.secret) {
            return Err(Error::invalid(
                name,
                format!("is not a secret field of `{}`", record.connector),
            ));
        }
        let mut secrets = self.store.open_secrets(&record)?.into_values();
        for token in &manifest.token_secrets {
            secrets.remove(token);
        }
        secrets.insert(name.to_string(), value);
        let new = NewConnection {
            connector: record.connector.clone(),
            name: None,
            team: None,
            fields: record.fields.clone(),
            secrets,
        };
        self.edit_keeping(id, new, keep).await
    }

    /// Whether the connection's granted scopes cover `required`
    /// (`account-validation` naming each missing scope otherwise).
    pub async fn check_scopes(&self, id: &str, required: &[String]) -> Result<()> {
        let record = self.store.get(id)?;
        let (_, mut instance) = self.instance(&record, SecretScope::default()).await?;
        instance
            .validate_scopes(required, &record.granted_scopes)
            .await
    }

    /// Revokes the connection's tokens at the provider, then removes the
    /// record and its secrets whether or not revocation worked.
    pub async fn delete(&self, id: &str) -> Result<Deleted> {
        let record = self.store.get(id)?;
        let revocation_error = self.revoke(&record).await.err().map(|e| e.to_string());
        self.store.delete(id)?;
        Ok(Deleted {
            id: record.id,
            name: record.name,
            revocation_error,
        })
    }

    pub(super) async fn revoke(&self, record: &ConnectionRecord) -> Result<()> {
        let scope = self.store.open_secrets(record)?;
        let (_, mut instance) = self.instance(record, scope).await?;
        let revoked = instance.revoke(&input_of(record)).await;
        self.finish(record, instance)?;
        revoked
    }
}

/// Checks `new` against the manifest, and that its auth kind is (with
/// `consent`) or is not (without) a browser consent flow.
pub(super) fn resolve(
    manifest: &Manifest,
    new: &NewConnection,
    consent: bool,
) -> Result<crate::manifest::Resolved> {
    let secret_names: BTreeSet<String> = new.secrets.keys().cloned().collect();
    let resolved = manifest.resolve(&new.fields, &secret_names)?;
    let is_consent = manifest
        .auth_kind(&resolved.auth_kind)
        .is_some_and(|k| k.authorization_code);
    if is_consent != consent {
        let advice = if consent {
            "does not use the consent flow: create the connection directly"
        } else {
            "needs the browser consent flow: start an authorization instead"
        };
        return Err(Error::invalid(
            &manifest.auth_field,
            format!("`{}` {advice}", resolved.auth_kind),
        ));
    }
    Ok(resolved)
}

pub(super) fn check_name(name: &str) -> Result<String> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 200 || n.chars().any(unprintable) {
        return Err(Error::invalid(
            "name",
            "must be 1 to 200 printable characters (no control, format or line/paragraph separator characters)",
        ));
    }
    Ok(n.to_string())
}

/// Characters a name shown to people must not hold: controls (Cc), and
/// the invisible ones that change how text around them reads: format
/// characters (Cf: bidi overrides and isolates, zero-width characters,
/// the soft hyphen, tag characters, …), and the line and paragraph
/// separators (Zl, Zp). The Cf list is Unicode 16's.
pub(crate) fn unprintable(c: char) -> bool {
    c.is_control()
        || matches!(
            c as u32,
            0x00AD
                | 0x0600..=0x0605
                | 0x061C
                | 0x06DD
                | 0x070F
                | 0x0890..=0x0891
                | 0x08E2
                | 0x180E
                | 0x200B..=0x200F
                | 0x2028..=0x202E
                | 0x2060..=0x2064
                | 0x2066..=0x206F
                | 0xFEFF
                | 0xFFF9..=0xFFFB
                | 0x110BD
                | 0x110CD
                | 0x13430..=0x1343F
                | 0x1BCA0..=0x1BCA3
                | 0x1D173..=0x1D17A
                | 0xE0001
                | 0xE0020..=0xE007F
        )
}

/// Fields a connector hands back may add values (e.g. discovered
/// endpoints) but never change one: a plugin must not re-point a
/// connection, say by rewriting the domain its allowlist comes from.
pub(super) fn add_fields(record: &mut ConnectionRecord, fields: Vec<(String, String)>) {
    for (k, v) in fields {
        match record.fields.get(&k) {
            Some(old) if *old != v => {
                tracing::warn!(connection = %record.id, field = %k, "connector tried to change a field; ignored")
            }
            _ => {
                record.fields.insert(k, v);
            }
        }
    }
}
