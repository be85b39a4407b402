//! Where a login gets its access token: the token file, refreshed before
//! the token expires.
//!
//! - A token is used until `margin` before its expiry: a tenth of its
//!   lifetime, at least 1 s and at most 5 minutes (Microsoft's and Google's
//!   tokens live an hour, so they are renewed 5 minutes early; the test
//!   server's 4-second tokens 1 s early).
//! - Before asking the provider, the file is read again: `auth login`, a
//!   `check`, or the other user of a shared file may have renewed it.
//! - A refresh answer with a new refresh token replaces the old one
//!   (rotation: the old one is dead from then on); one without keeps it.
//! - When the provider refuses, the refusal is recorded in the file
//!   (`failing`) and every caller gets [`AuthError::Refused`] until someone
//!   signs in again; while the provider merely cannot be reached, a token
//!   that has not expired yet is still handed out.
//! - A token file that is gone (`auth logout`) is gone for the daemon too:
//!   the tokens it cached are dropped, not renewed and written back.
//! - One source per token file in the process ([`TokenSource::shared`]), so
//!   a mailbox and the outbox sharing a file never both spend one rotating
//!   refresh token.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use super::client::{Grant, GrantError, Issued};
use super::jwt::{ClientCertificate, ServiceAccountKey};
use super::tokens::{self, Failing, TokenFile};
use super::{Flow, OAuthConfig, Token, now_s};

/// Why no access token can be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// Nobody signed in, or the provider refused a refresh: retrying will
    /// not help until an admin acts (the message says what to run).
    #[error("{0}")]
    Refused(String),
    /// The provider could not be asked: try again later.
    #[error("{0}")]
    Unreachable(String),
}

