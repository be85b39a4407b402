//! The one user of the `oauth2` crate: every grant postdesk asks a token
//! endpoint for (client credentials with a secret or with a certificate's
//! signed assertion, RFC 7523 §2.2). Errors are sorted by what the caller does: the provider
//! refused ([`GrantError::Refused`]: a person must act, e.g. sign in again)
//! or could not be asked ([`GrantError::Unreachable`]: try again later).
//! Neither ever carries a token or a secret: a refusal is the provider's
//! error code and description.

use std::time::Duration;

use oauth2::basic::{
    BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse,
    BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    DeviceAuthorizationUrl, EndpointMaybeSet, EndpointNotSet, EndpointSet, ExtraTokenFields,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    StandardDeviceAuthorizationResponse, StandardRevocableToken, StandardTokenResponse,
    TokenResponse, TokenUrl,
};

use super::jwt::{ClientCertificate, ServiceAccountKey};
use super::{Endpoints, Flow, Token};

/// What a token endpoint answered.
pub struct Issued {
    pub access: Token,
    pub expires_in: Option<Duration>,
    /// A new refresh token, when the provider rotates them (or on first sign-in).
    pub refresh: Option<Token>,
    /// How long that refresh token lasts, when the provider says: Google
    /// gives `refresh_token_expires_in` (7 days for an app in testing, or
    /// under a session-length policy), after which someone must sign in.
    pub refresh_expires_in: Option<Duration>,
    pub scope: Option<String>,
}

/// The token response's fields beyond RFC 6749's that postdesk reads.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct MoreTokenFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_expires_in: Option<u64>,
}

impl ExtraTokenFields for MoreTokenFields {}

/// A token endpoint's answer, with [`MoreTokenFields`].
pub type TokenAnswer = StandardTokenResponse<MoreTokenFields, BasicTokenType>;

/// Why no token came.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GrantError {
    /// The provider said no (revoked consent, expired refresh token,
    /// changed password, wrong secret): a person must act.
    #[error("{0}")]
    Refused(String),
    /// Network trouble or a provider error that may pass: try again later.
    #[error("{0}")]
    Unreachable(String),
}

/// Everything a grant needs, resolved from the settings (secrets read).
#[derive(Debug, Clone)]
pub struct Grant {
    pub flow: Flow,
    pub endpoints: Endpoints,
    pub client_id: Option<String>,
    pub client_secret: Option<Token>,
    /// Client credentials with a certificate instead of the secret.
    pub client_certificate: Option<std::sync::Arc<ClientCertificate>>,
    pub service_account: Option<ServiceAccountKey>,
    /// The user the token is for (the mailbox's login).
    pub subject: String,
    pub redirect_port: u16,
}

type Configured = oauth2::Client<
    BasicErrorResponse,
    TokenAnswer,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointMaybeSet,
    EndpointMaybeSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The HTTP client for token endpoints: no redirects (RFC 6749 §10.15 and
/// the oauth2 crate ask for that: a redirect could carry the secret
/// elsewhere), a timeout on every request.
pub fn http() -> Result<oauth2::reqwest::Client, String> {
    oauth2::reqwest::ClientBuilder::new()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("setting up the HTTP client: {e}"))
}

impl Grant {
    fn client(&self) -> Result<Configured, GrantError> {
        let bad =
            |what: &str, e: &dyn std::fmt::Display| GrantError::Refused(format!("{what}: {e}"));
        let id = self
            .client_id
            .clone()
            .or_else(|| {
                self.service_account
                    .as_ref()
                    .map(|k| k.client_email.clone())
            })
            .unwrap_or_default();
        let mut c = oauth2::Client::<
            BasicErrorResponse,
            TokenAnswer,
            BasicTokenIntrospectionResponse,
            StandardRevocableToken,
            BasicRevocationErrorResponse,
        >::new(ClientId::new(id))
        // Microsoft and Google both take the client in the form body; a
        // public client (no secret) can only be sent that way.
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(
            TokenUrl::new(self.endpoints.token_url.clone()).map_err(|e| bad("token-url", &e))?,
        )
        .set_auth_uri_option(
            self.endpoints
                .auth_url
                .clone()
                .map(AuthUrl::new)
                .transpose()
                .map_err(|e| bad("auth-url", &e))?,
        )
        .set_device_authorization_url_option(
            self.endpoints
                .device_url
                .clone()
                .map(DeviceAuthorizationUrl::new)
                .transpose()
                .map_err(|e| bad("device-url", &e))?,
        );
        if let Some(s) = &self.client_secret {
            c = c.set_client_secret(ClientSecret::new(s.expose().to_string()));
        }
        Ok(c)
    }

