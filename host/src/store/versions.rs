//! Anti-rollback for every signed document that is not a connection
//! record (API keys, connect sessions, webhooks, the events cursor,
//! provider definitions, connectors, team lists, pending authorizations):
//! each write bumps a version the document's tag covers (see
//! `connhost_seal::signed`), and the version each document was last
//! committed at, or a tombstone for each removed one, is kept apart from
//! the documents in 256 tagged bucket files (`versions/xx.json`, by the
//! first byte of the SHA-256 of `kind:id`), as [`super::index`] does for
//! connection records. Everything here is built on the backend's
//! documents and locks, so it holds on every backend.
//!
//! Invariant: a document loads only if its version is the committed one,
//! or one more (a write that crashed between the document and the index;
//! nobody but the key holder can make that document, and the next write
//! moves the index past it); a removed document stays removed (a write
//! may make it again, at a version past its tombstone); a document the
//! index has but the store lacks is refused, not taken for "none" (an
//! emptied list is a rollback too). So an older copy put back, a removed
//! document's file restored, or a document deleted behind the store's
//! back is refused, and `connhost store check` names it. Not detected:
//! rolling back a bucket together with its documents (a snapshot restore
//! of part of the store, which only an anchor outside the store can
//! catch), and documents from before versions that an older copy replaced
//! before this version of connhost first indexed them (the first index is
//! trust on first use).

use super::backend::Backend;
use super::index::{bucket_name, Bucket, BucketCache};
use super::signed::{self, Signed};
use super::{lock, Held, KeyRing};
use crate::error::{Error, Result};
use std::sync::Arc;

/// A signed document kind under version protection.
pub(crate) trait Versioned: Signed {
    /// Its name in the index (`kind:id`); never changes.
    const KIND: &'static str;
}

/// What the index says about one document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Committed at this version.
    Live(u64),
    /// Removed; its last version.
    Deleted(u64),
    /// Never committed (or a first write that crashed before the index).
    Unknown,
}

impl State {
    /// The version the store is at for the document.
    fn at(self) -> u64 {
        match self {
            State::Live(v) | State::Deleted(v) => v,
            State::Unknown => 0,
        }
    }
}

/// Whether a document at `version` (`None`: there is none) may load.
pub(crate) fn judge(what: &'static str, id: &str, state: State, found: Option<u64>) -> Result<()> {
    let refuse = |why: String| Err(Error::Tampered(format!("{what} `{id}` ({why})")));
    let not_found = || {
        Err(Error::NotFound {
            what,
            id: id.to_string(),
        })
    };
    let Some(v) = found else {
        return match state {
            State::Live(c) => refuse(format!(
                "missing: the store committed version {c}, and removals leave a tombstone"
            )),
            _ => not_found(),
        };
    };
    match state {
        State::Live(c) | State::Deleted(c) if v == c + 1 => Ok(()),
        State::Live(c) if v == c => Ok(()),
        State::Deleted(_) if v <= state.at() => not_found(),
        State::Live(c) if v < c => refuse(format!(
            "an older copy: version {v}, the store committed version {c}"
        )),
        State::Unknown if v <= 1 => Ok(()),
        _ => refuse(format!(
            "version {v} was never committed (the store is at {})",
            state.at()
        )),
    }
}

fn entry(kind: &str, id: &str) -> String {
    format!("{kind}:{id}")
}

fn bucket_path(name: &str) -> String {
    format!("versions/{name}.json")
}

/// The index of documents' versions, shared by the store and the team
/// registries (cheap to clone).
#[derive(Clone, Debug)]
pub(crate) struct Versions {
    backend: Arc<dyn Backend>,
    keys: KeyRing,
    buckets: Arc<BucketCache>,
}

impl Versions {
    pub(crate) fn new(backend: Arc<dyn Backend>, keys: KeyRing) -> Versions {
        Versions {
            backend,
            keys,
            buckets: Default::default(),
        }
    }

    fn decode_bucket(&self, name: &str, bytes: Option<Vec<u8>>) -> Result<Arc<Bucket>> {
        super::index::decode_cached(
            &self.keys,
            &self.buckets,
            &format!("versions/{name}"),
            &bucket_path(name),
            name,
            bytes,
        )
    }

    fn load_bucket(&self, name: &str) -> Result<Arc<Bucket>> {
        let bytes = self.backend.read(&bucket_path(name))?;
        self.decode_bucket(name, bytes)
    }