/// The access tokens of one token file.
pub struct TokenSource {
    /// `mailbox support`, `outbox`: for messages.
    pub name: String,
    /// The login the token is for (the SASL user).
    pub user: String,
    pub flow: Flow,
    grant: Grant,
    path: PathBuf,
    http: oauth2::reqwest::Client,
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    file: Option<TokenFile>,
    /// An access token a server refused although it had not expired.
    rejected: Option<String>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("name", &self.name)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// How long before expiry a token is renewed (see the module doc).
pub fn margin(lifetime_s: i64) -> i64 {
    (lifetime_s / 10).clamp(1, 300)
}

fn fresh(f: &TokenFile, now: i64) -> bool {
    !f.access_token.is_empty() && f.expires_at - margin(f.expires_at - f.obtained_at) > now
}

static SHARED: Mutex<BTreeMap<PathBuf, Weak<TokenSource>>> = Mutex::new(BTreeMap::new());

impl TokenSource {
    /// Reads the client secret or service account key the settings name
    /// (relative paths against `base_dir`); the message names the key.
    pub fn new(
        name: &str,
        user: &str,
        cfg: &OAuthConfig,
        base_dir: &Path,
    ) -> Result<TokenSource, String> {
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base_dir.join(p)
            }
        };
        let endpoints = cfg.endpoints()?;
        let client_secret = if let Some(var) = &cfg.client_secret_env {
            Some(Token::new(std::env::var(var).map_err(|_| {
                format!("environment variable {var} (client-secret-env) is not set")
            })?))
        } else if let Some(f) = &cfg.client_secret_file {
            let p = resolve(f);
            let s = std::fs::read_to_string(&p)
                .map_err(|e| format!("reading client-secret-file {}: {e}", p.display()))?;
            Some(Token::new(s.trim_end_matches(['\r', '\n'])))
        } else {
            None
        };
        let client_certificate = if let Some(name) = &cfg.client_certificate_credential {
            let dir = std::env::var_os("CREDENTIALS_DIRECTORY").ok_or_else(|| {
                format!("client-certificate-credential = \"{name}\": $CREDENTIALS_DIRECTORY is not set; systemd sets it for a unit with LoadCredential={name}:FILE")
            })?;
            if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                return Err(format!(
                    "client-certificate-credential = \"{name}\": expected a credential name (no slashes)"
                ));
            }
            Some(read_certificate(
                &Path::new(&dir).join(name),
                "client-certificate-credential",
            )?)
        } else if let Some(f) = &cfg.client_certificate_file {
            Some(read_certificate(&resolve(f), "client-certificate-file")?)
        } else {
            None
        };
        let service_account = match (&cfg.service_account_file, cfg.flow) {
            (Some(f), Flow::ServiceAccount) => Some(ServiceAccountKey::read(&resolve(f))?),
            _ => None,
        };
        let subject = cfg.subject.clone().unwrap_or_else(|| user.to_string());
        Ok(TokenSource {
            name: name.to_string(),
            user: user.to_string(),
            flow: cfg.flow,
            grant: Grant {
                flow: cfg.flow,
                endpoints,
                client_id: cfg.client_id.clone(),
                client_secret,
                client_certificate,
                service_account,
                subject,
                redirect_port: cfg.redirect_port,
            },
            path: resolve(&cfg.token_file),
            http: super::client::http()?,
            state: tokio::sync::Mutex::new(State::default()),
        })
    }

    /// The one source for this token file in the process: made on first
    /// use, shared while anyone holds it.
    pub fn shared(
        name: &str,
        user: &str,
        cfg: &OAuthConfig,
        base_dir: &Path,
    ) -> Result<Arc<TokenSource>, String> {
        let source = TokenSource::new(name, user, cfg, base_dir)?;
        let mut all = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|_, w| w.strong_count() > 0);
        if let Some(s) = all.get(&source.path).and_then(Weak::upgrade) {
            return Ok(s);
        }
        let s = Arc::new(source);
        all.insert(s.path.clone(), Arc::downgrade(&s));
        Ok(s)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn grant(&self) -> &Grant {
        &self.grant
    }

    pub fn http(&self) -> &oauth2::reqwest::Client {
        &self.http
    }

    /// A usable access token and its expiry (unix seconds), renewed first
    /// when it is close to expiry or a server refused it.
    pub async fn access_token(&self) -> Result<(Token, i64), AuthError> {
        let mut st = self.state.lock().await;
        let now = now_s();
        if let Some(f) = &st.file
            && fresh(f, now)
            && st.rejected.as_deref() != Some(f.access_token.as_str())
            && f.failing.is_none()
        {
            return Ok((f.access(), f.expires_at));
        }
        // Someone else may have renewed it (or signed in again).
        if let Some(disk) = tokens::read(&self.path).map_err(AuthError::Refused)? {
            let usable = fresh(&disk, now)
                && st.rejected.as_deref() != Some(disk.access_token.as_str())
                && disk.failing.is_none();
            st.file = Some(disk);
            if usable {
                let f = st.file.as_ref().expect("just set");
                return Ok((f.access(), f.expires_at));
            }
        }
        self.renew(&mut st, now).await
    }

    /// Renews now, whatever the expiry (`postdesk check`: "does a refresh work").
    pub async fn renew_now(&self) -> Result<(Token, i64), AuthError> {
        let mut st = self.state.lock().await;
        let _lock = tokens::lock(&self.path)
            .await
            .map_err(AuthError::Unreachable)?;
        if let Some(disk) = tokens::read(&self.path).map_err(AuthError::Refused)? {
            st.file = Some(disk);
        }
        self.renew_locked(&mut st, now_s()).await
    }

    /// A server refused `token` (AUTHENTICATE failed): the next
    /// [`access_token`](Self::access_token) renews instead of handing it out again.
    pub async fn rejected(&self, token: &Token) {
        self.state.lock().await.rejected = Some(token.expose().to_string());
    }

    /// When the current token should be replaced (unix seconds), if known.
    pub async fn renew_at(&self) -> Option<i64> {
        let st = self.state.lock().await;
        st.file
            .as_ref()
            .filter(|f| f.expires_at > 0)
            .map(|f| f.expires_at - margin(f.expires_at - f.obtained_at))
    }

    /// When the sign-in ends (unix seconds): its refresh token's expiry,
    /// when the provider told it.
    pub async fn sign_in_expires_at(&self) -> Option<i64> {
        let st = self.state.lock().await;
        st.file.as_ref().and_then(|f| f.refresh_expires_at)
    }

    /// When the current token expires (unix seconds), if known.
    pub async fn expires_at(&self) -> Option<i64> {
        let st = self.state.lock().await;
        st.file.as_ref().map(|f| f.expires_at).filter(|&e| e > 0)
    }

    /// Renews under the token file's lock: what another process renewed
    /// while this one waited is taken as it is, not renewed again from a
    /// refresh token it spent.
    async fn renew(&self, st: &mut State, now: i64) -> Result<(Token, i64), AuthError> {
        let _lock = tokens::lock(&self.path)
            .await
            .map_err(AuthError::Unreachable)?;
        let Some(disk) = tokens::read(&self.path).map_err(AuthError::Refused)? else {
            // `auth logout` deleted the file: what is cached here must not
            // sign in again (nor be written back by a renewal: for a
            // provider without revocation that would undo the logout).
            st.file = None;
            return self.renew_locked(st, now).await;
        };
        {
            let theirs = st
                .file
                .as_ref()
                .is_none_or(|f| f.access_token != disk.access_token);
            if theirs
                && fresh(&disk, now)
                && disk.failing.is_none()
                && st.rejected.as_deref() != Some(disk.access_token.as_str())
            {
                let out = (disk.access(), disk.expires_at);
                st.file = Some(disk);
                return Ok(out);
            }
            st.file = Some(disk);
        }
        self.renew_locked(st, now).await
    }

    async fn renew_locked(&self, st: &mut State, now: i64) -> Result<(Token, i64), AuthError> {
        let old = st.file.clone().unwrap_or_default();
        let result = match self.flow {
            Flow::DeviceCode | Flow::InstalledApp => match &old.refresh_token {
                Some(rt) => {
                    self.grant
                        .refresh(&self.http, &Token::new(rt.clone()))
                        .await
                }
                None => {
                    return Err(AuthError::Refused(format!(
                        "{}: nobody has signed in yet (no refresh token in {}); run `postdesk auth login {}`",
                        self.name,
                        self.path.display(),
                        self.login_name()
                    )));
                }
            },
            Flow::ClientCredentials => self.grant.client_credentials(&self.http, now).await,
            Flow::ServiceAccount => self.grant.service_account(&self.http, now).await,
        };
        match result {
            Ok(issued) => {
                let file = self.stored(issued, &old, now);
                tokens::write(&self.path, &file).map_err(AuthError::Unreachable)?;
                let out = (file.access(), file.expires_at);
                st.file = Some(file);
                st.rejected = None;
                Ok(out)
            }
            Err(GrantError::Refused(reason)) => {
                let reason = format!(
                    "{reason}; {}",
                    if self.flow.needs_login() {
                        format!(
                            "sign in again with `postdesk auth login {}`",
                            self.login_name()
                        )
                    } else {
                        "check the app's registration, secret and permissions".to_string()
                    }
                );
                let mut file = old;
                if file.failing.as_ref().is_none_or(|f| f.reason != reason) {
                    file.failing = Some(Failing {
                        reason: reason.clone(),
                        since: now,
                    });
                    file.flow = self.flow.as_str().into();
                    let _ = tokens::write(&self.path, &file);
                }
                st.file = Some(file);
                Err(AuthError::Refused(format!("{}: {reason}", self.name)))
            }
            Err(GrantError::Unreachable(e)) => {
                // The old token until it really expires.
                if !old.access_token.is_empty()
                    && old.expires_at > now
                    && st.rejected.as_deref() != Some(old.access_token.as_str())
                {
                    tracing::warn!(source = %self.name, error = %e, "token renewal failed; the current token is still valid");
                    return Ok((old.access(), old.expires_at));
                }
                Err(AuthError::Unreachable(format!("{}: {e}", self.name)))
            }
        }
    }

    /// What `auth login` and the CLI call this source.
    fn login_name(&self) -> &str {
        self.name.strip_prefix("mailbox ").unwrap_or(&self.name)
    }

    /// The file contents after a grant: a rotated refresh token replaces the old one.
    pub fn stored(&self, issued: Issued, old: &TokenFile, now: i64) -> TokenFile {
        // An hour when the provider does not say (RFC 6749 §5.1 makes it optional).
        let lifetime = issued
            .expires_in
            .map(|d| d.as_secs() as i64)
            .unwrap_or(3600);
        // A refresh token's life: as told now; a kept one keeps what was
        // told of it; a new one told nothing is not known to end.
        let refresh_expires_at = match (issued.refresh_expires_in, &issued.refresh) {
            (Some(d), _) => Some(now + d.as_secs() as i64),
            (None, Some(_)) => None,
            (None, None) => old.refresh_expires_at,
        };
        TokenFile {
            access_token: issued.access.expose().to_string(),
            expires_at: now + lifetime,
            refresh_expires_at,
            refresh_token: issued
                .refresh
                .map(|t| t.expose().to_string())
                .or_else(|| old.refresh_token.clone()),
            scope: issued.scope.or_else(|| old.scope.clone()),
            obtained_at: now,
            flow: self.flow.as_str().into(),
            failing: None,
        }
    }

    /// Stores the first tokens of a sign-in (`auth login`).
    pub async fn signed_in(&self, issued: Issued) -> Result<TokenFile, String> {
        let mut st = self.state.lock().await;
        let _lock = tokens::lock(&self.path).await?;
        let file = self.stored(issued, &TokenFile::default(), now_s());
        tokens::write(&self.path, &file)?;
        st.file = Some(file.clone());
        st.rejected = None;
        Ok(file)
    }

    /// What is on disk now, for `check` and `auth status`.
    pub fn on_disk(&self) -> Result<Option<TokenFile>, String> {
        tokens::read(&self.path)
    }
}

/// A client certificate and its key from one PEM file; `key` names the setting.
fn read_certificate(path: &Path, key: &str) -> Result<Arc<ClientCertificate>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("reading {key} {}: {e}", path.display()))?;
    ClientCertificate::from_pem(&pem, &format!("{key} {}", path.display())).map(Arc::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_is_a_tenth_within_bounds() {
        assert_eq!(margin(3600), 300);
        assert_eq!(margin(600), 60);
        assert_eq!(margin(4), 1);
        assert_eq!(margin(0), 1);
    }

    #[test]
    fn a_token_is_fresh_until_its_margin() {
        let f = TokenFile {
            access_token: "a".into(),
            obtained_at: 1000,
            expires_at: 4600,
            ..TokenFile::default()
        };
        assert!(fresh(&f, 4299));
        assert!(!fresh(&f, 4300));
        assert!(!fresh(&TokenFile::default(), 0));
    }
}
