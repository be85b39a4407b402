//! OAuth2 sign-in for IMAP and SMTP: the settings (`auth`, `mechanism` and
//! an `oauth` table on a `[[mailbox]]` or the `[outbox]`), the provider
//! presets, the token file, and the [`TokenSource`] that hands a fresh
//! access token to whoever logs in.
//!
//! - [`sasl`]: the two SASL mechanisms' client messages (RFC 7628
//!   OAUTHBEARER, Google's and Microsoft's XOAUTH2). Pure.
//! - [`tokens`]: the token file: JSON, mode 0600, replaced atomically; it
//!   also records a refresh the provider refused (the mailbox's failing
//!   state, which `check` and `auth status` show).
//! - [`client`]: the one user of the `oauth2` crate: device code (RFC 8628),
//!   client credentials (secret or certificate), the JWT bearer assertion
//!   (RFC 7523, Google service accounts), the installed-app code exchange with PKCE, refresh.
//! - [`jwt`]: the RS256 assertions of RFC 7523, one signer: a Google
//!   service account's grant, and a client certificate's `client_assertion`
//!   (Microsoft 365 app-only with a certificate).
//! - [`loopback`]: the redirect listener of the installed-app flow.
//! - [`signin`]: `postdesk auth login | status | logout`.
//! - [`source`]: tokens cached, refreshed before they expire, rotation
//!   honoured, one source per token file in the process.
//!
//! A token never reaches a log, an error or `check`: [`Token`] prints as
//! `***`, errors carry the provider's error code and description, never the
//! request.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

pub mod client;
pub mod jwt;
pub mod loopback;
pub mod sasl;
pub mod signin;
pub mod source;
pub mod tokens;

pub use source::{AuthError, TokenSource};

/// A token or client secret in memory; prints as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(s: impl Into<String>) -> Token {
        Token(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How a mailbox or the outbox logs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMethod {
    /// A password from `password-env` or `password-file`.
    #[default]
    Password,
    /// An OAuth2 access token (the `oauth` table says where it comes from).
    Oauth2,
}

/// The SASL mechanism that carries the access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mechanism {
    /// Google's and Microsoft's mechanism; the only one Microsoft 365 offers.
    #[default]
    Xoauth2,
    /// RFC 7628, the standard one (Google, Dovecot, Stalwart …).
    Oauthbearer,
}

impl Mechanism {
    pub fn sasl_name(self) -> &'static str {
        match self {
            Mechanism::Xoauth2 => "XOAUTH2",
            Mechanism::Oauthbearer => "OAUTHBEARER",
        }
    }
}

/// Whose endpoints and scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    /// Microsoft 365 (Entra ID): endpoints under the `tenant`.
    Microsoft,
    Google,
    /// Any other: `token-url` (and `device-url` / `auth-url` for those flows) and `scopes` are required.
    Generic,
}

/// How the first token is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flow {
    /// RFC 8628: `postdesk auth login` shows a URL and a code; someone signs
    /// in on any device. Microsoft 365 user and shared mailboxes.
    DeviceCode,
    /// App-only access with the app's own secret or certificate (Microsoft 365).
    ClientCredentials,
    /// A Google service account with domain-wide delegation signs a JWT.
    ServiceAccount,
    /// The browser comes back to a listener on 127.0.0.1 (personal Google accounts).
    InstalledApp,
}

impl Flow {
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::DeviceCode => "device-code",
            Flow::ClientCredentials => "client-credentials",
            Flow::ServiceAccount => "service-account",
            Flow::InstalledApp => "installed-app",
        }
    }

    /// Whether a person has to sign in once (`postdesk auth login`); the
    /// other flows get every token with the app's own credentials.
    pub fn needs_login(self) -> bool {
        matches!(self, Flow::DeviceCode | Flow::InstalledApp)
    }
}