    fn state_of(&self, entry: &str) -> Result<State> {
        let b = self.load_bucket(&bucket_name(entry))?;
        Ok(lookup(&b, entry))
    }

    /// What the index says about document `id` of kind `kind`.
    pub(crate) fn state(&self, kind: &str, id: &str) -> Result<State> {
        self.state_of(&entry(kind, id))
    }

    /// Records `states` (never moving a document back: a version only
    /// grows, a tombstone only goes for a later version), one write per
    /// bucket.
    fn note(&self, states: &[(String, State)]) -> Result<()> {
        let mut by_bucket: std::collections::BTreeMap<String, Vec<&(String, State)>> =
            Default::default();
        for s in states {
            by_bucket.entry(bucket_name(&s.0)).or_default().push(s);
        }
        for (name, states) in by_bucket {
            let _lock = self.backend.lock(
                &format!("locks/versions-{name}.lock"),
                lock::WRITE_WAIT,
                true,
            )?;
            let mut b = (*self.load_bucket(&name)?).clone();
            let before = (b.live.clone(), b.deleted.clone());
            for (entry, state) in states {
                let was = lookup(&b, entry);
                match *state {
                    State::Live(v) if v > was.at() || was == State::Unknown => {
                        b.deleted.remove(entry);
                        b.live.insert(entry.clone(), v);
                    }
                    State::Deleted(v) if !matches!(was, State::Deleted(_)) => {
                        b.live.remove(entry);
                        b.deleted.insert(entry.clone(), v.max(was.at()));
                    }
                    _ => {}
                }
            }
            if (b.live.clone(), b.deleted.clone()) != before {
                signed::put(&self.keys, &*self.backend, &bucket_path(&name), &mut b)?;
            }
        }
        Ok(())
    }

