//! Where the store lives, shared by `gcprov audit` and `gcprov outbox` (and later `serve`).
//!
//! Precedence: `--database URL` / `GCPROV_DATABASE_URL`, else the SQLite file `gcprov.db` under
//! `--data-dir` / `GCPROV_DATA_DIR`, else `./data/gcprov.db`.

use std::path::PathBuf;

use anyhow::Context;
use gcprov_store::{Store, StoreOptions};

#[derive(Clone, clap::Args)]
pub struct StoreArgs {
    /// Database URL: `sqlite:///path/to/gcprov.db` or `postgres://user@host:5432/db`.
    #[arg(long = "database", env = "GCPROV_DATABASE_URL", hide_env_values = true)]
    pub database: Option<String>,
    /// Data directory holding the default SQLite database `gcprov.db` [default: ./data].
    #[arg(long, env = "GCPROV_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

impl std::fmt::Debug for StoreArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The database URL may carry a password.
        f.debug_struct("StoreArgs")
            .field("database", &self.database.as_ref().map(|_| self.describe()))
            .field("data_dir", &self.data_dir)
            .finish()
    }
}

impl StoreArgs {
    pub fn options(&self) -> StoreOptions {
        match &self.database {
            Some(url) => StoreOptions::new(url.clone()),
            None => StoreOptions::sqlite_in_dir(
                &self
                    .data_dir
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("data")),
            ),
        }
    }

    /// A description of the store safe to print (no password).
    pub fn describe(&self) -> String {
        match &self.database {
            Some(url) if url.starts_with("postgres") => {
                // Neither the user info nor the query string (`?password=` is accepted) is
                // printed; a password may itself contain `@`, so split at the last one.
                let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
                let rest = rest.split_once('?').map_or(rest, |(r, _)| r);
                let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
                format!("postgres://…@{host}")
            }
            Some(url) => url.clone(),
            None => {
                let dir = self
                    .data_dir
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("data"));
                dir.join("gcprov.db").display().to_string()
            }
        }
    }

    pub async fn open(&self) -> anyhow::Result<Store> {
        Store::open(self.options())
            .await
            .with_context(|| format!("cannot open the store at {}", self.describe()))
    }
}

/// Parses a time given as RFC 3339 (`2026-01-31T12:00:00Z`), a date (`2026-01-31`, midnight
/// UTC) or an age before now (`90s`, `15m`, `24h`, `7d`).
pub fn parse_time(s: &str) -> anyhow::Result<time::OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    let s = s.trim();
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    if let Ok(d) = time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")) {
        return Ok(d.midnight().assume_utc());
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num.parse().map_err(|_| bad_time(s))?;
    let d = match unit {
        "s" => time::Duration::seconds(n),
        "m" => time::Duration::minutes(n),
        "h" => time::Duration::hours(n),
        "d" => time::Duration::days(n),
        _ => return Err(bad_time(s)),
    };
    Ok(time::OffsetDateTime::now_utc() - d)
}

fn bad_time(s: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "`{s}` is not a time: use RFC 3339 (2026-01-31T12:00:00Z), a date (2026-01-31) or an age (7d, 24h, 15m)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn describe(url: &str) -> String {
        StoreArgs {
            database: Some(url.into()),
            data_dir: None,
        }
        .describe()
    }

    #[test]
    fn describe_never_prints_a_password() {
        for url in [
            "postgres://app:s3cret@db.example:5432/gcprov",
            "postgres://app:s3c@ret@db.example:5432/gcprov",
            "postgres://db.example:5432/gcprov?user=app&password=s3cret",
            "postgresql://app:s3cret@db.example/gcprov?sslmode=require",
        ] {
            let d = describe(url);
            assert!(!d.contains("s3c"), "{url} -> {d}");
            assert!(d.contains("db.example"), "{url} -> {d}");
        }
        assert_eq!(describe("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
        let args = StoreArgs {
            database: Some("postgres://app:s3cret@db.example/gcprov".into()),
            data_dir: None,
        };
        assert!(!format!("{args:?}").contains("s3cret"));
    }
}
