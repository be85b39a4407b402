//! `postdesk auth login | status | logout`: the sign-in that puts the first
//! tokens into the token file, and what the file says. Headless: the device
//! code flow shows a URL and a code and counts down while it waits; the
//! installed-app flow shows a URL and waits for the browser on 127.0.0.1.
//! The app-only flows (client credentials, service account) need no person:
//! login fetches a token to prove the settings work. Logout revokes the
//! refresh token where the provider has a revocation endpoint (RFC 7009:
//! Google; Microsoft has none), then deletes the tokens.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::tokens::TokenFile;
use super::{AuthMethod, Flow, Mechanism, OAuthConfig, TokenSource, now_s};

/// One place that signs in with OAuth2: a mailbox or the outbox.
pub struct Account {
    /// `support` (a mailbox) or `outbox`.
    pub name: String,
    pub mechanism: Mechanism,
    pub source: Arc<TokenSource>,
}

/// Every mailbox and outbox with `auth = "oauth2"`, given as (name, auth,
/// mechanism, user, oauth table).
pub fn accounts<'a>(
    all: impl IntoIterator<
        Item = (
            String,
            AuthMethod,
            Mechanism,
            &'a str,
            Option<&'a OAuthConfig>,
        ),
    >,
    base_dir: &Path,
) -> Result<Vec<Account>, String> {
    let mut out = Vec::new();
    for (name, auth, mechanism, user, oauth) in all {
        if let (AuthMethod::Oauth2, Some(o)) = (auth, oauth) {
            let label = if name == "outbox" {
                "outbox".to_string()
            } else {
                format!("mailbox {name}")
            };
            let source = TokenSource::shared(&label, user, o, base_dir)
                .map_err(|e| format!("{label}: {e}"))?;
            out.push(Account {
                name,
                mechanism,
                source,
            });
        }
    }
    Ok(out)
}

/// Signs in and stores the tokens; `say` prints a line for the admin.
pub async fn login(source: &TokenSource, say: &mut dyn FnMut(&str)) -> Result<TokenFile, String> {
    let grant = source.grant();
    let http = source.http();
    let issued = match source.flow {
        Flow::DeviceCode => {
            let d = grant.device_start(http).await.map_err(|e| e.to_string())?;
            say(&format!(
                "To sign in {} ({}), open {} on any device and enter the code {}",
                source.name,
                source.user,
                d.verification_uri().as_str(),
                d.user_code().secret()
            ));
            if let Some(c) = d.verification_uri_complete() {
                say(&format!("(or open {} directly)", c.secret()));
            }
            let finish = grant.device_finish(http, &d);
            countdown(finish, d.expires_in(), say)
                .await?
                .map_err(|e| e.to_string())?
        }
        Flow::InstalledApp => {
            let listener = super::loopback::bind(grant.redirect_port).await?;
            let (url, state, verifier) = grant.authorize_url().map_err(|e| e.to_string())?;
            say(&format!(
                "To sign in {} ({}), open this URL in a browser on this machine:\n{url}",
                source.name, source.user
            ));
            say(&format!(
                "On a server without a browser, first forward the port from your own machine: ssh -L {0}:127.0.0.1:{0} THIS-SERVER, then open the URL there.",
                grant.redirect_port
            ));
            let wait = Duration::from_secs(300);
            let code = countdown(
                super::loopback::code(&listener, state.secret(), wait),
                wait,
                say,
            )
            .await??;
            grant
                .exchange_code(http, code, verifier)
                .await
                .map_err(|e| e.to_string())?
        }
        Flow::ClientCredentials | Flow::ServiceAccount => {
            say(&format!(
                "{}: {} needs no sign-in by a person; fetching a token to check the settings",
                source.name,
                source.flow.as_str()
            ));
            source.renew_now().await.map_err(|e| e.to_string())?;
            return source
                .on_disk()?
                .ok_or_else(|| "the token was not stored".to_string());
        }
    };
    let file = source.signed_in(issued).await?;
    say(&format!(
        "{} signed in: access token valid until {}{}; tokens stored in {} (mode 0600)",
        source.name,
        when(file.expires_at),
        if file.refresh_token.is_some() {
            ", renewed with the refresh token from then on"
        } else {
            " (the provider gave no refresh token: sign in again then)"
        },
        source.path().display()
    ));
    Ok(file)
}

