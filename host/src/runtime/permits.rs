//! Who may run a plugin call now: at most `per_team` calls of one team at
//! once and `total` in all (the pooling allocator's instance slots). A
//! team's looping or slow calls then queue behind each other, never in
//! front of another team's, and a full pool is a wait, not an
//! instantiation failure. Waits are bounded: past `wait` the caller gets
//! a typed `busy` error to retry.
//!
//! And how much CPU a team's guest code may burn: a token bucket per team
//! of `cpu_per_team` cores (refilled continuously, one second of burst),
//! spent a tick at a time while its guests run. A team whose guests spin
//! sleeps until its bucket refills, so its calls slow down, not every
//! other team's.

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub(crate) struct CallPermits {
    total: Arc<Semaphore>,
    per_team: usize,
    cpu_per_team: f64,
    wait: Duration,
    teams: Mutex<HashMap<String, Arc<Team>>>,
}

/// One team's call slots and guest-CPU bucket.
pub(crate) struct Team {
    slots: Arc<Semaphore>,
    cpu: Mutex<Bucket>,
    /// Cores' worth of guest CPU (milliseconds per millisecond).
    rate: f64,
}

struct Bucket {
    /// Milliseconds of guest CPU the team may still use now.
    ms: f64,
    at: std::time::Instant,
}

impl Team {
    /// Spends `ms` of guest CPU; `Some(wait)` when the bucket is empty and
    /// the guest should sleep that long first.
    pub(crate) fn spend(&self, ms: f64) -> Option<Duration> {
        let mut b = self.cpu.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        let refill = now.duration_since(b.at).as_secs_f64() * 1000.0 * self.rate;
        // One second of burst.
        b.ms = (b.ms + refill).min(1000.0 * self.rate);
        b.at = now;
        b.ms -= ms;
        (b.ms < 0.0).then(|| Duration::from_secs_f64(-b.ms / self.rate / 1000.0))
    }
}

/// Held for an instance's life; dropping it frees both slots.
pub(crate) struct CallPermit {
    pub(crate) team: Arc<Team>,
    _team: OwnedSemaphorePermit,
    _total: OwnedSemaphorePermit,
}

impl CallPermits {
    pub(crate) fn new(total: u32, per_team: u32, cpu_per_team: f64, wait: Duration) -> Self {
        CallPermits {
            total: Arc::new(Semaphore::new(total.max(1) as usize)),
            per_team: per_team.max(1) as usize,
            cpu_per_team: cpu_per_team.max(0.01),
            wait,
            teams: Mutex::default(),
        }
    }

    /// Waits (at most `wait`) for a slot of `team`'s, then one of the
    /// pool's. The team's slot comes first so that a team never holds a
    /// pool slot while it queues behind itself.
    pub(crate) async fn acquire(&self, team: &str) -> Result<CallPermit> {
        let deadline = tokio::time::Instant::now() + self.wait;
        let t = self.team(team);
        let busy = |what: String| Error::Busy {
            what,
            retry_after: 1,
        };
        let team_permit = tokio::time::timeout_at(deadline, t.slots.clone().acquire_owned())
            .await
            .map_err(|_| {
                busy(format!(
                    "team `{team}` already runs {} connector calls",
                    self.per_team
                ))
            })?
            .map_err(|_| busy("the plugin runtime is shutting down".into()))?;
        let total = tokio::time::timeout_at(deadline, self.total.clone().acquire_owned())
            .await
            .map_err(|_| busy("every connector call slot is in use".into()))?
            .map_err(|_| busy("the plugin runtime is shutting down".into()))?;
        Ok(CallPermit {
            team: t,
            _team: team_permit,
            _total: total,
        })
    }

    fn team(&self, team: &str) -> Arc<Team> {
        let mut teams = self.teams.lock().unwrap_or_else(|p| p.into_inner());
        if teams.len() > 4096 {
            // Forget idle teams so the map does not grow with every team
            // ever seen.
            teams.retain(|_, t| Arc::strong_count(t) > 1);
        }
        teams
            .entry(team.to_string())
            .or_insert_with(|| {
                Arc::new(Team {
                    slots: Arc::new(Semaphore::new(self.per_team)),
                    cpu: Mutex::new(Bucket {
                        ms: 1000.0 * self.cpu_per_team,
                        at: std::time::Instant::now(),
                    }),
                    rate: self.cpu_per_team,
                })
            })
            .clone()
    }

    /// Calls of `team` running now (tests, metrics).
    pub(crate) fn running(&self, team: &str) -> usize {
        let teams = self.teams.lock().unwrap_or_else(|p| p.into_inner());
        teams
            .get(team)
            .map_or(0, |t| self.per_team - t.slots.available_permits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_team_at_its_cap_waits_and_another_team_does_not() {
        let p = CallPermits::new(8, 2, 1.0, Duration::from_millis(50));
        let a1 = p.acquire("a").await.unwrap();
        let _a2 = p.acquire("a").await.unwrap();
        assert_eq!(p.running("a"), 2);
        let e = p
            .acquire("a")
            .await
            .err()
            .expect("a third call of team a waits, then is busy");
        assert_eq!(e.kind(), "busy");
        assert!(e.to_string().contains("team `a`"), "{e}");
        // Team b is not behind team a.
        let _b = p.acquire("b").await.unwrap();
        drop(a1);
        let _a3 = p.acquire("a").await.unwrap();
        assert_eq!(p.running("a"), 2);
    }

    #[tokio::test]
    async fn the_pool_bounds_all_teams_together() {
        let p = CallPermits::new(2, 2, 1.0, Duration::from_millis(50));
        let _a = p.acquire("a").await.unwrap();
        let _b = p.acquire("b").await.unwrap();
        let e = p.acquire("c").await.err().expect("the pool is full");
        assert!(e.to_string().contains("every connector call slot"), "{e}");
        // Waiting for the pool gave the team slot back.
        assert_eq!(p.running("c"), 0);
    }

    #[test]
    fn a_team_that_spends_its_guest_cpu_waits_for_the_refill() {
        let p = CallPermits::new(8, 2, 0.5, Duration::from_millis(50));
        let t = p.team("a");
        // Half a core: a burst of 500 ms, then 0.5 ms a millisecond.
        assert_eq!(t.spend(400.0), None);
        let wait = t.spend(200.0).expect("over the burst");
        assert!(
            (wait.as_secs_f64() - 0.2).abs() < 0.02,
            "100 ms over at half a core is ~200 ms: {wait:?}"
        );
        // Another team's bucket is its own.
        assert_eq!(p.team("b").spend(400.0), None);
    }
}
