//! The JSONL attempt log: the transcript of a run and the state a resumed
//! run starts from.
//!
//! One line per finished attempt. Lines are buffered and flushed in batches
//! (every [`FLUSH_EVERY`] records or [`FLUSH_INTERVAL`]), never fsynced per
//! attempt: a kill loses at most one batch, which the resumed run simply
//! asks again. A half-written last line from a kill is skipped on load.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::ChatRequest;

/// Records buffered before a flush.
pub const FLUSH_EVERY: usize = 256;
/// The longest time a finished record stays unflushed.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(500);
/// The longest log line read back; longer lines are skipped.
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// One finished attempt, as logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// The attempt id the caller gave (probe id and variant).
    pub id: String,
    /// The cache key: SHA-256 over the target id and the request.
    pub key: String,
    /// The target id (URL and model, never a key).
    pub target: String,
    /// What was sent.
    pub request: ChatRequest,
    /// The reply text, when the attempt succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// Why it failed after every retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The last HTTP status seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Requests sent for this attempt (1 + retries; 0 when reused).
    pub tries: u32,
    /// Wall time for the attempt, in milliseconds.
    pub elapsed_ms: u64,
    /// True when the reply came from the cache or an earlier run's log.
    #[serde(default)]
    pub reused: bool,
}

/// An open attempt log.
#[derive(Debug)]
pub struct AttemptLog {
    path: PathBuf,
    writer: BufWriter<File>,
    pending: usize,
    last_flush: Instant,
    replies: HashMap<String, String>,
    skipped_lines: usize,
}

impl AttemptLog {
    /// Opens (creating if needed) the log at `path` and loads the replies of
    /// every successful attempt already in it.
    ///
    /// # Errors
    /// An I/O error naming the file.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let named =
            |e: std::io::Error| std::io::Error::new(e.kind(), format!("attempt log {}: {e}", path.display()));
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(named)?;
        }
        let mut replies = HashMap::new();
        let mut skipped_lines = 0;
        let mut needs_newline = false;
        if path.exists() {
            let file = File::open(path).map_err(named)?;
            let mut reader = BufReader::new(file);
            let mut line = Vec::new();
            loop {
                line.clear();
                let n = (&mut reader)
                    .take(MAX_LINE_BYTES as u64 + 1)
                    .read_until(b'\n', &mut line)
                    .map_err(named)?;
                if n == 0 {
                    break;
                }
                if line.last() != Some(&b'\n') {
                    if n > MAX_LINE_BYTES {
                        // Skip the rest of an over-long line.
                        let mut sink = Vec::new();
                        reader.read_until(b'\n', &mut sink).map_err(named)?;
                        skipped_lines += 1;
                        continue;
                    }
                    needs_newline = true;
                }
                match serde_json::from_slice::<AttemptRecord>(&line) {
                    Ok(r) => {
                        if let Some(reply) = r.reply {
                            replies.insert(r.key, reply);
                        }
                    }
                    Err(_) => skipped_lines += 1,
                }
            }
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(named)?;
        if needs_newline {
            file.seek(SeekFrom::End(0)).map_err(named)?;
            file.write_all(b"\n").map_err(named)?;
        }
        Ok(AttemptLog {
            path: path.to_path_buf(),
            writer: BufWriter::with_capacity(256 * 1024, file),
            pending: 0,
            last_flush: Instant::now(),
            replies,
            skipped_lines,
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The reply an earlier run logged for this cache key.
    pub fn cached(&self, key: &str) -> Option<&str> {
        self.replies.get(key).map(String::as_str)
    }

    /// How many successful attempts the log held when opened.
    pub fn loaded(&self) -> usize {
        self.replies.len()
    }

    /// Lines that could not be read (a line cut by a kill, corruption).
    pub fn skipped_lines(&self) -> usize {
        self.skipped_lines
    }

    /// Appends a record; flushes when the batch is full or old.
    ///
    /// # Errors
    /// An I/O error naming the file.
    pub fn append(&mut self, record: &AttemptRecord) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.writer, record).map_err(std::io::Error::other)?;
        self.writer.write_all(b"\n")?;
        self.pending += 1;
        if self.pending >= FLUSH_EVERY || self.last_flush.elapsed() >= FLUSH_INTERVAL {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes out every buffered record.
    ///
    /// # Errors
    /// An I/O error naming the file.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush().map_err(|e| {
            std::io::Error::new(e.kind(), format!("attempt log {}: {e}", self.path.display()))
        })?;
        self.pending = 0;
        self.last_flush = Instant::now();
        Ok(())
    }
}

impl Drop for AttemptLog {
    fn drop(&mut self) {
        let _ = self.writer.flush();
    }
}

/// Reads every record of a log (for reports and tests).
///
/// # Errors
/// An I/O error naming the file; unreadable lines are skipped.
pub fn read_log(path: &Path) -> std::io::Result<Vec<AttemptRecord>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ChatMessage;

    fn record(key: &str, reply: Option<&str>) -> AttemptRecord {
        AttemptRecord {
            id: key.into(),
            key: key.into(),
            target: "t".into(),
            request: ChatRequest::new(vec![ChatMessage::user("q")]),
            reply: reply.map(str::to_string),
            error: reply.is_none().then(|| "boom".to_string()),
            status: Some(200),
            tries: 1,
            elapsed_ms: 1,
            reused: false,
        }
    }

    #[test]
    fn a_log_cut_mid_line_reloads_its_complete_records_and_appends_cleanly() {
        let dir = std::env::temp_dir().join(format!("pc-log-{}", std::process::id()));
        let path = dir.join("a.jsonl");
        let _ = std::fs::remove_file(&path);
        {
            let mut log = AttemptLog::open(&path).unwrap();
            log.append(&record("k1", Some("r1"))).unwrap();
            log.append(&record("k2", None)).unwrap();
        }
        // Simulate a kill in the middle of writing a line.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"id":"k3","key":"k3","tar"#).unwrap();
        drop(f);
        let mut log = AttemptLog::open(&path).unwrap();
        assert_eq!(log.cached("k1"), Some("r1"));
        assert_eq!(log.cached("k2"), None, "failed attempts are asked again");
        assert_eq!(log.skipped_lines(), 1);
        log.append(&record("k4", Some("r4"))).unwrap();
        drop(log);
        let log = AttemptLog::open(&path).unwrap();
        assert_eq!(log.cached("k4"), Some("r4"));
        assert_eq!(read_log(&path).unwrap().len(), 3);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
