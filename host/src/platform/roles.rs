//! What a team key's role allows, as one table ([`PERMISSIONS`]) that every
//! team operation whose rights differ by role consults first. An admin
//! does everything the team may; a member never breaks a usage: the
//! operations marked [`Rule::KeepsUsages`] go ahead for a member only while
//! no active or scheduled usage would lose what it needs (the check of
//! that lives beside each operation), and team settings are refused.

use super::team::TeamView;
use crate::error::{Error, Result};
use crate::manager::{AuthorizeStart, NewConnection};
use crate::store::Role;

/// A team operation whose rights depend on the caller's role. Operations
/// not listed (create, verify, refresh, rename, request, check, list,
/// read the audit) are every role's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Edit a connection's fields and secrets.
    Edit,
    /// Start a new consent for a connection (reauthorize, edit by consent).
    Reauthorize,
    /// Delete a connection that usages still need (`force`).
    DeleteInUse,
    /// Add or replace a usage (narrowing or switching off an existing one).
    SetUsage,
    /// Remove a consumer's usages.
    RemoveUsage,
    /// Add or re-point a dynamic connection.
    SetDynamic,
    /// Change where the team's consent flows may return.
    SetReturnUrls,
    AddProvider,
    RemoveProvider,
    AddWebhook,
    RemoveWebhook,
}

/// What a role may do with an [`Operation`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    Allowed,
    /// Allowed while no active or scheduled usage loses what it needs.
    KeepsUsages,
    Denied,
}

/// The table: operation, then the admin's rule and the member's.
pub const PERMISSIONS: &[(Operation, Rule, Rule)] = {
    use Operation::*;
    use Rule::*;
    &[
        (Edit, Allowed, KeepsUsages),
        (Reauthorize, Allowed, KeepsUsages),
        (DeleteInUse, Allowed, Denied),
        (SetUsage, Allowed, KeepsUsages),
        (RemoveUsage, Allowed, KeepsUsages),
        (SetDynamic, Allowed, KeepsUsages),
        (SetReturnUrls, Allowed, Denied),
        (AddProvider, Allowed, Denied),
        (RemoveProvider, Allowed, Denied),
        (AddWebhook, Allowed, Denied),
        (RemoveWebhook, Allowed, Denied),
    ]
};

impl Operation {
    /// What a refusal says the caller may not do.
    pub fn what(self) -> &'static str {
        match self {
            Operation::Edit => "edit a connection's scopes that usages need",
            Operation::Reauthorize => "reauthorize without the scopes usages need",
            Operation::DeleteInUse => "delete a connection that usages need",
            Operation::SetUsage => "switch off a usage or drop scopes it needs",
            Operation::RemoveUsage => "remove an active or scheduled usage",
            Operation::SetDynamic => "re-point a dynamic connection usages run through",
            Operation::SetReturnUrls => "change where consent returns",
            Operation::AddProvider => "add provider definitions",
            Operation::RemoveProvider => "remove provider definitions",
            Operation::AddWebhook => "add webhooks",
            Operation::RemoveWebhook => "remove webhooks",
        }
    }
}

/// `role`'s rule for `op`, from [`PERMISSIONS`].
pub fn permission(role: Role, op: Operation) -> Rule {
    let (_, admin, member) = PERMISSIONS
        .iter()
        .find(|(o, _, _)| *o == op)
        .copied()
        .unwrap_or((op, Rule::Denied, Rule::Denied));
    match role {
        Role::Admin => admin,
        Role::Member => member,
    }
}

/// The refusal of `op` to a role the table denies it.
pub(super) fn forbidden(op: Operation) -> Error {
    Error::Forbidden(format!("only a team admin may {}", op.what()))
}

