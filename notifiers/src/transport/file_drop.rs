//! `<dir>/<notice id>.eml`, written atomically: a reader never sees half a message, and
//! delivering the same notice again leaves the same bytes.
//!
//! On Linux the message is written to a file *without a name* in the folder (`O_TMPFILE`),
//! synced, then linked under its final name. Creating a named file and renaming it both hold
//! the folder's lock, creation while the file system allocates the inode; with many deliveries
//! side by side they queued (and spun) on that lock. An unnamed file takes no lock of the
//! folder, and the link takes it once, briefly; a process killed while writing leaves nothing.
//! Where that is not possible (another system, a file system without `O_TMPFILE`, no
//! `/proc`) or the notice's file already exists (a delivery again), the message goes to a
//! temporary file `.tmp-<random>.part` renamed over the final name. A process killed while
//! writing one leaves it behind, and a reader that picks up `*.eml` must never take it for a
//! notice: `FileDrop::remove_abandoned` deletes such leftovers at start-up.
//!
//! A name is durable once the folder itself is synced. Deliveries side by side share that
//! sync ([`FolderSync`]): one sync covers every link made before it began.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{DeliveryError, Sent};
use crate::message::{BuiltMessage, is_valid_notice_id};

const TEMP_PREFIX: &str = ".tmp-";
const TEMP_SUFFIX: &str = ".part";

#[derive(Clone, Debug)]
pub struct FileDrop {
    dir: PathBuf,
    sync: Arc<FolderSync>,
}

