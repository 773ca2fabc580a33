//! What uses a connection, and dynamic connections: the platform-side data
//! behind least privilege, the delete guard and per-context selection.
//! Stored per team under `$HOME/teams/<team>/`, written atomically and
//! tagged like every other stored document.

use crate::error::{Error, Result};
use crate::store::signed::{self, Signed};
use crate::store::versions::{Versioned, Versions};
use crate::store::{Backend, Held, KeyRing, Store, WRITE_WAIT};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Whether a consumer runs.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UsageState {
    Active,
    Scheduled,
    Inactive,
}

impl std::str::FromStr for UsageState {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "active" => Ok(UsageState::Active),
            "scheduled" => Ok(UsageState::Scheduled),
            "inactive" => Ok(UsageState::Inactive),
            other => Err(format!("`{other}`: expected active, scheduled or inactive")),
        }
    }
}

/// A consumer (flow, module) that uses a connection.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct Usage {
    #[schemars(length(min = 1))]
    pub consumer: String,
    /// A connection id, or `dynamic:NAME`.
    pub connection: String,
    /// Scopes the consumer needs.
    pub scopes: Vec<String>,
    pub state: UsageState,
}

/// A named selector: context → one of several connections of a connector.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct DynamicConnection {
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,64}$"))]
    pub name: String,
    pub connector: String,
    /// The context key it selects on (e.g. `department`).
    #[schemars(length(min = 1))]
    pub key: String,
    /// Key value → connection id.
    pub choices: BTreeMap<String, String>,
    /// Used when the context has no matching value.
    pub default: Option<String>,
}

/// Prefix that marks a dynamic connection in a usage's `connection`.
pub const DYNAMIC_PREFIX: &str = "dynamic:";

impl DynamicConnection {
    /// The connection for `context`, or an error naming the key.
    pub fn resolve(&self, context: &BTreeMap<String, String>) -> Result<&str> {
        match context.get(&self.key) {
            Some(v) => match self.choices.get(v) {
                Some(id) => Ok(id),
                None => self.default.as_deref().ok_or_else(|| {
                    Error::invalid(
                        &self.key,
                        format!("`{v}` selects no connection in dynamic connection `{}`, which has no default", self.name),
                    )
                }),
            },
            None => self.default.as_deref().ok_or_else(|| {
                Error::invalid(
                    &self.key,
                    format!(
                        "the context has no `{}` and dynamic connection `{}` has no default",
                        self.key, self.name
                    ),
                )
            }),
        }
    }

    /// Every connection it can resolve to.
    pub fn targets(&self) -> impl Iterator<Item = &str> {
        self.choices
            .values()
            .map(String::as_str)
            .chain(self.default.as_deref())
    }
}

/// Per-team registry documents (`teams/<team>/…`).
#[derive(Clone, Debug)]
pub struct Registry {
    backend: Arc<dyn Backend>,
    home: PathBuf,
    team: String,
    keys: KeyRing,
    versions: Versions,
}

/// One of a team's lists as stored: tagged, and bound to the team and the
/// list, so an edited file, or one copied from another team, is refused.
#[derive(Clone, Serialize, Deserialize)]
#[serde(bound = "T: Serialize + for<'a> Deserialize<'a>")]
struct ListDoc<T> {
    /// `team/file`.
    id: String,
    items: Vec<T>,
    #[serde(default)]
    integrity: String,
}

impl<T: Clone + Serialize + for<'a> Deserialize<'a>> Signed for ListDoc<T> {
    const DOMAIN: &'static [u8] = b"connhost:team-list:v1:";
    const WHAT: &'static str = "team list";
    fn id(&self) -> &str {
        &self.id
    }
    fn integrity(&mut self) -> &mut String {
        &mut self.integrity
    }
}

impl<T: Clone + Serialize + for<'a> Deserialize<'a>> Versioned for ListDoc<T> {
    const KIND: &'static str = LIST_KIND;
}

/// The team lists' name in the version index.
pub(crate) const LIST_KIND: &str = "team-list";

impl Registry {
    /// `team`'s registry in `store` (`team` is checked by the caller).
    pub fn new(store: &Store, team: &str) -> Self {
        Registry {
            backend: store.backend().clone(),
            home: store.home().to_path_buf(),
            team: team.to_string(),
            keys: store.keys().clone(),
            versions: store.versions().clone(),
        }
    }

    fn path(&self, file: &str) -> String {
        format!("teams/{}/{file}", self.team)
    }

