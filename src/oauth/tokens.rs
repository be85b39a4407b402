//! The token file: what `postdesk auth login` obtained and every refresh
//! since, as JSON, readable by its owner only (mode 0600), replaced
//! atomically (written to a temporary file beside it, synced, renamed), so
//! a crash mid-write leaves the old tokens, never half of new ones.
//!
//! It also records a refresh the provider refused (`failing`): the
//! mailbox's failing state, which the daemon, `check` and `auth status`
//! read, and which the next successful login or refresh clears.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Token;

/// The tokens of one sign-in.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct TokenFile {
    pub access_token: String,
    /// Unix seconds; 0 when the provider did not say.
    #[serde(default)]
    pub expires_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Unix seconds of the token's issue (login or refresh).
    #[serde(default)]
    pub obtained_at: i64,
    /// When the refresh token expires (unix seconds), when the provider
    /// said: the sign-in ends then, and someone must sign in again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_expires_at: Option<i64>,
    /// The flow that signed in, for `auth status`.
    #[serde(default)]
    pub flow: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing: Option<Failing>,
}

/// A refresh the provider refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failing {
    /// In plain words, with the provider's error code; never a token.
    pub reason: String,
    /// Unix seconds.
    pub since: i64,
}

impl std::fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenFile")
            .field("expires_at", &self.expires_at)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "***"))
            .field("refresh_expires_at", &self.refresh_expires_at)
            .field("failing", &self.failing)
            .finish_non_exhaustive()
    }
}

impl TokenFile {
    pub fn access(&self) -> Token {
        Token::new(self.access_token.clone())
    }
}

/// Reads a token file; `Ok(None)` when there is none (nobody signed in yet).
pub fn read(path: &Path) -> Result<Option<TokenFile>, String> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("reading token file {}: {e}", path.display())),
    };
    serde_json::from_slice(&text)
        .map(Some)
        // serde_json's message names line and column, never the content.
        .map_err(|e| format!("token file {}: not what postdesk writes ({e}); sign in again with `postdesk auth login`", path.display()))
}

/// Writes a token file atomically with mode 0600, creating its directory.
pub fn write(path: &Path, tokens: &TokenFile) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let err = |what: &str, e: std::io::Error| format!("{what} {}: {e}", path.display());
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(d) = dir {
        std::fs::create_dir_all(d).map_err(|e| err("creating the directory of", e))?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let json = serde_json::to_vec_pretty(tokens).map_err(|e| format!("encoding tokens: {e}"))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| err("writing", e))?;
    // `mode` applies only when the file is new; a leftover keeps its own.
    f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(|e| err("restricting", e))?;
    f.write_all(&json)
        .and_then(|_| f.sync_all())
        .map_err(|e| err("writing", e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err("replacing", e)
    })?;
    if let Some(d) = dir
        && let Ok(d) = std::fs::File::open(d)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The token file's lock: an advisory `flock` on `.NAME.lock` beside it
/// (not on the file itself, which each write replaces), held while a
/// process reads the tokens, asks the provider and writes the answer. The
/// daemon, `postdesk check` and `auth login` may each renew; with rotating
/// refresh tokens two renewals from one file spend the same refresh token,
/// and a provider that detects reuse revokes the whole sign-in. Released
/// when dropped (or when the process dies: the kernel drops it).
pub struct Lock {
    _file: std::fs::File,
}

/// Takes the lock of the token file at `path`, waiting for another
/// process that holds it (a renewal takes a second or two).
pub async fn lock(path: &Path) -> Result<Lock, String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lock_path = path.with_file_name(format!(".{name}.lock"));
    tokio::task::spawn_blocking(move || lock_now(&lock_path))
        .await
        .map_err(|e| format!("locking the token file: {e}"))?
}

fn lock_now(lock_path: &Path) -> Result<Lock, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let err = |what: &str, e: std::io::Error| format!("{what} {}: {e}", lock_path.display());
    if let Some(d) = lock_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d).map_err(|e| err("creating the directory of", e))?;
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(lock_path)
        .map_err(|e| err("opening", e))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| err("locking", e.into()))?;
    Ok(Lock { _file: file })
}

/// Deletes the token file (`auth logout`); true when there was one.
pub fn remove(path: &Path) -> Result<bool, String> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(format!("deleting token file {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_lock_waits_for_whoever_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let lock_path = dir.path().join(".tokens.json.lock");
        let held = lock_now(&lock_path).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let p = lock_path.clone();
        let waiter = std::thread::spawn(move || {
            let l = lock_now(&p).unwrap();
            tx.send(()).unwrap();
            drop(l);
        });
        // Another open of the same file is another holder: it must wait.
        assert!(
            rx.recv_timeout(std::time::Duration::from_millis(300))
                .is_err()
        );
        drop(held);
        rx.recv_timeout(std::time::Duration::from_secs(5))
            .expect("taken once released");
        waiter.join().unwrap();
    }

    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn written_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/tokens.json");
        assert!(read(&path).unwrap().is_none());
        let t = TokenFile {
            access_token: "at-1".into(),
            expires_at: 100,
            refresh_token: Some("rt-1".into()),
            ..TokenFile::default()
        };
        write(&path, &t).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = read(&path).unwrap().unwrap();
        assert_eq!(back.access_token, "at-1");
        assert_eq!(back.refresh_token.as_deref(), Some("rt-1"));
        assert!(!format!("{back:?}").contains("rt-1"), "{back:?}");
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file stays behind");
        assert!(remove(&path).unwrap());
        assert!(!remove(&path).unwrap());
    }

    #[test]
    fn a_damaged_file_is_an_error_without_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        std::fs::write(&path, "{\"access_token\": \"secret-at\"").unwrap();
        let e = read(&path).unwrap_err();
        assert!(e.contains("auth login"), "{e}");
        assert!(!e.contains("secret-at"), "{e}");
    }
}