    fn scopes(&self) -> Vec<Scope> {
        self.endpoints
            .scopes
            .iter()
            .cloned()
            .map(Scope::new)
            .collect()
    }

    /// A new access token for a refresh token.
    pub async fn refresh(
        &self,
        http: &oauth2::reqwest::Client,
        refresh: &Token,
    ) -> Result<Issued, GrantError> {
        let rt = RefreshToken::new(refresh.expose().to_string());
        let r = self
            .client()?
            .exchange_refresh_token(&rt)
            .request_async(http)
            .await;
        issued(r, "refreshing the token")
    }

    /// App-only access with the client's secret, or with an assertion
    /// its certificate signs (then no secret is set, so the client id goes
    /// in the body beside the assertion).
    pub async fn client_credentials(
        &self,
        http: &oauth2::reqwest::Client,
        now: i64,
    ) -> Result<Issued, GrantError> {
        let client = self.client()?;
        let mut req = client
            .exchange_client_credentials()
            .add_scopes(self.scopes());
        if let Some(cert) = &self.client_certificate {
            let id = self.client_id.as_deref().unwrap_or_default();
            let assertion = cert
                .assertion(id, &self.endpoints.token_url, now)
                .map_err(GrantError::Refused)?;
            req = req
                .add_extra_param(
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                )
                .add_extra_param("client_assertion", assertion);
        }
        let r = req.request_async(http).await;
        issued(r, "client credentials")
    }