    fn load<T: Clone + Serialize + for<'a> Deserialize<'a>>(&self, file: &str) -> Result<Vec<T>> {
        let id = format!("{}/{file}", self.team);
        // An older list put back (say, usages from before one was added)
        // is refused, and so is a list removed behind the store's back:
        // neither reads as "fewer usages".
        match self.versions.get::<ListDoc<T>>(&self.path(file), &id) {
            Ok(doc) => Ok(doc.items),
            Err(Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    fn save<T: Clone + Serialize + for<'a> Deserialize<'a>>(
        &self,
        file: &str,
        items: Vec<T>,
    ) -> Result<()> {
        let mut doc = ListDoc {
            id: format!("{}/{file}", self.team),
            items,
            integrity: String::new(),
        };
        self.versions.put(&self.path(file), &mut doc)
    }

    fn guard(&self) -> Result<Held> {
        crate::store::rotate::guard(&*self.backend, &self.home, &self.keys)
    }

    /// The team's registry lock, every process.
    fn lock(&self) -> Result<Held> {
        self.backend
            .lock(&self.path("registry.lock"), WRITE_WAIT, true)
    }

    pub fn usages(&self) -> Result<Vec<Usage>> {
        self.load("usages.json")
    }

    pub fn dynamics(&self) -> Result<Vec<DynamicConnection>> {
        self.load("dynamic.json")
    }

    /// URL prefixes the team's consent flows may return the browser to.
    pub fn return_urls(&self) -> Result<Vec<String>> {
        self.load("return-urls.json")
    }

    /// Replaces the team's allowed return URL prefixes, locked.
    pub fn set_return_urls(&self, urls: Vec<String>) -> Result<()> {
        self.update("return-urls.json", |items: &mut Vec<String>| {
            *items = urls;
            Ok(())
        })
    }

    /// Read-modify-write of the team's usages under the team's registry
    /// lock (every process), so concurrent changes are all kept.
    pub fn update_usages<R>(&self, f: impl FnOnce(&mut Vec<Usage>) -> Result<R>) -> Result<R> {
        self.update("usages.json", f)
    }

    /// Read-modify-write of the team's dynamic connections, locked.
    pub fn update_dynamics<R>(
        &self,
        f: impl FnOnce(&mut Vec<DynamicConnection>) -> Result<R>,
    ) -> Result<R> {
        self.update("dynamic.json", f)
    }

    /// Both lists under one lock: a check across them holds while it writes.
    pub fn update_both<R>(
        &self,
        f: impl FnOnce(&mut Vec<Usage>, &mut Vec<DynamicConnection>) -> Result<R>,
    ) -> Result<R> {
        let _guard = self.guard()?;
        let _lock = self.lock()?;
        let mut usages: Vec<Usage> = self.load("usages.json")?;
        let mut dynamics: Vec<DynamicConnection> = self.load("dynamic.json")?;
        let r = f(&mut usages, &mut dynamics)?;
        self.save("usages.json", usages)?;
        self.save("dynamic.json", dynamics)?;
        Ok(r)
    }

    fn update<T, R>(&self, file: &str, f: impl FnOnce(&mut Vec<T>) -> Result<R>) -> Result<R>
    where
        T: Clone + Serialize + for<'de> Deserialize<'de>,
    {
        let _guard = self.guard()?;
        let _lock = self.lock()?;
        let mut items: Vec<T> = self.load(file)?;
        let r = f(&mut items)?;
        self.save(file, items)?;
        Ok(r)
    }
}

/// Re-tags one of a team's lists with the ring's primary key (key
/// rotation); the list's own type, so the tagged bytes are the same.
pub(crate) fn rewrap_list(keys: &KeyRing, path: &Path, id: &str) -> Result<()> {
    fn go<T: Clone + Serialize + for<'a> Deserialize<'a>>(
        keys: &KeyRing,
        path: &Path,
        id: &str,
    ) -> Result<()> {
        let mut doc: ListDoc<T> = signed::get_file(keys, path, id)?;
        signed::put_file(keys, path, &mut doc)
    }
    if id.ends_with("/usages.json") {
        go::<Usage>(keys, path, id)
    } else if id.ends_with("/return-urls.json") {
        go::<String>(keys, path, id)
    } else {
        go::<DynamicConnection>(keys, path, id)
    }
}

/// Checks one of a team's lists (tag, id) and returns its version
/// (`connhost store check`).
pub(crate) fn list_version(keys: &KeyRing, bytes: &[u8], id: &str, path: &str) -> Result<u64> {
    fn go<T: Clone + Serialize + for<'a> Deserialize<'a>>(
        keys: &KeyRing,
        bytes: &[u8],
        id: &str,
        path: &str,
    ) -> Result<u64> {
        signed::check_at::<ListDoc<T>>(keys, bytes, id, path).map(|(_, v)| v)
    }
    if id.ends_with("/usages.json") {
        go::<Usage>(keys, bytes, id, path)
    } else if id.ends_with("/return-urls.json") {
        go::<String>(keys, bytes, id, path)
    } else {
        go::<DynamicConnection>(keys, bytes, id, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dynamic(default: Option<&str>) -> DynamicConnection {
        DynamicConnection {
            name: "by-dept".into(),
            connector: "celonis".into(),
            key: "department".into(),
            choices: BTreeMap::from([
                ("sales".into(), "conn_s".into()),
                ("eng".into(), "conn_e".into()),
            ]),
            default: default.map(str::to_string),
        }
    }

    #[test]
    fn resolves_by_key_then_default() {
        let ctx = |v: &str| BTreeMap::from([("department".to_string(), v.to_string())]);
        assert_eq!(dynamic(None).resolve(&ctx("sales")).unwrap(), "conn_s");
        assert_eq!(
            dynamic(Some("conn_d")).resolve(&ctx("legal")).unwrap(),
            "conn_d"
        );
        assert_eq!(
            dynamic(Some("conn_d")).resolve(&BTreeMap::new()).unwrap(),
            "conn_d"
        );
    }

    #[test]
    fn missing_key_without_default_names_the_key() {
        let err = dynamic(None).resolve(&BTreeMap::new()).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput { field, .. } if field == "department"),
            "{err}"
        );
        let err = dynamic(None)
            .resolve(&BTreeMap::from([("department".into(), "legal".into())]))
            .unwrap_err();
        assert!(err.to_string().contains("legal"), "{err}");
    }
}
