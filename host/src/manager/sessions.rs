//! Connect sessions (see `store::sessions`): a team makes one for an end
//! user; the end user's one `create` (or consent start) spends it.

use super::{AuthorizeStart, Manager, NewConnection};
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::store::Caller;
use crate::store::{ConnectSession, ConnectionRecord};
use crate::util::{constant_time_eq, hex, now};
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

const PREFIX: &str = "cst_";
/// What a session's `connection` says while its one use runs.
const IN_PROGRESS: &str = "(in progress)";

fn digest(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

impl Manager {
    /// A session for `team` to create one `connector` connection within
    /// `ttl_secs` (at most an hour). The token is shown this once.
    pub fn create_connect_session(
        &self,
        team: &str,
        connector: &str,
        ttl_secs: u64,
    ) -> Result<(ConnectSession, Secret)> {
        self.connector(connector)?;
        let mut id = [0u8; 8];
        rand::rng().fill_bytes(&mut id);
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let mut s = ConnectSession {
            id: format!("cs_{}", hex(&id)),
            team: team.to_string(),
            connector: connector.to_string(),
            expires_at: now() + ttl_secs.clamp(1, 3600),
            connection: None,
            secret_sha256: digest(&secret),
            integrity: String::new(),
        };
        self.store.put_session(&mut s)?;
        let token = Secret::new(format!("{PREFIX}{}_{secret}", s.id));
        s.secret_sha256.clear();
        s.integrity.clear();
        Ok((s, token))
    }

    /// The live, unused session a token is; one error for every failure.
    pub fn connect_session(&self, token: &str) -> Result<ConnectSession> {
        let denied =
            || Error::Unauthenticated("missing, unknown, expired or used connect session".into());
        let rest = token.strip_prefix(PREFIX).ok_or_else(denied)?;
        // `cs_<16 hex>_<secret>`
        let (id, secret) = rest
            .get(..19)
            .zip(rest.get(20..))
            .filter(|_| rest.as_bytes().get(19) == Some(&b'_'))
            .ok_or_else(denied)?;
        let s = self.store.get_session(id).map_err(|_| denied())?;
        if s.connection.is_some()
            || s.expires_at < now()
            || !constant_time_eq(digest(secret).as_bytes(), s.secret_sha256.as_bytes())
        {
            return Err(denied());
        }
        Ok(s)
    }

    /// Creates the session's one connection (its team, its connector),
    /// audited with the session as the actor.
    pub async fn connect_create(
        &self,
        token: &str,
        new: NewConnection,
    ) -> Result<ConnectionRecord> {
        self.spend(
            token,
            new,
            |caller, new| async move { self.team(caller)?.create(new).await },
            |r| r.id.clone(),
        )
        .await
    }

    /// Starts consent for the session's one connection.
    pub async fn connect_authorize(
        &self,
        token: &str,
        new: NewConnection,
        redirect_uri: &str,
        return_url: Option<&str>,
    ) -> Result<AuthorizeStart> {
        self.spend(
            token,
            new,
            |caller, new| async move {
                self.team(caller)?
                    .authorize_start(new, redirect_uri, return_url)
                    .await
            },
            |s| s.connection_id.clone(),
        )
        .await
    }

    /// Runs the session's one use. The session is spent before `run`
    /// starts: a crash in between leaves it spent (the user asks for a new
    /// one), never usable twice; a failed `run` gives it back.
    async fn spend<T, F, Fut>(
        &self,
        token: &str,
        mut new: NewConnection,
        run: F,
        connection_of: impl Fn(&T) -> String,
    ) -> Result<T>
    where
        F: FnOnce(Caller, NewConnection) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let s = self.connect_session(token)?;
        let _one = self.store.session_lock(&s.id)?;
        let mut s = self.connect_session(token)?;
        if !new.connector.is_empty() && new.connector != s.connector {
            return Err(Error::invalid(
                "connector",
                format!("this session is for `{}`", s.connector),
            ));
        }
        new.connector = s.connector.clone();
        let caller = Caller {
            team: s.team.clone(),
            actor: format!("connect-session:{}", s.id),
        };
        s.connection = Some(IN_PROGRESS.into());
        self.store.put_session(&mut s)?;
        let result = run(caller, new).await;
        s.connection = result.as_ref().ok().map(&connection_of);
        self.store.put_session(&mut s)?;
        result
    }
}