    /// A Google service account's signed assertion for `subject` (RFC 7523).
    /// The oauth2 crate has no such grant, so the form is posted here; the
    /// answer is a standard token response, read with the crate's types.
    pub async fn service_account(
        &self,
        http: &oauth2::reqwest::Client,
        now: i64,
    ) -> Result<Issued, GrantError> {
        let key = self
            .service_account
            .as_ref()
            .ok_or_else(|| GrantError::Refused("no service account key".into()))?;
        let audience = key
            .token_uri
            .clone()
            .unwrap_or_else(|| self.endpoints.token_url.clone());
        let assertion =
            super::jwt::assertion(key, &self.subject, &audience, &self.endpoints.scopes, now)
                .map_err(GrantError::Refused)?;
        let resp = http
            .post(&self.endpoints.token_url)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|e| {
                GrantError::Unreachable(format!("service account: {}", without_url(&e)))
            })?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| {
            GrantError::Unreachable(format!("service account: {}", without_url(&e)))
        })?;
        if status.is_success() {
            let t: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
                GrantError::Unreachable(format!(
                    "service account: the token endpoint's answer: {e}"
                ))
            })?;
            return Ok(from_response(&t));
        }
        match serde_json::from_slice::<BasicErrorResponse>(&body) {
            Ok(e) => Err(server_error("service account", &e)),
            Err(_) => Err(GrantError::Unreachable(format!(
                "service account: the token endpoint answered HTTP {status}"
            ))),
        }
    }

    /// Tells the provider's revocation endpoint (RFC 7009) that `refresh`
    /// is no longer wanted; the provider then refuses it (and, Google, the
    /// access tokens of the same grant). `Ok(false)` when there is no such
    /// endpoint (Microsoft has none).
    ///
    /// The form is posted here, not by the oauth2 crate, whose revocation
    /// refuses any `http:` URL, a loopback one too: RFC 7009 §2 asks for
    /// TLS, which a request that never leaves the machine does not need
    /// (and the token endpoints, which the crate lets be `http:`, carry
    /// the same refresh token). Anything else must be `https:`.
    pub async fn revoke(
        &self,
        http: &oauth2::reqwest::Client,
        refresh: &Token,
    ) -> Result<bool, GrantError> {
        let Some(url) = &self.endpoints.revoke_url else {
            return Ok(false);
        };
        let parsed = oauth2::url::Url::parse(url)
            .map_err(|e| GrantError::Refused(format!("revoke-url {url:?}: {e}")))?;
        let loopback = match parsed.host() {
            Some(oauth2::url::Host::Ipv4(a)) => a.is_loopback(),
            Some(oauth2::url::Host::Ipv6(a)) => a.is_loopback(),
            Some(oauth2::url::Host::Domain(d)) => d == "localhost",
            None => false,
        };
        if parsed.scheme() != "https" && !loopback {
            return Err(GrantError::Refused(format!(
                "revoke-url {url:?}: must be https (RFC 7009 §2)"
            )));
        }
        let id = self.client_id.clone().unwrap_or_default();
        let mut form = vec![
            ("token", refresh.expose().to_string()),
            ("token_type_hint", "refresh_token".to_string()),
            ("client_id", id),
        ];
        if let Some(s) = &self.client_secret {
            form.push(("client_secret", s.expose().to_string()));
        }
        let what = "revoking the refresh token";
        let resp = http
            .post(parsed)
            .form(&form)
            .send()
            .await
            .map_err(|e| GrantError::Unreachable(format!("{what}: {}", without_url(&e))))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(true);
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| GrantError::Unreachable(format!("{what}: {}", without_url(&e))))?;
        match serde_json::from_slice::<BasicErrorResponse>(&body) {
            // §2.2.1: 503 means "try again later"; an error code is a refusal.
            Ok(e) if status != oauth2::http::StatusCode::SERVICE_UNAVAILABLE => {
                Err(server_error(what, &e))
            }
            _ => Err(GrantError::Unreachable(format!(
                "{what}: the revocation endpoint answered HTTP {status}"
            ))),
        }
    }

    /// Step one of the device flow: the code and where to enter it.
    pub async fn device_start(
        &self,
        http: &oauth2::reqwest::Client,
    ) -> Result<StandardDeviceAuthorizationResponse, GrantError> {
        self.client()?
            .exchange_device_code()
            .map_err(|e| GrantError::Refused(e.to_string()))?
            .add_scopes(self.scopes())
            .request_async(http)
            .await
            .map_err(|e| classify(e, "device authorization"))
    }

    /// Step two: polls (at the provider's interval, slowing down when told)
    /// until someone signed in, refused, or the code expired.
    pub async fn device_finish(
        &self,
        http: &oauth2::reqwest::Client,
        details: &StandardDeviceAuthorizationResponse,
    ) -> Result<Issued, GrantError> {
        let r = self
            .client()?
            .exchange_device_access_token(details)
            .request_async(http, tokio::time::sleep, None)
            .await;
        match r {
            Ok(t) => Ok(from_response(&t)),
            Err(e) => Err(classify(e, "device sign-in")),
        }
    }

    /// The installed-app flow's browser URL (with PKCE, RFC 7636) and what
    /// the answer must be checked against.
    pub fn authorize_url(&self) -> Result<(String, CsrfToken, PkceCodeVerifier), GrantError> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = self
            .client()?
            .set_redirect_uri(self.redirect_uri()?)
            .authorize_url(CsrfToken::new_random)
            .map_err(|e| GrantError::Refused(e.to_string()))?
            .add_scopes(self.scopes())
            // Google: a refresh token only with offline access, and again
            // on a second sign-in only when consent is asked again.
            .add_extra_param("access_type", "offline")
            .add_extra_param("prompt", "consent")
            .set_pkce_challenge(challenge)
            .url();
        Ok((url.to_string(), state, verifier))
    }

    /// Exchanges the code the browser brought back.
    pub async fn exchange_code(
        &self,
        http: &oauth2::reqwest::Client,
        code: String,
        verifier: PkceCodeVerifier,
    ) -> Result<Issued, GrantError> {
        let r = self
            .client()?
            .set_redirect_uri(self.redirect_uri()?)
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(verifier)
            .request_async(http)
            .await;
        issued(r, "exchanging the sign-in code")
    }

    fn redirect_uri(&self) -> Result<RedirectUrl, GrantError> {
        RedirectUrl::new(format!("http://127.0.0.1:{}/", self.redirect_port))
            .map_err(|e| GrantError::Refused(format!("redirect URL: {e}")))
    }
}

