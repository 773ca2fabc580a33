//! The platform's view of connections, as the seeds describe it: teams
//! (each sees only its own), usages and least-privilege scope plans,
//! dynamic connections, the delete guard, and the audit log.
//!
//! * [`team`]: the team-scoped API ([`TeamView`]);
//! * `consumers`, `providers`: the team's usages, dynamic connections and
//!   provider definitions, through [`TeamView`];
//!
//! What the team layer stores (usages, dynamic connections, return URLs,
//! the audit chain) is kept by `store::usage` and `store::audit`.

mod consent;
mod consumers;
mod providers;
pub mod roles;
pub mod team;

pub use consumers::plan_scopes;
pub use roles::{permission, Operation, Rule, PERMISSIONS};
pub use team::{is_account_validation, TeamView, UsageCheck};
