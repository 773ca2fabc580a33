//! The platform's view of connections, as the seeds describe it: teams
//! (each sees only its own), usages and least-privilege scope plans,
//! dynamic connections, the delete guard, and the audit log.
//!
//! * [`team`]: the team-scoped API ([`TeamView`]);
//! * `consumers`, `providers`: the team's usages, dynamic connections and
//!   provider definitions, through [`TeamView`];
//! * [`usage`]: usages, dynamic connections, scope plans;
//! * [`audit`]: the append-only audit log.

pub mod audit;
mod consent;
mod consumers;
mod providers;
mod roles;
pub mod team;
pub mod usage;

pub use audit::{AuditRecord, ChainReport};
pub use team::{is_account_validation, Caller, TeamView, UsageCheck};
pub use usage::{plan_scopes, DynamicConnection, Usage, UsageState, DYNAMIC_PREFIX};
