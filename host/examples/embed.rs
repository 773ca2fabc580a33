//! The embedding examples of `README.md` and `docs/embedding.md`, whole
//! and compiled by `cargo test` (`tests/all/docs.rs` checks that each
//! snippet's lines appear here, in order). Run it against a store:
//! `CONNHOST_MASTER_KEY=… cargo run -p connhost --example embed -- CONNECTION_ID`.

use connhost::{Caller, HostConfig, Manager, NewConnection};

// Kept as the docs show it, one call per line.
#[rustfmt::skip]
#[tokio::main]
async fn main() -> connhost::Result<()> {
    let conn_id = std::env::args().nth(1).unwrap_or_default();
    // README.md
    let manager = Manager::open(HostConfig::new("/var/lib/connhost"))?;
    manager.add_connector(connhost::builtin::CELONIS).await?;
    let team = manager.team(Caller { team: "acme".into(), actor: "user:42".into() })?;
    let verified = team.verify(&conn_id).await?;   // Err(Error::Connector(ConnectorError::…)) is typed
    println!("{} is {}", conn_id, verified.account_label);

    // docs/embedding.md
    let conn = manager.create(NewConnection { connector: "celonis".into(), /* fields, secrets */ ..Default::default() }).await?;
    let verified = manager.verify(&conn.id).await?;    // Err(Error::Connector(ConnectorError::…)) is typed
    println!("{} is {}", conn.id, verified.account_label);
    let team = manager.team(Caller { team: "acme".into(), actor: "user:42".into() })?;
    let verified = team.verify(&conn.id).await?;      // another team's id is not-found; audited
    println!("{} is {} for {}", conn.id, verified.account_label, team.caller().team);
    Ok(())
}