    /// Indexes documents the index does not know yet at the versions they
    /// are at (trust on first use, for a store from before versions).
    pub(crate) fn adopt(&self, found: &[(&'static str, String, u64)]) -> Result<()> {
        let states: Vec<(String, State)> = found
            .iter()
            .map(|(kind, id, v)| (entry(kind, id), State::Live(*v)))
            .collect();
        let mut fresh = Vec::new();
        for (e, s) in states {
            if self.state_of(&e)? == State::Unknown {
                fresh.push((e, s));
            }
        }
        self.note(&fresh)
    }

    /// The lock every write of one document takes (short-lived).
    fn doc_lock(&self, entry: &str) -> Result<Held> {
        use sha2::Digest;
        let h = crate::util::hex(&sha2::Sha256::digest(entry.as_bytes())[..16]);
        self.backend
            .lock(&format!("locks/doc-{h}.lock"), lock::WRITE_WAIT, true)
    }

    /// Whether there is a document at `path`, and its version if it
    /// checks out.
    fn current<T: Versioned>(&self, path: &str, id: &str) -> Result<(bool, Option<u64>)> {
        Ok(match self.backend.read(path)? {
            Some(b) => (
                true,
                signed::check_at::<T>(&self.keys, &b, id, path)
                    .ok()
                    .map(|(_, v)| v),
            ),
            None => (false, None),
        })
    }

    /// Reads document `id` at `path`, refusing an older copy, a removed
    /// one put back and a committed one gone missing.
    pub(crate) fn get<T: Versioned>(&self, path: &str, id: &str) -> Result<T> {
        let e = entry(T::KIND, id);
        // The index is read before the document and written after it, so
        // a write in flight shows as the document one version ahead; a
        // reader that raced more writes than that reads again. A rollback
        // stays a rollback however often it is read.
        let name = bucket_name(&e);
        let paths = [bucket_path(&name), path.to_string()];
        let mut tries = 0;
        loop {
            // Bucket and document in one read (one round trip to a database).
            let mut found = self.backend.read_many(&paths)?.into_iter();
            let (bucket, bytes) = (found.next().flatten(), found.next().flatten());
            let state = lookup(&*self.decode_bucket(&name, bucket)?, &e);
            let doc = match bytes {
                Some(b) => Some(signed::check_at::<T>(&self.keys, &b, id, path)?),
                None => None,
            };
            match judge(T::WHAT, id, state, doc.as_ref().map(|d| d.1)) {
                Err(Error::Tampered(_)) if tries < 3 => tries += 1,
                Err(e) => return Err(e),
                Ok(()) => {
                    return doc.map(|d| d.0).ok_or_else(|| Error::NotFound {
                        what: T::WHAT,
                        id: id.to_string(),
                    })
                }
            }
        }
    }

    /// Writes `doc` at `path` at the next version (creating it, or making
    /// a removed one again), then commits that version.
    pub(crate) fn put<T: Versioned>(&self, path: &str, doc: &mut T) -> Result<()> {
        let id = doc.id().to_string();
        let e = entry(T::KIND, &id);
        let _held = self.doc_lock(&e)?;
        let state = self.state_of(&e)?;
        let mut at = state.at();
        // A write that crashed before its index entry is committed now,
        // so the index never falls two versions behind.
        if let (_, Some(v)) = self.current::<T>(path, &id)? {
            if v > at && judge(T::WHAT, &id, state, Some(v)).is_ok() {
                self.note(&[(e.clone(), State::Live(v))])?;
                at = v;
            }
        }
        let version = at + 1;
        self.backend
            .write(path, &signed::encode_at(&self.keys, doc, version))?;
        self.note(&[(e, State::Live(version))])
    }

    /// Removes document `id`: the tombstone first, then the document, so
    /// its file put back later stays removed. `true` if this call removed
    /// a live document (of two racing removers, one).
    pub(crate) fn remove<T: Versioned>(&self, path: &str, id: &str) -> Result<bool> {
        let e = entry(T::KIND, id);
        let _held = self.doc_lock(&e)?;
        let state = self.state_of(&e)?;
        let (present, current) = self.current::<T>(path, id)?;
        if let State::Deleted(_) = state {
            // A removed document's file put back: cleared, still removed.
            if present {
                self.backend.remove(path)?;
            }
            return Ok(false);
        }
        if state == State::Unknown && !present {
            // Nothing to remove, and no tombstone for an id never used.
            return Ok(false);
        }
        let last = state.at().max(current.unwrap_or(0));
        self.note(&[(e, State::Deleted(last))])?;
        self.backend.remove(path)
    }

    /// Every entry of the index: `kind:id` and what it says (store check).
    pub(crate) fn entries(&self) -> Result<Vec<(String, State)>> {
        let mut out = Vec::new();
        for name in super::backend::list_all(&*self.backend, "versions", "json")? {
            let b = self.load_bucket(&name)?;
            out.extend(b.live.iter().map(|(e, v)| (e.clone(), State::Live(*v))));
            out.extend(
                b.deleted
                    .iter()
                    .map(|(e, v)| (e.clone(), State::Deleted(*v))),
            );
        }
        Ok(out)
    }
}

fn lookup(b: &Bucket, entry: &str) -> State {
    match (b.live.get(entry), b.deleted.get(entry)) {
        (_, Some(v)) => State::Deleted(*v),
        (Some(v), None) => State::Live(*v),
        (None, None) => State::Unknown,
    }
}

/// The kinds under version protection, by where their documents live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    ApiKey,
    Session,
    Webhook,
    HookState,
    Cursor,
    Provider,
    Connector,
    TeamList,
    Pending,
}

/// The team lists (`teams/<team>/<file>`).
pub(crate) const TEAM_LISTS: [&str; 3] = ["usages.json", "dynamic.json", "return-urls.json"];

impl Kind {
    /// The kind and id of the document at `path`, if it is one.
    pub(crate) fn of(path: &str) -> Option<(Kind, String)> {
        let parts: Vec<&str> = path.split('/').collect();
        let stem = |f: &str| {
            f.strip_suffix(".json")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        match parts[..] {
            ["events-cursor.json"] => Some((Kind::Cursor, "events".into())),
            ["webhooks", f] if f.ends_with(".state") => f
                .strip_suffix(".state")
                .filter(|s| !s.is_empty())
                .map(|id| (Kind::HookState, id.to_string())),
            [dir, f] => {
                let kind = match dir {
                    "apikeys" => Kind::ApiKey,
                    "sessions" => Kind::Session,
                    "webhooks" => Kind::Webhook,
                    "connectors" => Kind::Connector,
                    "pending" => Kind::Pending,
                    _ => return None,
                };
                Some((kind, stem(f)?))
            }
            ["providers", team, f] => Some((Kind::Provider, format!("{team}/{}", stem(f)?))),
            ["teams", team, f] if TEAM_LISTS.contains(&f) => {
                Some((Kind::TeamList, format!("{team}/{f}")))
            }
            _ => None,
        }
    }

    /// Where document `id` of this kind lives.
    pub(crate) fn path(self, id: &str) -> String {
        match self {
            Kind::ApiKey => format!("apikeys/{id}.json"),
            Kind::Session => format!("sessions/{id}.json"),
            Kind::Webhook => format!("webhooks/{id}.json"),
            Kind::HookState => format!("webhooks/{id}.state"),
            Kind::Cursor => "events-cursor.json".into(),
            Kind::Provider => format!("providers/{id}.json"),
            Kind::Connector => format!("connectors/{id}.json"),
            Kind::TeamList => format!("teams/{id}"),
            Kind::Pending => format!("pending/{id}.json"),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::ApiKey => <super::ApiKey as Versioned>::KIND,
            Kind::Session => <super::ConnectSession as Versioned>::KIND,
            Kind::Webhook => <super::Webhook as Versioned>::KIND,
            Kind::HookState => <super::HookState as Versioned>::KIND,
            Kind::Cursor => <super::webhooks::Cursor as Versioned>::KIND,
            Kind::Provider => <super::providers::ProviderDoc as Versioned>::KIND,
            Kind::Connector => <super::connectors::ConnectorDoc as Versioned>::KIND,
            Kind::TeamList => crate::store::usage::LIST_KIND,
            Kind::Pending => <super::Pending as Versioned>::KIND,
        }
    }

    fn from_name(name: &str) -> Option<Kind> {
        [
            Kind::ApiKey,
            Kind::Session,
            Kind::Webhook,
            Kind::HookState,
            Kind::Cursor,
            Kind::Provider,
            Kind::Connector,
            Kind::TeamList,
            Kind::Pending,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }

    /// What a document of this kind is called in messages.
    pub(crate) fn what(self) -> &'static str {
        match self {
            Kind::ApiKey => <super::ApiKey as Signed>::WHAT,
            Kind::Session => <super::ConnectSession as Signed>::WHAT,
            Kind::Webhook => <super::Webhook as Signed>::WHAT,
            Kind::HookState => <super::HookState as Signed>::WHAT,
            Kind::Cursor => <super::webhooks::Cursor as Signed>::WHAT,
            Kind::Provider => <super::providers::ProviderDoc as Signed>::WHAT,
            Kind::Connector => <super::connectors::ConnectorDoc as Signed>::WHAT,
            Kind::TeamList => "team list",
            Kind::Pending => <super::Pending as Signed>::WHAT,
        }
    }

    /// Checks `bytes` as document `id` of this kind (tag, id); its version.
    fn version(self, keys: &KeyRing, bytes: &[u8], id: &str, path: &str) -> Result<u64> {
        fn go<T: Signed>(keys: &KeyRing, bytes: &[u8], id: &str, path: &str) -> Result<u64> {
            signed::check_at::<T>(keys, bytes, id, path).map(|(_, v)| v)
        }
        match self {
            Kind::ApiKey => go::<super::ApiKey>(keys, bytes, id, path),
            Kind::Session => go::<super::ConnectSession>(keys, bytes, id, path),
            Kind::Webhook => go::<super::Webhook>(keys, bytes, id, path),
            Kind::HookState => go::<super::HookState>(keys, bytes, id, path),
            Kind::Cursor => go::<super::webhooks::Cursor>(keys, bytes, id, path),
            Kind::Provider => go::<super::providers::ProviderDoc>(keys, bytes, id, path),
            Kind::Connector => go::<super::connectors::ConnectorDoc>(keys, bytes, id, path),
            Kind::TeamList => crate::store::usage::list_version(keys, bytes, id, path),
            Kind::Pending => go::<super::Pending>(keys, bytes, id, path),
        }
    }
}

/// A document `connhost store check` refuses, and why.
#[derive(Clone, Debug, serde::Serialize, PartialEq, Eq)]
pub struct Refused {
    /// Where it is in the store.
    pub path: String,
    /// What it is (`api key`, `webhook`, `team list`, …).
    pub kind: &'static str,
    pub id: String,
    /// Why it is refused (names no secret).
    pub problem: String,
}

/// Where the first indexing of a store from before versions is recorded.
const ADOPTED: &str = "versions/adopted";

impl super::Store {
    /// The index of documents' versions.
    pub(crate) fn versions(&self) -> &Versions {
        &self.versions
    }