impl FileDrop {
    /// The folder is created at the first delivery if it does not exist.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileDrop {
            dir: dir.into(),
            sync: Arc::default(),
        }
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
        let this = self.clone();
        let bytes = message.bytes.clone();
        tokio::task::spawn_blocking(move || this.write(&path, &bytes))
            .await
            .map_err(|e| DeliveryError::transient(format!("file drop task failed: {e}")))?
    }

    /// The same, without a runtime (for the benchmark and synchronous callers).
    pub fn deliver_blocking(&self, message: &BuiltMessage) -> Result<Sent, DeliveryError> {
        self.write(&self.target(message)?, &message.bytes)
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

impl FileDrop {
    fn write(&self, path: &Path, bytes: &[u8]) -> Result<Sent, DeliveryError> {
        let fail = |what: &str, e: std::io::Error| {
            DeliveryError::transient(format!("cannot {what} {}: {e}", path.display()))
        };
        std::fs::create_dir_all(&self.dir).map_err(|e| fail("create the folder of", e))?;
        let named = match unnamed::write_and_link(&self.dir, path, bytes) {
            Ok(unnamed::Linked::Yes) => Ok(()),
            Ok(unnamed::Linked::No) => write_and_rename(&self.dir, path, bytes),
            Err(e) => Err(e),
        };
        named.map_err(|(what, e)| fail(what, e))?;
        // A name is durable only once the folder itself is synced.
        self.sync
            .after_link(&self.dir)
            .map_err(|e| fail("sync the folder of", e))?;
        Ok(Sent {
            response: format!("written {}", path.display()),
        })
    }
}

type Failed = (&'static str, std::io::Error);

/// The way everywhere: a named temporary file, synced, renamed over the final name.
fn write_and_rename(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), Failed> {
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)
        .map_err(|e| ("create a temporary file for", e))?;
    tmp.write_all(bytes).map_err(|e| ("write", e))?;
    tmp.as_file().sync_all().map_err(|e| ("sync", e))?;
    tmp.persist(path).map_err(|e| ("rename into", e.error))?;
    Ok(())
}

#[cfg(target_os = "linux")]
mod unnamed {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::path::Path;

    use rustix::fs::{AtFlags, CWD, Mode, OFlags};
    use rustix::io::Errno;

    use super::Failed;

    pub enum Linked {
        Yes,
        /// Not possible here, or the name is taken: write it the other way.
        No,
    }

    pub fn write_and_link(dir: &Path, path: &Path, bytes: &[u8]) -> Result<Linked, Failed> {
        let fd = match rustix::fs::open(
            dir,
            OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        ) {
            Ok(fd) => fd,
            // EOPNOTSUPP: the file system has no unnamed files; EISDIR, EINVAL: the kernel
            // does not know the flag.
            Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL) => return Ok(Linked::No),
            Err(e) => return Err(("create a file for", e.into())),
        };
        let mut file = std::fs::File::from(fd);
        file.write_all(bytes).map_err(|e| ("write", e))?;
        file.sync_all().map_err(|e| ("sync", e))?;
        // Linking a descriptor by itself (`AT_EMPTY_PATH`) needs a privilege; its `/proc` name
        // does not.
        let own = format!("/proc/self/fd/{}", file.as_raw_fd());
        match rustix::fs::linkat(CWD, own.as_str(), CWD, path, AtFlags::SYMLINK_FOLLOW) {
            Ok(()) => Ok(Linked::Yes),
            // Delivered before (its file is replaced), or no `/proc`.
            Err(Errno::EXIST | Errno::NOENT) => Ok(Linked::No),
            Err(e) => Err(("link", e.into())),
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod unnamed {
    use std::path::Path;

    use super::Failed;

    #[allow(dead_code)] // `Yes` only where unnamed files exist.
    pub enum Linked {
        Yes,
        No,
    }

    pub fn write_and_link(_: &Path, _: &Path, _: &[u8]) -> Result<Linked, Failed> {
        Ok(Linked::No)
    }
}

/// One sync of the folder for every delivery that linked or renamed its file before the sync
/// began. A delivery takes a ticket after its name is made, then waits its turn: if a sync
/// begun after its ticket has finished, it is covered; otherwise it syncs, for itself and
/// every ticket taken so far.
#[derive(Debug, Default)]
struct FolderSync {
    taken: AtomicU64,
    /// The last ticket a finished sync covers; held across the sync, so that the deliveries
    /// arriving meanwhile wait for it, and then most find themselves covered by the next one.
    synced: Mutex<u64>,
}

impl FolderSync {
    fn after_link(&self, dir: &Path) -> std::io::Result<()> {
        let mine = self.taken.fetch_add(1, Ordering::SeqCst) + 1;
        let mut synced = self.synced.lock().unwrap_or_else(|p| p.into_inner());
        if *synced >= mine {
            return Ok(());
        }
        // Every ticket taken so far was taken after its name was made, so before this sync.
        let covers = self.taken.load(Ordering::SeqCst);
        std::fs::File::open(dir)?.sync_all()?;
        *synced = covers;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn an_unnamed_file_is_linked_under_the_notice_name_and_nothing_else_appears() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n-1.eml");
        assert!(matches!(
            unnamed::write_and_link(dir.path(), &path, b"Subject: un\r\n\r\nx\r\n"),
            Ok(unnamed::Linked::Yes)
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"Subject: un\r\n\r\nx\r\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "readable by the server's user alone");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["n-1.eml"]);
        // The name is taken: the caller writes it the other way (and replaces it).
        assert!(matches!(
            unnamed::write_and_link(dir.path(), &path, b"other"),
            Ok(unnamed::Linked::No)
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"Subject: un\r\n\r\nx\r\n");
    }

    #[test]
    fn a_failed_folder_sync_covers_no_one() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("absent");
        let sync = FolderSync::default();
        assert!(sync.after_link(&missing).is_err());
        assert_eq!(*sync.synced.lock().unwrap(), 0);
        std::fs::create_dir(&missing).unwrap();
        sync.after_link(&missing).unwrap();
        assert_eq!(
            *sync.synced.lock().unwrap(),
            2,
            "the next sync covers both tickets"
        );
    }

    #[test]
    fn deliveries_side_by_side_all_land_and_share_folder_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let drop = FileDrop::new(dir.path().join("drop"));
        std::thread::scope(|s| {
            for t in 0..8 {
                let drop = &drop;
                s.spawn(move || {
                    for i in 0..25 {
                        let path = drop.path_of(&format!("n-{t}-{i}"));
                        drop.write(&path, format!("{t}/{i}").as_bytes()).unwrap();
                    }
                });
            }
        });
        for t in 0..8 {
            for i in 0..25 {
                let bytes = std::fs::read(drop.path_of(&format!("n-{t}-{i}"))).unwrap();
                assert_eq!(bytes, format!("{t}/{i}").as_bytes());
            }
        }
        assert_eq!(std::fs::read_dir(drop.dir()).unwrap().count(), 200);
        assert_eq!(
            *drop.sync.synced.lock().unwrap(),
            200,
            "every ticket covered"
        );
    }
}
