use std::io::Write;
use std::path::PathBuf;

use tokio::sync::Mutex;

use crate::envelope::Envelope;
use crate::sink::{BoxFuture, Sink, SinkError};

/// Appends one JSON line per event and fsyncs before acknowledging.
#[derive(Debug)]
pub struct FileSink {
    name: String,
    path: PathBuf,
    lock: Mutex<()>,
}

impl FileSink {
    pub fn new(name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        FileSink {
            name: name.into(),
            path: path.into(),
            lock: Mutex::new(()),
        }
    }
}

impl Sink for FileSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn send<'a>(&'a self, ev: &'a Envelope) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let _guard = self.lock.lock().await;
            let path = self.path.clone();
            let mut line = ev.body.clone();
            line.push(b'\n');
            let name = self.name.clone();
            tokio::task::spawn_blocking(move || -> Result<(), SinkError> {
                let fail = |e: std::io::Error| {
                    SinkError::Transient(format!("{name}: {}: {e}", path.display()))
                };
                if let Some(dir) = path.parent()
                    && !dir.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(dir).map_err(fail)?;
                }
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(fail)?;
                f.write_all(&line).map_err(fail)?;
                f.sync_data().map_err(fail)
            })
            .await
            .map_err(|e| SinkError::Transient(format!("{}: writer task failed: {e}", self.name)))?
        })
    }
}
