//! SQLite point reads run inline: the read-model lookups on every request's path (a user by id,
//! by `userName`, `externalId`, `displayName` or email) use a small set of rusqlite connections
//! and run on the caller's thread.
//!
//! Why: through sqlx each query is a message to a connection's worker thread and an answer
//! back (two thread wake-ups), which on a busy two-vCPU machine costs more than the indexed
//! lookup itself (tens of microseconds, WAL readers never wait for the writer). Scans, audit
//! queries and exports stay on sqlx's pool, where a long query cannot hold up an async worker.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::error::Result;

/// Idle connections kept; more are opened while more readers run at once (one per async worker
/// thread is typical), and closed when returned beyond this.
const MAX_IDLE: usize = 8;

pub(crate) struct PointReads {
    file: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
}

impl PointReads {
    pub(crate) fn new(file: &Path, busy_timeout: Duration) -> Result<PointReads> {
        let r = PointReads {
            file: file.to_path_buf(),
            busy_timeout,
            idle: Mutex::new(Vec::new()),
        };
        // Fail at open, not on the first request, when the file cannot be read.
        let c = r.open()?;
        r.put_back(c);
        Ok(r)
    }

    fn open(&self) -> Result<Connection> {
        let c = Connection::open_with_flags(
            &self.file,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        c.busy_timeout(self.busy_timeout)?;
        // These connections only read.
        c.pragma_update(None, "query_only", "ON")?;
        Ok(c)
    }

    fn put_back(&self, c: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(c);
        }
    }

    /// Runs `f` on an idle connection (or a new one) on this thread.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let c = match idle {
            Some(c) => c,
            None => self.open()?,
        };
        let r = f(&c);
        self.put_back(c);
        r
    }
}