impl TeamView<'_> {
    /// Acts with `role`'s rights (a team key's role).
    pub fn acting_as(mut self, role: Role) -> Self {
        self.role = role;
        self
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// This caller's rule for `op`.
    pub fn rule(&self, op: Operation) -> Rule {
        permission(self.role, op)
    }

    /// Refuses `op` when the table denies it to this caller's role.
    pub fn may(&self, op: Operation) -> Result<()> {
        match self.rule(op) {
            Rule::Denied => Err(forbidden(op)),
            Rule::Allowed | Rule::KeepsUsages => Ok(()),
        }
    }

    /// Whether `op` must leave every usage what it needs for this caller.
    pub(super) fn keeps_usages(&self, op: Operation) -> bool {
        self.rule(op) == Rule::KeepsUsages
    }

    /// What a member's change must leave granted: the granted scopes that
    /// active or scheduled usages need (none for an admin).
    pub(super) fn grant_to_keep(&self, id: &str) -> Result<Vec<String>> {
        if !self.keeps_usages(Operation::Reauthorize) {
            return Ok(Vec::new());
        }
        let record = self.own(id)?;
        let mut needed: Vec<String> = self
            .blocking_usages(id)?
            .into_iter()
            .flat_map(|u| u.scopes)
            .filter(|s| record.granted_scopes.contains(s))
            .collect();
        needed.sort();
        needed.dedup();
        Ok(needed)
    }

    /// A member's consent must come back with the granted scopes that
    /// active or scheduled usages need (checked when it finishes).
    pub(super) fn keep_grant(&self, id: &str, start: &AuthorizeStart) -> Result<()> {
        let needed = self.grant_to_keep(id)?;
        match needed.is_empty() {
            true => Ok(()),
            false => self.m.require_grant(&start.pending_id, needed),
        }
    }

    /// A member's edit must not stop asking for a scope the connection's
    /// active or scheduled usages need (an admin may drop them).
    pub(super) fn keeps_usages_scopes(&self, id: &str, new: &NewConnection) -> Result<()> {
        if !self.keeps_usages(Operation::Edit) {
            return Ok(());
        }
        let record = self.own(id)?;
        let manifest = self.m.connector(&record.connector)?;
        if manifest.scopes_field.is_none() {
            return Ok(());
        }
        // Dropped: asked for or granted before, needed by a usage, not
        // asked for now. (Asking for none means the provider's defaults,
        // which are not known here: then only what was asked for counts.)
        let asked = manifest.requested_scopes(&new.fields);
        let mut before = manifest.requested_scopes(&record.fields);
        if !asked.is_empty() {
            before.extend(record.granted_scopes.iter().cloned());
        }
        let mut dropped: Vec<String> = self
            .blocking_usages(id)?
            .into_iter()
            .flat_map(|u| u.scopes)
            .filter(|s| before.contains(s) && !asked.contains(s))
            .collect();
        dropped.sort();
        dropped.dedup();
        match dropped.is_empty() {
            true => Ok(()),
            false => Err(Error::Forbidden(format!(
                "usages still need {}; only a team admin may drop them",
                dropped.join(", ")
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Operation::*;

    /// The rights written out by hand, independently of [`PERMISSIONS`]:
    /// (operation, admin, member) with A = allowed, K = keeps usages, D = denied.
    const EXPECTED: &[(Operation, char, char)] = &[
        (Edit, 'A', 'K'),
        (Reauthorize, 'A', 'K'),
        (DeleteInUse, 'A', 'D'),
        (SetUsage, 'A', 'K'),
        (RemoveUsage, 'A', 'K'),
        (SetDynamic, 'A', 'K'),
        (SetReturnUrls, 'A', 'D'),
        (AddProvider, 'A', 'D'),
        (RemoveProvider, 'A', 'D'),
        (AddWebhook, 'A', 'D'),
        (RemoveWebhook, 'A', 'D'),
    ];

    fn letter(r: Rule) -> char {
        match r {
            Rule::Allowed => 'A',
            Rule::KeepsUsages => 'K',
            Rule::Denied => 'D',
        }
    }

    #[test]
    fn every_role_and_operation_has_its_rule() {
        for &(op, admin, member) in EXPECTED {
            assert_eq!(letter(permission(Role::Admin, op)), admin, "admin {op:?}");
            assert_eq!(
                letter(permission(Role::Member, op)),
                member,
                "member {op:?}"
            );
        }
        assert_eq!(
            EXPECTED.len(),
            PERMISSIONS.len(),
            "an operation is untested"
        );
    }

    #[test]
    fn each_operation_is_in_the_table_once() {
        for (i, (op, _, _)) in PERMISSIONS.iter().enumerate() {
            assert!(
                !PERMISSIONS[i + 1..].iter().any(|(o, _, _)| o == op),
                "{op:?} twice"
            );
        }
    }

    #[test]
    fn an_admin_is_never_refused_and_a_refusal_names_the_operation() {
        for &(op, _, _) in PERMISSIONS {
            assert_ne!(permission(Role::Admin, op), Rule::Denied, "{op:?}");
        }
        let e = forbidden(AddWebhook);
        assert_eq!(e.kind(), "forbidden");
        assert!(e.to_string().contains("add webhooks"), "{e}");
    }
}