/// The `oauth` table of a `[[mailbox]]` or of `[outbox]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OAuthConfig {
    pub provider: Provider,
    pub flow: Flow,
    /// Microsoft: the directory (tenant) id or domain; `organizations` by default.
    pub tenant: Option<String>,
    /// The registered application's client id (for a service account: read from its key file).
    pub client_id: Option<String>,
    pub client_secret_env: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    /// Client credentials with a certificate instead of a secret: a PEM
    /// file holding the certificate and its private key (RFC 7523 client
    /// assertion).
    pub client_certificate_file: Option<PathBuf>,
    /// The same PEM as a credential of `$CREDENTIALS_DIRECTORY`
    /// (systemd's `LoadCredential=NAME:FILE`).
    pub client_certificate_credential: Option<String>,
    /// Google: the service account's JSON key file.
    pub service_account_file: Option<PathBuf>,
    /// Whose mail a service account reads (domain-wide delegation); the mailbox's username by default.
    pub subject: Option<String>,
    pub token_url: Option<String>,
    pub device_url: Option<String>,
    pub auth_url: Option<String>,
    /// The revocation endpoint (RFC 7009) `auth logout` tells; Google's is
    /// preset, Microsoft has none.
    pub revoke_url: Option<String>,
    /// Instead of the preset's scopes.
    pub scopes: Option<Vec<String>>,
    /// Where the tokens are kept (mode 0600). Mailbox and outbox may share one.
    pub token_file: PathBuf,
    /// Installed-app flow: the port of the listener on 127.0.0.1 the browser returns to.
    #[serde(default = "default_redirect_port")]
    pub redirect_port: u16,
}

fn default_redirect_port() -> u16 {
    8765
}

/// Endpoints and scopes, from the preset and the overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub token_url: String,
    pub device_url: Option<String>,
    pub auth_url: Option<String>,
    pub revoke_url: Option<String>,
    pub scopes: Vec<String>,
}

/// Microsoft 365's delegated scopes: IMAP and SMTP in one token (both are
/// the same resource), so a mailbox and the outbox can share a token file;
/// `offline_access` for the refresh token.
pub const MICROSOFT_DELEGATED_SCOPES: [&str; 3] = [
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
    "offline_access",
];
/// App-only access: the permissions granted to the app in the admin centre.
pub const MICROSOFT_APP_SCOPE: &str = "https://outlook.office365.com/.default";
/// Gmail over IMAP and SMTP needs the full mail scope.
pub const GOOGLE_SCOPE: &str = "https://mail.google.com/";

impl OAuthConfig {
    /// The endpoints in use; an error names the missing key.
    pub fn endpoints(&self) -> Result<Endpoints, String> {
        // Microsoft's identity platform has no RFC 7009 endpoint: a refresh
        // token there ends only when the user's sessions are revoked.
        let revoke = match self.provider {
            Provider::Google => Some("https://oauth2.googleapis.com/revoke".to_string()),
            Provider::Microsoft | Provider::Generic => None,
        };
        let (token, device, auth, scopes): (String, Option<String>, Option<String>, Vec<String>) =
            match self.provider {
                Provider::Microsoft => {
                    let tenant = self.tenant.as_deref().unwrap_or("organizations");
                    let base = format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0");
                    let scopes = if self.flow == Flow::ClientCredentials {
                        vec![MICROSOFT_APP_SCOPE.to_string()]
                    } else {
                        MICROSOFT_DELEGATED_SCOPES.map(String::from).to_vec()
                    };
                    (
                        format!("{base}/token"),
                        Some(format!("{base}/devicecode")),
                        Some(format!("{base}/authorize")),
                        scopes,
                    )
                }
                Provider::Google => (
                    "https://oauth2.googleapis.com/token".into(),
                    Some("https://oauth2.googleapis.com/device/code".into()),
                    Some("https://accounts.google.com/o/oauth2/v2/auth".into()),
                    vec![GOOGLE_SCOPE.to_string()],
                ),
                Provider::Generic => (
                    self.token_url
                        .clone()
                        .ok_or("provider = \"generic\" needs token-url")?,
                    None,
                    None,
                    self.scopes
                        .clone()
                        .ok_or("provider = \"generic\" needs scopes = [...]")?,
                ),
            };
        Ok(Endpoints {
            token_url: self.token_url.clone().unwrap_or(token),
            device_url: self.device_url.clone().or(device),
            auth_url: self.auth_url.clone().or(auth),
            revoke_url: self.revoke_url.clone().or(revoke),
            scopes: self.scopes.clone().unwrap_or(scopes),
        })
    }