    /// For a store from before versions: indexes every document it holds
    /// at the version it is at, once (trust on first use; run again, it
    /// only adds what the index does not know).
    pub(crate) fn adopt_documents(&self) -> Result<()> {
        if self.backend.read(ADOPTED)?.is_some() {
            return Ok(());
        }
        let _guard = self.guard()?;
        let mut found = Vec::new();
        for path in self.backend.walk()? {
            let Some((kind, id)) = Kind::of(&path) else {
                continue;
            };
            let Some(bytes) = self.backend.read(&path)? else {
                continue;
            };
            // A bad document stays bad: reads refuse it, the check names it.
            if let Ok(v) = kind.version(&self.keys, &bytes, &id, &path) {
                found.push((kind.name(), id, v));
            }
        }
        self.versions.adopt(&found)?;
        self.backend.touch(ADOPTED)
    }

    /// Every signed document (other than connection records) that a read
    /// would refuse: an older copy, a removed one put back, a committed
    /// one gone missing, or one that fails its tag.
    pub fn refused_documents(&self) -> Result<Vec<Refused>> {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for path in self.backend.walk()? {
            let Some((kind, id)) = Kind::of(&path) else {
                continue;
            };
            let Some(bytes) = self.backend.read(&path)? else {
                continue;
            };
            seen.insert((kind.name(), id.clone()));
            let state = self.versions.state(kind.name(), &id)?;
            let verdict = kind
                .version(&self.keys, &bytes, &id, &path)
                .and_then(|v| judge(kind.what(), &id, state, Some(v)));
            let problem = match verdict {
                Ok(()) => continue,
                Err(Error::NotFound { .. }) => format!(
                    "{} `{id}` was removed, and its file was put back",
                    kind.what()
                ),
                Err(e) => e.to_string(),
            };
            out.push(Refused {
                path,
                kind: kind.what(),
                id,
                problem,
            });
        }
        for (e, state) in self.versions.entries()? {
            let State::Live(v) = state else { continue };
            let Some((name, id)) = e.split_once(':') else {
                continue;
            };
            let Some(kind) = Kind::from_name(name) else {
                continue;
            };
            if !seen.contains(&(kind.name(), id.to_string())) {
                out.push(Refused {
                    path: kind.path(id),
                    kind: kind.what(),
                    id: id.to_string(),
                    problem: format!(
                        "{} `{id}` is missing: the store committed version {v}",
                        kind.what()
                    ),
                });
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{rotate, ApiKey, MasterKey, NewKey, Role, Store};

    fn key(b: u8) -> MasterKey {
        MasterKey::from_bytes(&[b; 32]).unwrap()
    }

    fn api_key(store: &Store, id: &str) -> ApiKey {
        let mut k = ApiKey {
            id: id.into(),
            team: Some("team-a".into()),
            name: "ci".into(),
            created_at: 1,
            revoked_at: None,
            role: Role::Admin,
            ui_sessions_after_ms: 0,
            secret_sha256: "00".into(),
            integrity: String::new(),
        };
        store.put_apikey(&mut k).unwrap();
        k
    }

    fn revoke(store: &Store, id: &str) {
        store.update_apikey(id, |k| k.revoked_at = Some(2)).unwrap();
    }

    #[test]
    fn the_rules() {
        let j = |s, v| judge("api key", "key_a", s, v).map_err(|e| e.kind());
        assert_eq!(j(State::Unknown, Some(0)), Ok(()), "from before versions");
        assert_eq!(j(State::Unknown, Some(1)), Ok(()), "a first write");
        assert_eq!(j(State::Unknown, Some(2)), Err("tampered"));
        assert_eq!(j(State::Unknown, None), Err("not-found"));
        assert_eq!(j(State::Live(3), Some(3)), Ok(()));
        assert_eq!(
            j(State::Live(3), Some(4)),
            Ok(()),
            "crashed before the index"
        );
        assert_eq!(j(State::Live(3), Some(2)), Err("tampered"));
        assert_eq!(j(State::Live(3), Some(0)), Err("tampered"));
        assert_eq!(j(State::Live(3), Some(5)), Err("tampered"));
        assert_eq!(j(State::Live(3), None), Err("tampered"), "gone missing");
        assert_eq!(j(State::Deleted(3), Some(3)), Err("not-found"));
        assert_eq!(j(State::Deleted(3), Some(1)), Err("not-found"));
        assert_eq!(j(State::Deleted(3), Some(4)), Ok(()), "made again");
        assert_eq!(j(State::Deleted(3), None), Err("not-found"));
        let msg = judge("api key", "key_a", State::Live(3), Some(2))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("api key `key_a`") && msg.contains("older copy"),
            "{msg}"
        );
    }

    #[test]
    fn a_document_from_before_versions_loads_and_is_then_protected() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some(key(1))).unwrap();
        let mut k = api_key(&store, "key_a");
        // As an older connhost wrote it: no version, and no index.
        let path = dir.path().join("apikeys/key_a.json");
        std::fs::write(&path, signed::encode_at(&store.keys, &mut k, 0)).unwrap();
        std::fs::remove_dir_all(dir.path().join("versions")).unwrap();
        let store = Store::open(dir.path(), Some(key(1))).unwrap();
        assert_eq!(store.get_apikey("key_a").unwrap().revoked_at, None);
        let legacy = std::fs::read(&path).unwrap();
        revoke(&store, "key_a");
        std::fs::write(&path, &legacy).unwrap();
        let err = store.get_apikey("key_a").unwrap_err();
        assert_eq!(err.kind(), "tampered", "{err}");
        assert!(err.to_string().contains("version 0"), "{err}");
        assert_eq!(store.refused_documents().unwrap().len(), 1);
        // Re-indexing (the marker removed) does not forgive it.
        std::fs::remove_file(dir.path().join("versions/adopted")).unwrap();
        let store = Store::open(dir.path(), Some(key(1))).unwrap();
        assert_eq!(store.get_apikey("key_a").unwrap_err().kind(), "tampered");
    }

