//! A Dovecot + Postfix pair of one test's own: `scripts/mailserver-start`
//! with a private `MAILLAB_DIR` under /tmp and free loopback ports, stopped
//! again when the [`Lab`] is dropped. Tests that stop, restart or reconfigure
//! servers use one, so the shared instance the other modules use is never
//! disturbed. Starting a pair costs about a second and needs root (as
//! `scripts/test` and CI have); a test fails loudly when its servers cannot
//! be started, it never skips.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::MailEnv;

// ---------------------------------------------------------------------- Lab --

/// A Dovecot + Postfix pair of one test's own, set up by the project's
/// scripts with a private directory and ports.
pub struct Lab {
    pub env: MailEnv,
    pub vars: Vec<(&'static str, String)>,
    /// `None` once kept for a post-mortem.
    dir: Option<tempfile::TempDir>,
}

impl Lab {
    pub fn start(tag: &str) -> Lab {
        Lab::start_with(tag, &[])
    }

    /// Like [`Lab::start`], with more `scripts/mailserver-start` settings
    /// (such as `MAILLAB_CERT_NAMES`).
    pub fn start_with(tag: &str, settings: &[(&'static str, &str)]) -> Lab {
        let dir = tempfile::Builder::new()
            .prefix(&format!("postdesk-chaos-{tag}-"))
            .tempdir_in("/tmp")
            .expect("a temp dir for the lab mail servers");
        // Dovecot's and Postfix's own users must reach the mail below it.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod 755 the lab dir");
        let [imap, imaps, lmtp, smtp, submission, oauth] = free_ports();
        let vars = vec![
            ("MAILLAB_DIR", dir.path().display().to_string()),
            ("IMAP_PORT", imap.to_string()),
            ("IMAPS_PORT", imaps.to_string()),
            ("LMTP_PORT", lmtp.to_string()),
            ("SMTP_PORT", smtp.to_string()),
            ("SUBMISSION_PORT", submission.to_string()),
            ("OAUTH_PORT", oauth.to_string()),
            // The servers are never killed here, only stopped: no need to sync.
            ("MAILLAB_FSYNC", "never".to_string()),
        ];
        let mut vars = vars;
        vars.extend(settings.iter().map(|&(k, v)| (k, v.to_string())));
        let started = Instant::now();
        let out = Command::new(script("mailserver-start"))
            .envs(vars.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run scripts/mailserver-start: {e}"));
        if !out.status.success() {
            panic!(
                "chaos tests start private mail servers and need root (as scripts/test and CI have); \
                 scripts/mailserver-start for {} failed ({}):\n{}{}",
                dir.path().display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let env = MailEnv::load_from(&dir.path().join("env"));
        eprintln!(
            "[{tag}] private mail servers in {} (IMAP {imap}, SMTP {smtp}) ready in {:.1} s",
            dir.path().display(),
            started.elapsed().as_secs_f64()
        );
        Lab {
            env,
            vars,
            dir: Some(dir),
        }
    }
}

impl Lab {
    /// Sets Postfix parameters (`name=value`, as `postconf -e` takes them)
    /// and restarts Postfix so they hold.
    pub fn postconf(&self, settings: &[&str]) {
        let dir = self
            .dir
            .as_ref()
            .expect("the lab's directory")
            .path()
            .join("postfix/etc");
        self.env.ctl("stop", "postfix");
        let out = Command::new("/usr/sbin/postconf")
            .arg("-c")
            .arg(&dir)
            .arg("-e")
            .args(settings)
            .output()
            .unwrap_or_else(|e| panic!("cannot run postconf: {e}"));
        assert!(
            out.status.success(),
            "postconf -e {settings:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Postfix does not read a main.cf younger than a second (see
        // mailserver-start): make it older.
        let main_cf = std::fs::File::options()
            .append(true)
            .open(dir.join("main.cf"))
            .expect("open main.cf");
        main_cf
            .set_modified(std::time::SystemTime::now() - Duration::from_secs(5))
            .expect("backdate main.cf");
        self.env.ctl("start", "postfix");
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(script("mailserver-stop"))
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output();
        if std::thread::panicking()
            && let Some(dir) = self.dir.take()
        {
            let kept = dir.keep();
            eprintln!(
                "kept {} (server logs in log/, the desk in the test's own temp dir)",
                kept.display()
            );
        }
    }
}

pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name)
}

/// N distinct free loopback ports (held together while chosen, so they differ).
pub fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<std::net::TcpListener> = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().expect("local addr").port())
}
