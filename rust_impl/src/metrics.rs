//! The metrics stream: JSON Lines appended to `--metrics-out`, one flushed line per event.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{os_reason, Error};

/// The environment variable holding the harness's per-run nonce, echoed in the start event.
pub const NONCE_ENV: &str = "MLP_BENCH_NONCE";

/// Where events go (nowhere without `--metrics-out`), tagged with this process's run id.
pub struct Metrics {
    file: Option<(String, File)>,
    run_id: String,
}

impl Metrics {
    /// Opens (append, create) the metrics file, if any, and draws a fresh uuid4 run id.
    pub fn open(path: Option<&Path>) -> Result<Metrics, Error> {
        let file = match path {
            None => None,
            Some(p) => {
                let shown = p.display().to_string();
                let f = OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(p)
                    .map_err(|e| Error::MetricsOpen {
                        path: shown.clone(),
                        reason: os_reason(&e),
                    })?;
                Some((shown, f))
            }
        };
        Ok(Metrics {
            file,
            run_id: uuid::Uuid::new_v4().to_string(),
        })
    }

    /// Appends `{"event": name, "run_id": ..., ...fields}` as one line.
    pub fn emit(&mut self, name: &str, fields: Value) -> Result<(), Error> {
        let Some((path, file)) = &mut self.file else {
            return Ok(());
        };
        let mut event = Map::new();
        event.insert("event".into(), name.into());
        event.insert("run_id".into(), self.run_id.clone().into());
        if let Value::Object(rest) = fields {
            event.extend(rest);
        }
        if name == "start" {
            // The harness's per-run nonce (CONTRACT.md): echoed so a replayed stream shows.
            let nonce = std::env::var(NONCE_ENV).ok();
            event.insert("nonce".into(), nonce.into());
        }
        let mut line = Value::Object(event).to_string();
        line.push('\n');
        // One write of the whole line, to a file opened for appending, then flushed.
        file.write_all(line.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|e| Error::MetricsWrite {
                path: path.clone(),
                reason: os_reason(&e),
            })
    }
}