    #[test]
    fn a_write_that_crashed_before_the_index_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some(key(1))).unwrap();
        api_key(&store, "key_a");
        let bucket = dir
            .path()
            .join(bucket_path(&bucket_name(&entry("apikey", "key_a"))));
        let before = std::fs::read(&bucket).unwrap();
        revoke(&store, "key_a");
        // As if the process died between the document and the index.
        std::fs::write(&bucket, &before).unwrap();
        assert_eq!(store.get_apikey("key_a").unwrap().revoked_at, Some(2));
        assert!(store.refused_documents().unwrap().is_empty());
        store
            .update_apikey("key_a", |k| k.name = "x".into())
            .unwrap();
        assert_eq!(
            store.versions.state("apikey", "key_a").unwrap(),
            State::Live(3)
        );
    }

    #[test]
    fn a_removed_document_made_again_is_past_its_tombstone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some(key(1))).unwrap();
        store.put_provider("t", "p", "{}", &[]).unwrap();
        let path = dir.path().join("providers/t/p.json");
        let first = std::fs::read(&path).unwrap();
        assert!(store.remove_provider("t", "p").unwrap());
        assert!(!store.remove_provider("t", "p").unwrap(), "once");
        store.put_provider("t", "p", r#"{"again":1}"#, &[]).unwrap();
        assert_eq!(
            store.provider("t", "p").unwrap().unwrap().0,
            r#"{"again":1}"#
        );
        std::fs::write(&path, &first).unwrap();
        assert_eq!(store.provider("t", "p").unwrap_err().kind(), "tampered");
        // No tombstone for an id that never was.
        assert!(!store.remove_provider("t", "never").unwrap());
        assert_eq!(
            store.versions.state("provider", "t/never").unwrap(),
            State::Unknown
        );
    }

    #[test]
    fn key_rotation_keeps_every_version_and_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some(key(1))).unwrap();
        api_key(&store, "key_a");
        revoke(&store, "key_a");
        store.put_provider("t", "p", "{}", &[]).unwrap();
        store.remove_provider("t", "p").unwrap();
        drop(store);
        rotate(
            dir.path(),
            NewKey::Given {
                old: key(1),
                new: key(2),
            },
            None,
        )
        .unwrap();
        let store = Store::open(dir.path(), Some(key(2))).unwrap();
        assert!(store.refused_documents().unwrap().is_empty());
        assert_eq!(store.get_apikey("key_a").unwrap().revoked_at, Some(2));
        assert_eq!(
            store.versions.state("apikey", "key_a").unwrap(),
            State::Live(2)
        );
        assert_eq!(
            store.versions.state("provider", "t/p").unwrap(),
            State::Deleted(1)
        );
        // A copy from after the rotation, put back after a write: refused.
        let path = dir.path().join("apikeys/key_a.json");
        let v2 = std::fs::read(&path).unwrap();
        store
            .update_apikey("key_a", |k| k.name = "x".into())
            .unwrap();
        std::fs::write(&path, &v2).unwrap();
        assert_eq!(store.get_apikey("key_a").unwrap_err().kind(), "tampered");
    }
}