    /// Checks what the types alone cannot; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        let e = self.endpoints()?;
        let secret = self.client_secret_env.is_some() || self.client_secret_file.is_some();
        match self.flow {
            Flow::DeviceCode => {
                if e.device_url.is_none() {
                    return Err("flow = \"device-code\" needs device-url".into());
                }
                self.need_client_id()?;
            }
            Flow::InstalledApp => {
                if e.auth_url.is_none() {
                    return Err("flow = \"installed-app\" needs auth-url".into());
                }
                self.need_client_id()?;
            }
            Flow::ClientCredentials => {
                self.need_client_id()?;
                let certificate = self.client_certificate_file.is_some()
                    || self.client_certificate_credential.is_some();
                if !secret && !certificate {
                    return Err("flow = \"client-credentials\" needs client-secret-env, client-secret-file, client-certificate-file or client-certificate-credential".into());
                }
                if secret && certificate {
                    return Err(
                        "flow = \"client-credentials\" takes a secret or a certificate, not both"
                            .into(),
                    );
                }
                if self.provider == Provider::Microsoft && self.tenant.is_none() {
                    return Err("flow = \"client-credentials\" with Microsoft needs tenant = \"your tenant id or domain\"".into());
                }
            }
            Flow::ServiceAccount => {
                if self.service_account_file.is_none() {
                    return Err("flow = \"service-account\" needs service-account-file".into());
                }
            }
        }
        Ok(())
    }

    fn need_client_id(&self) -> Result<(), String> {
        match &self.client_id {
            Some(id) if !id.is_empty() => Ok(()),
            _ => Err(format!(
                "flow = \"{}\" needs client-id (the registered application's id)",
                self.flow.as_str()
            )),
        }
    }
}

