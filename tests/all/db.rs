//! The PostgreSQL server the database tests use: `CONNHOST_TEST_DATABASE_URL`
//! (default `postgres://postgres@127.0.0.1:5432/test`, what
//! `scripts/postgres.sh` starts). Each test gets a schema of its own,
//! dropped when it ends. Without a server the tests say so and pass,
//! unless `CONNHOST_REQUIRE_POSTGRES=1` (CI), where that is a failure.

use std::sync::Arc;

pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub struct TestDb {
    /// Base URL plus `schema=…`: what `--database` / the library take.
    pub url: String,
    /// Base URL (for psql).
    pub base: String,
    pub schema: String,
    admin: Option<connhost::PostgresBackend>,
}

impl TestDb {
    /// A fresh schema, or `None` when there is no server and none is
    /// required.
    pub fn new(test: &str) -> Option<TestDb> {
        let base = std::env::var("CONNHOST_TEST_DATABASE_URL").unwrap_or(DEFAULT_URL.into());
        let tag: String = test
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(20)
            .collect::<String>()
            .to_ascii_lowercase();
        let schema = format!("t_{tag}_{:08x}", rand_u32());
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}schema={schema}");
        match connhost::PostgresBackend::connect(&url) {
            Ok(admin) => Some(TestDb {
                url,
                base,
                schema,
                admin: Some(admin),
            }),
            Err(e) => {
                if std::env::var("CONNHOST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                    panic!("CONNHOST_REQUIRE_POSTGRES=1 but the test database is unusable: {e}");
                }
                eprintln!("skipped {test} on PostgreSQL: no server ({e}); run scripts/postgres.sh");
                None
            }
        }
    }

    /// A new backend on the same schema: another replica's view.
    pub fn backend(&self) -> Arc<dyn connhost::Backend> {
        Arc::new(connhost::PostgresBackend::connect(&self.url).expect("connect"))
    }

    /// Runs SQL in the test's schema with psql; its stdout.
    pub fn psql(&self, sql: &str) -> String {
        let out = std::process::Command::new("psql")
            .arg(&self.base)
            .args(["-v", "ON_ERROR_STOP=1", "-Atqc"])
            .arg(format!("SET search_path = {}; {sql}", self.schema))
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(admin) = self.admin.take() {
            let _ = admin.drop_schema();
        }
    }
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish() as u32
}
