//! `<dir>/<notice id>.eml`, written atomically: a temporary file in the same folder, synced,
//! then renamed over the final name. A reader never sees half a message, and delivering the
//! same notice again replaces the file with the same bytes.
//!
//! The temporary file is `.tmp-<random>.part`: a process killed while writing leaves it behind,
//! and a reader that picks up `*.eml` must never take it for a notice.
//! `FileDrop::remove_abandoned` deletes such leftovers at start-up.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{DeliveryError, Sent};
use crate::message::{BuiltMessage, is_valid_notice_id};

const TEMP_PREFIX: &str = ".tmp-";
const TEMP_SUFFIX: &str = ".part";

#[derive(Clone, Debug)]
pub struct FileDrop {
    dir: PathBuf,
}

impl FileDrop {
    /// The folder is created at the first delivery if it does not exist.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileDrop { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file a notice is written to.
    pub fn path_of(&self, notice_id: &str) -> PathBuf {
        self.dir.join(format!("{notice_id}.eml"))
    }

    pub async fn deliver(&self, message: &BuiltMessage) -> Result<Sent, DeliveryError> {
        let path = self.target(message)?;
        let dir = self.dir.clone();
        let bytes = message.bytes.clone();
        tokio::task::spawn_blocking(move || write_atomically(&dir, &path, &bytes))
            .await
            .map_err(|e| DeliveryError::transient(format!("file drop task failed: {e}")))?
    }

    /// The same, without a runtime (for the benchmark and synchronous callers).
    pub fn deliver_blocking(&self, message: &BuiltMessage) -> Result<Sent, DeliveryError> {
        write_atomically(&self.dir, &self.target(message)?, &message.bytes)
    }

    /// Deletes the temporary files of writes that never finished (a process killed mid-write)
    /// last modified before `before`. A write in progress, here or in another process sharing
    /// the folder, takes milliseconds: a cut-off minutes in the past never removes one.
    /// Returns how many were removed; a missing folder has none.
    pub fn remove_abandoned(&self, before: std::time::SystemTime) -> std::io::Result<usize> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut removed = 0;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !(name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX)) {
                continue;
            }
            let modified = entry.metadata()?.modified()?;
            if modified < before {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => removed += 1,
                    // Another process swept it first.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(removed)
    }

    fn target(&self, message: &BuiltMessage) -> Result<PathBuf, DeliveryError> {
        if !is_valid_notice_id(&message.notice_id) {
            return Err(DeliveryError::permanent(format!(
                "notice id `{}` cannot name a file",
                message.notice_id
            )));
        }
        Ok(self.path_of(&message.notice_id))
    }
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> Result<Sent, DeliveryError> {
    let fail = |what: &str, e: std::io::Error| {
        DeliveryError::transient(format!("cannot {what} {}: {e}", path.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| fail("create the folder of", e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)
        .map_err(|e| fail("create a temporary file for", e))?;
    tmp.write_all(bytes).map_err(|e| fail("write", e))?;
    tmp.as_file().sync_all().map_err(|e| fail("sync", e))?;
    tmp.persist(path)
        .map_err(|e| fail("rename into", e.error))?;
    // The rename is durable only once the folder itself is synced.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(Sent {
        response: format!("written {}", path.display()),
    })
}