/// Seconds since the epoch (the token file's clock).
pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> OAuthConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn presets_give_endpoints_and_scopes() {
        let m = cfg(
            "provider = \"microsoft\"\nflow = \"device-code\"\nclient-id = \"c\"\ntoken-file = \"t.json\"\ntenant = \"contoso.example\"\n",
        );
        let e = m.endpoints().unwrap();
        assert_eq!(
            e.device_url.as_deref(),
            Some("https://login.microsoftonline.com/contoso.example/oauth2/v2.0/devicecode")
        );
        assert!(
            e.scopes
                .iter()
                .any(|s| s.ends_with("IMAP.AccessAsUser.All"))
        );
        assert!(e.scopes.iter().any(|s| s.ends_with("SMTP.Send")));
        assert_eq!(e.revoke_url, None, "Microsoft has no RFC 7009 endpoint");
        m.validate().unwrap();
        let g = cfg(
            "provider = \"google\"\nflow = \"service-account\"\nservice-account-file = \"k.json\"\ntoken-file = \"t.json\"\n",
        );
        assert_eq!(
            g.endpoints().unwrap().scopes,
            vec![GOOGLE_SCOPE.to_string()]
        );
        assert_eq!(
            g.endpoints().unwrap().revoke_url.as_deref(),
            Some("https://oauth2.googleapis.com/revoke")
        );
        g.validate().unwrap();
    }

    #[test]
    fn client_credentials_take_a_secret_or_a_certificate() {
        let base = "provider = \"microsoft\"\nflow = \"client-credentials\"\nclient-id = \"c\"\ntoken-file = \"t\"\ntenant = \"x\"\n";
        cfg(&format!("{base}client-certificate-file = \"app.pem\"\n"))
            .validate()
            .unwrap();
        cfg(&format!(
            "{base}client-certificate-credential = \"app.pem\"\n"
        ))
        .validate()
        .unwrap();
        let e = cfg(base).validate().unwrap_err();
        assert!(e.contains("client-certificate-file"), "{e}");
        let e = cfg(&format!(
            "{base}client-certificate-file = \"app.pem\"\nclient-secret-env = \"S\"\n"
        ))
        .validate()
        .unwrap_err();
        assert!(e.contains("not both"), "{e}");
    }

    #[test]
    fn missing_keys_are_named() {
        let g = cfg(
            "provider = \"generic\"\nflow = \"device-code\"\nclient-id = \"c\"\ntoken-file = \"t\"\n",
        );
        assert!(g.validate().unwrap_err().contains("token-url"));
        let g = cfg(
            "provider = \"generic\"\nflow = \"device-code\"\nclient-id = \"c\"\ntoken-file = \"t\"\ntoken-url = \"http://127.0.0.1:1/t\"\nscopes = [\"mail\"]\n",
        );
        assert!(g.validate().unwrap_err().contains("device-url"));
        let m = cfg(
            "provider = \"microsoft\"\nflow = \"client-credentials\"\nclient-id = \"c\"\ntoken-file = \"t\"\nclient-secret-env = \"S\"\n",
        );
        assert!(m.validate().unwrap_err().contains("tenant"));
        let m = cfg("provider = \"microsoft\"\nflow = \"device-code\"\ntoken-file = \"t\"\n");
        assert!(m.validate().unwrap_err().contains("client-id"));
    }

    fn config(text: &str) -> Result<crate::config::Config, String> {
        crate::config::Config::from_toml(
            text,
            std::path::Path::new("/etc/postdesk.toml"),
            std::path::Path::new("/etc"),
        )
        .map_err(|e| e.to_string())
    }

    const MS: &str = "[[mailbox]]\nname = \"support\"\nkind = \"imap\"\nhost = \"outlook.office365.com\"\nusername = \"helpdesk@contoso.example\"\nauth = \"oauth2\"\n";
    const TABLE: &str = "provider = \"microsoft\"\nflow = \"device-code\"\nclient-id = \"c\"\ntoken-file = \"tokens/support.json\"\n";

    #[test]
    fn mailbox_and_outbox_take_an_oauth_table() {
        let text = format!(
            "{MS}mechanism = \"oauthbearer\"\n[mailbox.oauth]\n{TABLE}\n[outbox]\ntransport = \"smtp\"\nhost = \"smtp.office365.com\"\nusername = \"helpdesk@contoso.example\"\nauth = \"oauth2\"\n[outbox.oauth]\n{TABLE}"
        );
        let c = config(&text).unwrap();
        assert_eq!(c.mailboxes[0].auth, AuthMethod::Oauth2);
        assert_eq!(c.mailboxes[0].mechanism, Mechanism::Oauthbearer);
        assert_eq!(c.outbox.mechanism, Mechanism::Xoauth2);
        assert_eq!(c.outbox.oauth.as_ref().unwrap().flow, Flow::DeviceCode);
    }

    #[test]
    fn oauth_settings_errors_say_what_is_missing_and_where() {
        let e = config(MS).unwrap_err();
        assert!(
            e.contains("mailbox #1 (\"support\"): auth = \"oauth2\" needs an oauth table"),
            "{e}"
        );
        let e = config(&format!("{MS}[mailbox.oauth]\nprovider = \"microsoft\"\nflow = \"device-code\"\ntoken-file = \"t\"\n")).unwrap_err();
        assert!(
            e.contains("oauth: flow = \"device-code\" needs client-id"),
            "{e}"
        );
        let e = config(&format!("{MS}[mailbox.oauth]\n{TABLE}flow-typo = 1\n")).unwrap_err();
        assert!(
            e.starts_with("/etc/postdesk.toml:12: `mailbox.oauth.flow-typo`"),
            "{e}"
        );
        let e = config(&format!(
            "{MS}[mailbox.oauth]\n{}",
            TABLE.replace("device-code", "magic")
        ))
        .unwrap_err();
        assert!(
            e.contains(":9: `mailbox.oauth.flow`") && e.contains("device-code"),
            "{e}"
        );
    }

    #[test]
    fn tokens_never_print() {
        assert_eq!(format!("{:?}", Token::new("ya29.secret")), "***");
    }
}
