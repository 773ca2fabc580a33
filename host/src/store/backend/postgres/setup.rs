//! Setting the backend up: the connection (URL, TLS, pool, the lock
//! session) and the numbered migrations run at start.

use super::{db_err, describe_pg, locks::LockSession, PostgresBackend};
use crate::error::{Error, Result};
use std::sync::Arc;
use std::time::Duration;

/// Every migration, in order; a database that has run one this list does
/// not know is refused.
const MIGRATIONS: &[(i32, &str, &str)] = &[(
    1,
    "documents, logs",
    r#"
    CREATE TABLE connhost_docs (
        dir  text COLLATE "C" NOT NULL,
        ext  text COLLATE "C" NOT NULL,
        stem text COLLATE "C" NOT NULL,
        body bytea NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (dir, ext, stem)
    );
    CREATE TABLE connhost_logs (
        path text COLLATE "C" NOT NULL,
        seq  bigserial,
        line bytea NOT NULL,
        PRIMARY KEY (path, seq)
    );
    "#,
)];

/// Statements that run longer than this are cancelled by the server.
const STATEMENT_TIMEOUT_MS: u64 = 30_000;
const POOL_SIZE: usize = 16;

impl PostgresBackend {
    /// Connects, runs the migrations this database has not run yet, and
    /// opens the lock session. `url` is a `postgres://` URL; a `schema=`
    /// query parameter keeps everything in that schema (created if
    /// needed); `sslmode=require` demands TLS (verified against the
    /// system's web roots, or the PEM file in `CONNHOST_DATABASE_CA`).
    pub fn connect(url: &str) -> Result<PostgresBackend> {
        let bad = |reason: String| Error::InvalidInput {
            field: "database".into(),
            reason,
        };
        let mut parsed = url::Url::parse(url).map_err(|e| bad(format!("is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(bad("must be a postgres:// URL".into()));
        }
        let mut schema = None;
        let kept: Vec<(String, String)> = parsed
            .query_pairs()
            .filter_map(|(k, v)| {
                if k == "schema" {
                    schema = Some(v.into_owned());
                    None
                } else {
                    Some((k.into_owned(), v.into_owned()))
                }
            })
            .collect();
        if let Some(s) = &schema {
            let ok = !s.is_empty()
                && s.len() <= 63
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok {
                return Err(bad("schema must match [a-z0-9_]{1,63}".into()));
            }
        }
        parsed.set_query(None);
        if !kept.is_empty() {
            parsed.query_pairs_mut().extend_pairs(kept);
        }
        let mut config: tokio_postgres::Config = parsed
            .as_str()
            .parse()
            .map_err(|e: tokio_postgres::Error| bad(describe_pg(&e)))?;
        let mut options = config.get_options().unwrap_or_default().to_string();
        options.push_str(&format!(" -c statement_timeout={STATEMENT_TIMEOUT_MS}"));
        if let Some(s) = &schema {
            options.push_str(&format!(" -c search_path={s}"));
        }
        config.options(options.trim());
        if config.get_application_name().is_none() {
            config.application_name("connhost");
        }
        config.connect_timeout(Duration::from_secs(10));
        // As libpq does: a password kept out of the URL (and out of argv).
        if config.get_password().is_none() {
            if let Ok(p) = std::env::var("PGPASSWORD") {
                config.password(p);
            }
        }
        let host = parsed.host_str().unwrap_or("localhost").to_string();
        let label = format!(
            "{host}:{}/{}{}",
            parsed.port().unwrap_or(5432),
            parsed.path().trim_start_matches('/'),
            schema
                .as_ref()
                .map(|s| format!(" (schema {s})"))
                .unwrap_or_default()
        );
        let tls = tls_connector()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("connhost-pg")
            .enable_all()
            .build()
            .map_err(Error::io("start the database runtime"))?;
        let mgr = deadpool_postgres::Manager::from_config(
            config.clone(),
            tls.clone(),
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let pool = deadpool_postgres::Pool::builder(mgr)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| Error::Database {
                context: format!("pool for {label}"),
                reason: e.to_string(),
            })?;
        let ctx = format!("at {label}");
        let locks = Arc::new(LockSession::new(
            config,
            tls,
            schema.clone().unwrap_or_default(),
        ));
        let backend = PostgresBackend {
            rt: Some(rt),
            pool,
            locks,
            label,
            schema,
        };
        backend.migrate().map_err(|e| match e {
            Error::Database { reason, .. } => Error::Database {
                context: format!("{ctx} unreachable or unusable"),
                reason,
            },
            e => e,
        })?;
        Ok(backend)
    }

    fn migrate(&self) -> Result<()> {
        let client = self.client("migrate");
        let schema = self.schema.clone();
        self.run(async move {
            let mut c = client.await?;
            if let Some(s) = &schema {
                // Validated to [a-z0-9_]: safe to splice.
                c.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {s}"))
                    .await
                    .map_err(db_err("create schema"))?;
            }
            let tx = c.transaction().await.map_err(db_err("migrate"))?;
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtext('connhost:migrate:' || current_schema()))",
                &[],
            )
            .await
            .map_err(db_err("migrate"))?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS connhost_migrations (
                    version int PRIMARY KEY,
                    name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now())",
            )
            .await
            .map_err(db_err("migrate"))?;
            let done: i32 = tx
                .query_one("SELECT coalesce(max(version), 0) FROM connhost_migrations", &[])
                .await
                .map_err(db_err("migrate"))?
                .get(0);
            let known = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
            if done > known {
                return Err(Error::Database {
                    context: "migrate".into(),
                    reason: format!(
                        "the database is at schema version {done}, newer than this connhost knows ({known}); upgrade connhost"
                    ),
                });
            }
            for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > done) {
                tx.batch_execute(sql).await.map_err(db_err("migrate"))?;
                tx.execute(
                    "INSERT INTO connhost_migrations (version, name) VALUES ($1, $2)",
                    &[version, name],
                )
                .await
                .map_err(db_err("migrate"))?;
            }
            tx.commit().await.map_err(db_err("migrate"))
        })
    }

    /// The schema version the database is at, and the newest this build knows.
    pub fn schema_version(&self) -> Result<(i32, i32)> {
        let client = self.client("read schema version");
        let v = self.run(async move {
            let c = client.await?;
            let row = c
                .query_one(
                    "SELECT coalesce(max(version), 0) FROM connhost_migrations",
                    &[],
                )
                .await
                .map_err(db_err("read schema version"))?;
            Ok(row.get::<_, i32>(0))
        })?;
        Ok((v, MIGRATIONS.last().map(|m| m.0).unwrap_or(0)))
    }

    /// Drops the backend's schema and everything in it (tests).
    pub fn drop_schema(&self) -> Result<()> {
        let Some(s) = self.schema.clone() else {
            return Ok(());
        };
        let client = self.client("drop schema");
        self.run(async move {
            let c = client.await?;
            c.batch_execute(&format!("DROP SCHEMA IF EXISTS {s} CASCADE"))
                .await
                .map_err(db_err("drop schema"))
        })
    }
}

fn tls_connector() -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Ok(path) = std::env::var("CONNHOST_DATABASE_CA") {
        use rustls_pki_types::pem::PemObject;
        let certs = rustls_pki_types::CertificateDer::pem_file_iter(&path)
            .map_err(|e| Error::invalid("CONNHOST_DATABASE_CA", format!("{path}: {e}")))?;
        for cert in certs {
            let cert =
                cert.map_err(|e| Error::invalid("CONNHOST_DATABASE_CA", format!("{path}: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| Error::invalid("CONNHOST_DATABASE_CA", format!("{path}: {e}")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Runtime(format!("TLS set-up: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}
