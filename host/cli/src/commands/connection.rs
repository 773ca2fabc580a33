//! `connection …`: the life of a connection.

use crate::args::{AuthorizeCmd, ConnectionCmd, DataArgs};
use crate::input::{confirm, parse_fields, read_secrets};
use crate::output::Out;
use anyhow::{bail, Context};
use connhost::{Manager, NewConnection, TeamView};

pub async fn run(
    m: &Manager,
    t: &TeamView<'_>,
    cmd: ConnectionCmd,
    out: &Out,
) -> anyhow::Result<()> {
    let data_of = |connector: String, data: &DataArgs| -> anyhow::Result<NewConnection> {
        Ok(NewConnection {
            connector,
            team: None,
            name: data.name.clone(),
            fields: parse_fields(&data.fields)?,
            secrets: read_secrets(&data.secrets)?,
        })
    };
    match cmd {
        ConnectionCmd::Create {
            connector,
            redirect_uri,
            data,
        } => {
            super::connector::ensure_builtin(m, t, &connector).await?;
            let new = data_of(connector, &data)?;
            let record = match redirect_uri {
                Some(uri) => {
                    super::connector::consent_and_wait(
                        t,
                        out,
                        &uri,
                        t.authorize_start(new, &uri, None),
                    )
                    .await?
                }
                None => t.create(new).await?,
            };
            out.created(&record);
        }
        ConnectionCmd::Authorize(AuthorizeCmd::Start {
            connector,
            redirect_uri,
            data,
        }) => {
            super::connector::ensure_builtin(m, t, &connector).await?;
            let new = data_of(connector, &data)?;
            out.authorize_started(&t.authorize_start(new, &redirect_uri, None).await?);
        }
        ConnectionCmd::Authorize(AuthorizeCmd::Finish {
            pending,
            redirect_url,
        }) => {
            out.created(&t.authorize_finish(&pending, &redirect_url).await?);
        }
        ConnectionCmd::Reauthorize {
            id,
            redirect_uri,
            no_wait,
        } => {
            if no_wait {
                out.authorize_started(&t.reauthorize_start(&id, &redirect_uri, None).await?);
            } else {
                let record = super::connector::consent_and_wait(
                    t,
                    out,
                    &redirect_uri,
                    t.reauthorize_start(&id, &redirect_uri, None),
                )
                .await?;
                out.updated("reauthorized", &record);
            }
        }
        ConnectionCmd::List => out.connections(&t.list()?),
        ConnectionCmd::Show { id } => {
            let record = t.get(&id)?;
            let manifest = m.connector(&record.connector).ok();
            out.connection(&record, manifest.as_ref());
        }
        ConnectionCmd::Request {
            id,
            method,
            url,
            headers,
            data,
            consumer,
            context,
        } => {
            let headers = headers
                .iter()
                .map(|h| {
                    h.split_once(':')
                        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                        .with_context(|| format!("--header `{h}` must be `name:value`"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let body = match data.as_deref() {
                None => Vec::new(),
                Some(d) => match d.strip_prefix('@') {
                    Some(path) => std::fs::read(path).with_context(|| format!("--data @{path}"))?,
                    None => d.as_bytes().to_vec(),
                },
            };
            let req = connhost::ApiRequest {
                method,
                url,
                headers,
                body,
                timeout_ms: None,
            };
            let context = crate::input::parse_context(&context)?;
            let resp = t.request(&id, &req, consumer.as_deref(), &context).await?;
            out.api_response(&resp);
        }
        ConnectionCmd::Rename { id, name } => out.updated("renamed", &t.rename(&id, &name).await?),
        ConnectionCmd::Edit { id, data } => {
            let new = data_of(String::new(), &data)?;
            out.updated("edited and verified", &t.edit(&id, new).await?);
        }
        ConnectionCmd::SetSecret { id, secret } => {
            let mut one = read_secrets(std::slice::from_ref(&secret))?;
            let (name, value) = one.pop_first().context("--secret")?;
            out.updated(
                &format!("secret `{name}` replaced and verified"),
                &t.set_secret(&id, &name, value).await?,
            );
        }
        ConnectionCmd::Verify { id } => out.verified(&t.verify(&id).await?),
        ConnectionCmd::Refresh { id } => out.refreshed(&id, &t.refresh(&id).await?),
        ConnectionCmd::Check { id, scopes } => {
            t.check_scopes(&id, &scopes).await?;
            out.scopes_ok(&id, &scopes);
        }
        ConnectionCmd::Delete { id, yes, force } => {
            let record = t.get(&id)?;
            if !yes
                && !confirm(&format!(
                    "Delete connection {} ({})?",
                    record.name, record.id
                ))?
            {
                bail!("not deleted");
            }
            out.deleted(&t.delete(&id, force).await?);
        }
    }
    Ok(())
}