fn from_response(t: &TokenAnswer) -> Issued {
    Issued {
        access: Token::new(t.access_token().secret().clone()),
        expires_in: t.expires_in(),
        refresh: t.refresh_token().map(|r| Token::new(r.secret().clone())),
        refresh_expires_in: t
            .extra_fields()
            .refresh_token_expires_in
            .map(Duration::from_secs),
        scope: t.scopes().map(|s| {
            s.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        }),
    }
}

fn issued<RE: std::error::Error + 'static>(
    r: Result<TokenAnswer, RequestTokenError<RE, BasicErrorResponse>>,
    what: &str,
) -> Result<Issued, GrantError> {
    match r {
        Ok(t) => Ok(from_response(&t)),
        Err(RequestTokenError::ServerResponse(e)) => Err(server_error(what, &e)),
        Err(e) => Err(classify(e, what)),
    }
}

/// A provider's error answer: refused, unless it says it is busy.
fn server_error(what: &str, e: &BasicErrorResponse) -> GrantError {
    let code = match e.error() {
        BasicErrorResponseType::InvalidClient => "invalid_client",
        BasicErrorResponseType::InvalidGrant => "invalid_grant",
        BasicErrorResponseType::InvalidRequest => "invalid_request",
        BasicErrorResponseType::InvalidScope => "invalid_scope",
        BasicErrorResponseType::UnauthorizedClient => "unauthorized_client",
        BasicErrorResponseType::UnsupportedGrantType => "unsupported_grant_type",
        BasicErrorResponseType::Extension(x) => x.as_str(),
    };
    let text = format!(
        "{what}: the provider refused ({code}{})",
        e.error_description()
            .map(|d| format!(": {}", crate_safe(d)))
            .unwrap_or_default()
    );
    // RFC 6749 §5.2 has no "try later" code; providers use these two.
    if matches!(code, "temporarily_unavailable" | "server_error") {
        GrantError::Unreachable(text)
    } else {
        GrantError::Refused(text)
    }
}

fn classify<RE: std::error::Error + 'static, T: oauth2::ErrorResponse + 'static>(
    e: RequestTokenError<RE, T>,
    what: &str,
) -> GrantError {
    match e {
        RequestTokenError::ServerResponse(r) => {
            // Serialised back, the standard fields only (error, description, uri).
            let v = serde_json::to_value(&r).unwrap_or_default();
            let code = v.get("error").and_then(|c| c.as_str()).unwrap_or("error");
            let desc = v
                .get("error_description")
                .and_then(|c| c.as_str())
                .map(|d| format!(": {}", crate_safe(d)))
                .unwrap_or_default();
            GrantError::Refused(format!("{what}: the provider refused ({code}{desc})"))
        }
        RequestTokenError::Request(e) => {
            let mut s = e.to_string();
            let mut src = e.source();
            while let Some(x) = src {
                s = format!("{s}: {x}");
                src = x.source();
            }
            GrantError::Unreachable(format!("{what}: the provider could not be reached ({s})"))
        }
        RequestTokenError::Parse(e, _) => GrantError::Unreachable(format!(
            "{what}: the provider's answer was not understood ({e})"
        )),
        RequestTokenError::Other(s) => GrantError::Unreachable(format!("{what}: {s}")),
    }
}

/// A provider's description, cut and printable (it is shown to admins).
fn crate_safe(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect()
}

/// An error with its causes (reqwest says "error sending request" and
/// keeps the reason in its source).
fn without_url(e: &oauth2::reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(x) = src {
        s = format!("{s}: {x}");
        src = x.source();
    }
    s
}
