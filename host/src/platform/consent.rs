//! Browser consent for the team: where it may return the browser, and
//! starting (new, reauthorize, edit) and finishing it as this caller.

use super::roles::Operation;
use super::team::TeamView;
use crate::error::{Error, Result};
use crate::manager::{AuthorizeStart, NewConnection};
use crate::store::ConnectionRecord;

impl TeamView<'_> {
    /// The URL prefixes this team's consent flows may return to.
    pub fn return_urls(&self) -> Result<Vec<String>> {
        self.registry.return_urls()
    }

    /// Replaces the allowed return URL prefixes (each an absolute https
    /// URL; http only on localhost).
    pub fn set_return_urls(&self, urls: Vec<String>) -> Result<Vec<String>> {
        let r = (|| {
            self.may(Operation::SetReturnUrls)?;
            for u in &urls {
                connhost_policy::return_url::parse(u)
                    .map_err(|e| Error::invalid("return_urls", e))?;
            }
            self.registry.set_return_urls(urls.clone())?;
            Ok(urls)
        })();
        self.log("team.return-urls", None, None, None, r)
    }

    /// Refuses a return URL outside the team's allowed prefixes.
    fn check_return_url(&self, url: Option<&str>) -> Result<()> {
        let Some(url) = url else { return Ok(()) };
        let parsed =
            connhost_policy::return_url::parse(url).map_err(|e| Error::invalid("return_url", e))?;
        let mut allowed = self.registry.return_urls()?;
        allowed.extend(self.own_return.clone());
        if !connhost_policy::return_url::allowed(&parsed, &allowed) {
            return Err(Error::invalid(
                "return_url",
                format!("`{url}` is not under one of this team's allowed return URLs"),
            ));
        }
        Ok(())
    }

    pub async fn authorize_start(
        &self,
        mut new: NewConnection,
        redirect_uri: &str,
        return_url: Option<&str>,
    ) -> Result<AuthorizeStart> {
        new.team = Some(self.caller.team.clone());
        let connector = new.connector.clone();
        let r = match self.check_return_url(return_url) {
            Ok(()) => self.m.authorize_start(new, redirect_uri, return_url).await,
            Err(e) => Err(e),
        };
        self.log(
            "connection.authorize-start",
            r.as_ref().ok().map(|s| s.connection_id.clone()).as_deref(),
            Some(&connector),
            None,
            r,
        )
    }

    pub async fn reauthorize_start(
        &self,
        id: &str,
        redirect_uri: &str,
        return_url: Option<&str>,
    ) -> Result<AuthorizeStart> {
        self.on("connection.reauthorize-start", id, || async {
            self.check_return_url(return_url)?;
            let start = self
                .m
                .reauthorize_start(id, redirect_uri, return_url)
                .await?;
            self.keep_grant(id, &start)?;
            Ok(start)
        })
        .await
    }

    /// Edit (all data replaced) of a consent connection, through consent:
    /// see [`Manager::edit_authorize_start`].
    pub async fn edit_authorize_start(
        &self,
        id: &str,
        new: NewConnection,
        redirect_uri: &str,
        return_url: Option<&str>,
    ) -> Result<AuthorizeStart> {
        self.on("connection.edit-start", id, || async {
            self.check_return_url(return_url)?;
            self.keeps_usages_scopes(id, &new)?;
            let start = self
                .m
                .edit_authorize_start(id, new, redirect_uri, return_url)
                .await?;
            self.keep_grant(id, &start)?;
            Ok(start)
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
        let (id, connector) = match &r {
            Ok(rec) => (Some(rec.id.clone()), Some(rec.connector.clone())),
            Err(_) => (None, None),
        };
        self.log(
            "connection.authorize-finish",
            id.as_deref(),
            connector.as_deref(),
            None,
            r,
        )
    }
}