/// `auth logout`: under the token file's lock (a daemon renewing at that
/// moment would otherwise write back what is being deleted), revokes the
/// refresh token at the provider unless `local`, then deletes the file.
/// Returns what to tell the admin. When the revocation fails the tokens are
/// kept, so the command can be run again (or with `local`).
pub async fn logout(source: &TokenSource, local: bool) -> Result<String, String> {
    let name = source.name.as_str();
    let _lock = super::tokens::lock(source.path()).await?;
    let Some(file) = super::tokens::read(source.path())? else {
        return Ok(format!("{name}: was not signed in"));
    };
    let revoked = match (&file.refresh_token, local) {
        (_, true) => {
            "not revoked (--local): the provider keeps the sign-in until it is revoked there"
                .to_string()
        }
        (None, false) => {
            "no refresh token to revoke (the access token expires on its own)".to_string()
        }
        (Some(rt), false) => {
            match source.grant().revoke(source.http(), &super::Token::new(rt.clone())).await {
                Ok(true) => "the refresh token was revoked at the provider".to_string(),
                Ok(false) if source.grant().endpoints.revoke_url.is_none() => {
                    "not revoked: the provider has no revocation endpoint (Microsoft has none: revoke the user's sessions or the app's consent in the Entra admin center to end the sign-in there; a generic provider may name one with revoke-url)".to_string()
                }
                Ok(false) => "not revoked".to_string(),
                Err(e) => {
                    return Err(format!(
                        "{name}: {e}; the tokens are kept in {} (run again, or `postdesk auth logout --local {}` to delete them without revoking)",
                        source.path().display(),
                        name.strip_prefix("mailbox ").unwrap_or(name)
                    ));
                }
            }
        }
    };
    super::tokens::remove(source.path())?;
    Ok(format!(
        "{name}: {revoked}; tokens deleted ({})",
        source.path().display()
    ))
}

/// Waits for `work`, saying every 10 s how long is left (every second on a
/// terminal, on one line), and gives up when `limit` has passed.
async fn countdown<T>(
    work: impl Future<Output = T>,
    limit: Duration,
    say: &mut dyn FnMut(&str),
) -> Result<T, String> {
    use std::io::IsTerminal;
    let tty = std::io::stderr().is_terminal();
    let deadline = tokio::time::Instant::now() + limit;
    let mut tick = tokio::time::interval(Duration::from_secs(if tty { 1 } else { 10 }));
    tokio::pin!(work);
    loop {
        tokio::select! {
            r = &mut work => {
                if tty {
                    eprintln!();
                }
                return Ok(r);
            }
            _ = tick.tick() => {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                if left.is_zero() {
                    return Err(format!("nobody signed in within {} s; run the command again", limit.as_secs()));
                }
                let text = format!("waiting for the sign-in: {}:{:02} left", left.as_secs() / 60, left.as_secs() % 60);
                if tty {
                    eprint!("\r{text} ");
                } else {
                    say(&text);
                }
            }
        }
    }
}

/// A unix time as UTC text.
pub fn when(unix_s: i64) -> String {
    jiff::Timestamp::from_second(unix_s)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| unix_s.to_string())
}

/// One account's state in a line: flow, expiry, refresh token, failing.
pub fn status_line(a: &Account) -> String {
    let head = format!(
        "{}: oauth2 {} ({}), token file {}",
        a.name,
        a.source.flow.as_str(),
        a.mechanism.sasl_name(),
        a.source.path().display()
    );
    match a.source.on_disk() {
        Err(e) => format!("{head}: {e}"),
        Ok(None) => format!(
            "{head}: not signed in{}",
            if a.source.flow.needs_login() {
                format!(" (run `postdesk auth login {}`)", a.name)
            } else {
                " (a token is fetched at start)".into()
            }
        ),
        Ok(Some(f)) => {
            let now = now_s();
            let expiry = if f.access_token.is_empty() {
                "no access token".to_string()
            } else if f.expires_at > now {
                format!(
                    "access token valid until {} ({} min left)",
                    when(f.expires_at),
                    (f.expires_at - now) / 60
                )
            } else {
                format!("access token expired {}", when(f.expires_at))
            };
            let refresh = match (&f.refresh_token, f.refresh_expires_at) {
                (Some(_), Some(e)) => format!(
                    ", refresh token stored (the sign-in ends {}, in {} h)",
                    when(e),
                    (e - now).max(0) / 3600
                ),
                (Some(_), None) => ", refresh token stored".to_string(),
                (None, _) => String::new(),
            };
            let failing = f
                .failing
                .map(|x| format!("; FAILING since {}: {}", when(x.since), x.reason))
                .unwrap_or_default();
            format!("{head}: {expiry}{refresh}{failing}")
        }
    }
}
