//! A small OAuth 2.0 authorization server for the tests, on the lab's
//! `OAUTH_PORT` (Dovecot asks it to introspect every token, see
//! scripts/mailserver-start). It really issues random tokens with an
//! expiry and checks them: device authorization (RFC 8628), the token
//! endpoint (device code, refresh with optional rotation, client
//! credentials with a secret or with a certificate's client assertion, the
//! JWT bearer assertion of RFC 7523 checked with the client's RSA public
//! key), introspection (RFC 7662) and revocation (RFC 7009).
//!
//! One per lab in the test process, on its own threads (each test has its
//! own tokio runtime, the server outlives them all). Tests keep apart by
//! registering their own client and users.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{MailEnv, random_hex};

/// A registered client.
#[derive(Clone, Default)]
pub struct ClientSpec {
    pub id: String,
    /// Required for client credentials.
    pub secret: Option<String>,
    /// Whose mail client credentials give access to.
    pub app_user: Option<String>,
    /// How long an access token lives.
    pub lifetime: Duration,
    /// A refresh gives a new refresh token and kills the old one.
    pub rotate: bool,
    /// JWT bearer: the RSA public key (PKCS#1 DER) of the service account `id`.
    pub jwt_key: Option<Vec<u8>>,
    /// How long a refresh token lives, told as `refresh_token_expires_in`
    /// (as Google does); `None`: not told.
    pub refresh_lifetime: Option<Duration>,
    /// Client credentials with a client assertion: the client's X.509
    /// certificate (DER), as uploaded to an app registration. The
    /// assertion must name it by thumbprint (`x5t`) and verify with its key.
    pub certificate: Option<Vec<u8>>,
}

struct Device {
    client: String,
    user_code: String,
    expires: u64,
    approved: Option<String>,
}

struct Access {
    user: String,
    client: String,
    expires: u64,
}

struct Refresh {
    user: String,
    client: String,
    live: bool,
}

struct Code {
    client: String,
    user: String,
    redirect_uri: String,
    challenge: String,
}

#[derive(Default)]
struct State {
    /// The token endpoint answers 503 `temporarily_unavailable` to these
    /// clients. Per client, not for the whole server: one server on the
    /// lab's fixed port serves every test running at once, and an outage
    /// for one test's desk must not fail another's sign-in.
    down: std::collections::BTreeSet<String>,
    codes: BTreeMap<String, Code>,
    clients: BTreeMap<String, ClientSpec>,
    devices: BTreeMap<String, Device>,
    access: BTreeMap<String, Access>,
    refresh: BTreeMap<String, Refresh>,
    /// Per client: refresh grants answered with a token.
    refreshed: BTreeMap<String, usize>,
    /// Per client: refresh tokens presented that were already spent or revoked.
    dead_refresh_used: BTreeMap<String, usize>,
    /// Per user: introspections that said active.
    active_checks: BTreeMap<String, usize>,
    /// Per client: refresh tokens revoked at `/revoke`.
    revoked: BTreeMap<String, usize>,
    /// Client assertions' `jti`s seen: each may be used once (RFC 7523 §3).
    jtis: std::collections::BTreeSet<String>,
}

pub struct OAuthServer {
    pub port: u16,
    state: Mutex<State>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The lab's submission and OAuth ports, from its env file.
#[track_caller]
pub fn lab_ports(env: &MailEnv) -> (u16, u16) {
    let text = std::fs::read_to_string(&env.env_file).unwrap_or_default();
    let get = |k: &str| -> u16 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "the lab env file {} has no {k}= line: its servers were started by an older \
                     scripts/mailserver-start; stop them (scripts/mailserver-stop) and start them again",
                    env.env_file.display()
                )
            })
    };
    (get("SUBMISSION_PORT"), get("OAUTH_PORT"))
}

static SERVERS: OnceLock<Mutex<BTreeMap<u16, Arc<OAuthServer>>>> = OnceLock::new();

impl OAuthServer {
    /// The server of this lab, started on first use.
    #[track_caller]
    pub fn for_lab(env: &MailEnv) -> Arc<OAuthServer> {
        let (_, port) = lab_ports(env);
        let mut all = SERVERS
            .get_or_init(|| Mutex::new(BTreeMap::new()))
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(s) = all.get(&port) {
            return s.clone();
        }
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap_or_else(|e| {
            panic!(
                "the tests' OAuth server cannot listen on 127.0.0.1:{port} (OAUTH_PORT of {}): {e}; \
                 is another test process using this lab's OAuth tests?",
                env.env_file.display()
            )
        });
        let server = Arc::new(OAuthServer {
            port,
            state: Mutex::new(State::default()),
        });
        let s = server.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || s.serve(conn));
            }
        });
        all.insert(port, server.clone());
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn register(&self, c: ClientSpec) {
        self.lock().clients.insert(c.id.clone(), c);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The person at the verification page enters `user_code` and signs in as `user`.
    pub fn approve(&self, user_code: &str, user: &str) -> bool {
        let mut st = self.lock();
        match st.devices.values_mut().find(|d| d.user_code == user_code) {
            Some(d) => {
                d.approved = Some(user.to_string());
                true
            }
            None => false,
        }
    }

    /// The browser opens `url` (this server's `/authorize?...`) and `user`
    /// consents: a one-time code is issued, bound to the client, the
    /// redirect URI and the PKCE challenge (S256 only). Returns where the
    /// browser is sent next: the redirect URI with `code` and `state`.
    pub fn authorize(&self, url: &str, user: &str) -> String {
        let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
        let q = parse_form(query.as_bytes());
        assert_eq!(
            q.get("response_type").map(String::as_str),
            Some("code"),
            "{url}"
        );
        assert_eq!(
            q.get("code_challenge_method").map(String::as_str),
            Some("S256"),
            "PKCE: {url}"
        );
        let client = q.get("client_id").cloned().unwrap_or_default();
        assert!(
            self.lock().clients.contains_key(&client),
            "unknown client in {url}"
        );
        let redirect_uri = q.get("redirect_uri").cloned().unwrap_or_default();
        assert!(
            redirect_uri.starts_with("http://127.0.0.1:"),
            "loopback redirect: {url}"
        );
        let code = format!("{}{}", random_hex(), random_hex());
        self.lock().codes.insert(
            code.clone(),
            Code {
                client,
                user: user.to_string(),
                redirect_uri: redirect_uri.clone(),
                challenge: q.get("code_challenge").cloned().unwrap_or_default(),
            },
        );
        let state = q.get("state").cloned().unwrap_or_default();
        format!("{redirect_uri}?code={code}&state={state}")
    }

    /// The token endpoint is down (503) for `client`, or back.
    pub fn set_down(&self, client: &str, down: bool) {
        let mut st = self.lock();
        if down {
            st.down.insert(client.to_string());
        } else {
            st.down.remove(client);
        }
    }

    /// Consent withdrawn: every refresh token of `client` is dead.
    pub fn revoke_refresh(&self, client: &str) {
        for r in self
            .lock()
            .refresh
            .values_mut()
            .filter(|r| r.client == client)
        {
            r.live = false;
        }
    }

    /// Refresh tokens `client` revoked at the revocation endpoint.
    pub fn revocations(&self, client: &str) -> usize {
        self.lock().revoked.get(client).copied().unwrap_or(0)
    }

    pub fn refreshes(&self, client: &str) -> usize {
        self.lock().refreshed.get(client).copied().unwrap_or(0)
    }

    pub fn dead_refresh_used(&self, client: &str) -> usize {
        self.lock()
            .dead_refresh_used
            .get(client)
            .copied()
            .unwrap_or(0)
    }

    pub fn active_checks(&self, user: &str) -> usize {
        self.lock().active_checks.get(user).copied().unwrap_or(0)
    }

    /// Whether a refresh token would still be accepted.
    pub fn refresh_is_live(&self, token: &str) -> bool {
        self.lock().refresh.get(token).is_some_and(|r| r.live)
    }

    /// Every access token issued to `client` (for the log check).
    pub fn access_tokens_of(&self, client: &str) -> Vec<String> {
        self.lock()
            .access
            .iter()
            .filter(|(_, a)| a.client == client)
            .map(|(t, _)| t.clone())
            .collect()
    }

    fn serve(&self, conn: TcpStream) {
        let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
        let mut reader = BufReader::new(conn.try_clone().expect("clone the socket"));
        let mut out = conn;
        // Keep-alive: Dovecot's HTTP client reuses its connection.
        while let Some((method, path, body)) = read_request(&mut reader) {
            let form = parse_form(&body);
            let (status, json) = match (method.as_str(), path.split('?').next().unwrap_or("")) {
                ("POST", "/device") => self.device(&form),
                ("POST", "/token") => self.token(&form),
                ("POST", "/introspect") => self.introspect(&form),
                ("POST", "/revoke") => self.revoke(&form),
                _ => (404, serde_json::json!({"error": "not_found"})),
            };
            let body = json.to_string();
            let reason = match status {
                200 => "OK",
                401 => "Unauthorized",
                503 => "Service Unavailable",
                _ => "Bad Request",
            };
            let reply = format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if out.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
    }

    fn device(&self, form: &BTreeMap<String, String>) -> (u16, serde_json::Value) {
        let client = form.get("client_id").cloned().unwrap_or_default();
        let mut st = self.lock();
        if !st.clients.contains_key(&client) {
            return (400, serde_json::json!({"error": "invalid_client"}));
        }
        let device_code = random_hex();
        let user_code = random_hex()[..8].to_uppercase();
        st.devices.insert(
            device_code.clone(),
            Device {
                client,
                user_code: user_code.clone(),
                expires: now() + 300,
                approved: None,
            },
        );
        (
            200,
            serde_json::json!({
                "device_code": device_code,
                "user_code": user_code,
                "verification_uri": self.url("/verify"),
                "expires_in": 300,
                "interval": 1,
            }),
        )
    }

    fn issue(
        st: &mut State,
        client: &ClientSpec,
        user: &str,
        with_refresh: bool,
    ) -> serde_json::Value {
        let access = format!("{}{}", random_hex(), random_hex());
        st.access.insert(
            access.clone(),
            Access {
                user: user.to_string(),
                client: client.id.clone(),
                expires: now() + client.lifetime.as_secs(),
            },
        );
        let mut out = serde_json::json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": client.lifetime.as_secs(),
        });
        if with_refresh {
            let refresh = format!("{}{}", random_hex(), random_hex());
            st.refresh.insert(
                refresh.clone(),
                Refresh {
                    user: user.to_string(),
                    client: client.id.clone(),
                    live: true,
                },
            );
            out["refresh_token"] = refresh.into();
            if let Some(l) = client.refresh_lifetime {
                out["refresh_token_expires_in"] = l.as_secs().into();
            }
        }
        out
    }

    fn token(&self, form: &BTreeMap<String, String>) -> (u16, serde_json::Value) {
        let err = |code: &str, desc: &str| {
            (
                400,
                serde_json::json!({"error": code, "error_description": desc}),
            )
        };
        let grant = form.get("grant_type").map(String::as_str).unwrap_or("");
        let mut st = self.lock();
        if form.get("client_id").is_some_and(|c| st.down.contains(c)) {
            return (503, serde_json::json!({"error": "temporarily_unavailable"}));
        }
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer" {
            return match self
                .check_assertion(&st, form.get("assertion").map(String::as_str).unwrap_or(""))
            {
                Ok((client, user)) => {
                    let c = st.clients[&client].clone();
                    (200, Self::issue(&mut st, &c, &user, false))
                }
                Err(e) => err("invalid_grant", &e),
            };
        }
        let client_id = form.get("client_id").cloned().unwrap_or_default();
        let Some(client) = st.clients.get(&client_id).cloned() else {
            return err("invalid_client", "unknown client");
        };
        match grant {
            "urn:ietf:params:oauth:grant-type:device_code" => {
                let code = form.get("device_code").cloned().unwrap_or_default();
                let Some(d) = st.devices.get(&code) else {
                    return err("invalid_grant", "unknown device code");
                };
                if d.client != client_id || d.expires < now() {
                    return err("expired_token", "the device code expired");
                }
                match d.approved.clone() {
                    None => err("authorization_pending", "waiting for the user"),
                    Some(user) => {
                        st.devices.remove(&code);
                        (200, Self::issue(&mut st, &client, &user, true))
                    }
                }
            }
            "refresh_token" => {
                let rt = form.get("refresh_token").cloned().unwrap_or_default();
                let user = match st.refresh.get(&rt) {
                    Some(r) if r.live && r.client == client_id => r.user.clone(),
                    Some(_) => {
                        *st.dead_refresh_used.entry(client_id.clone()).or_default() += 1;
                        return err(
                            "invalid_grant",
                            "the refresh token was revoked or already used",
                        );
                    }
                    None => return err("invalid_grant", "unknown refresh token"),
                };
                *st.refreshed.entry(client_id.clone()).or_default() += 1;
                if client.rotate {
                    if let Some(r) = st.refresh.get_mut(&rt) {
                        r.live = false;
                    }
                    (200, Self::issue(&mut st, &client, &user, true))
                } else {
                    (200, Self::issue(&mut st, &client, &user, false))
                }
            }
            "authorization_code" => {
                use base64::Engine;
                let code = form.get("code").cloned().unwrap_or_default();
                let Some(c) = st.codes.remove(&code) else {
                    return err("invalid_grant", "unknown or used code");
                };
                if c.client != client_id || form.get("redirect_uri") != Some(&c.redirect_uri) {
                    return err("invalid_grant", "code issued to another client or redirect");
                }
                let verifier = form.get("code_verifier").cloned().unwrap_or_default();
                let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
                if base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest) != c.challenge {
                    return err("invalid_grant", "PKCE verifier does not match");
                }
                (200, Self::issue(&mut st, &client, &c.user, true))
            }
            "client_credentials" if form.contains_key("client_assertion_type") => {
                if let Err(e) =
                    Self::check_client_assertion(&mut st, &client, form, &self.url("/token"))
                {
                    return err("invalid_client", &e);
                }
                let user = client.app_user.clone().unwrap_or_default();
                (200, Self::issue(&mut st, &client, &user, false))
            }
            "client_credentials" => {
                if client.secret.is_none() || form.get("client_secret") != client.secret.as_ref() {
                    return err("invalid_client", "wrong client secret");
                }
                let user = client.app_user.clone().unwrap_or_default();
                (200, Self::issue(&mut st, &client, &user, false))
            }
            _ => err("unsupported_grant_type", grant),
        }
    }

    /// RS256 signature by the registered key of `iss`, audience this
    /// server's token endpoint, not expired; the user is `sub`.
    fn check_assertion(&self, st: &State, jwt: &str) -> Result<(String, String), String> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let parts: Vec<&str> = jwt.split('.').collect();
        if parts.len() != 3 {
            return Err("not a JWT".into());
        }
        let claims: serde_json::Value =
            serde_json::from_slice(&b64.decode(parts[1]).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
        let header: serde_json::Value =
            serde_json::from_slice(&b64.decode(parts[0]).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
        if header["alg"] != "RS256" {
            return Err("alg must be RS256".into());
        }
        let iss = claims["iss"].as_str().unwrap_or_default().to_string();
        let key = st
            .clients
            .get(&iss)
            .and_then(|c| c.jwt_key.clone())
            .ok_or("unknown issuer")?;
        let sig = b64.decode(parts[2]).map_err(|e| e.to_string())?;
        ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, key)
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .map_err(|_| "bad signature")?;
        if claims["aud"] != self.url("/token").as_str() {
            return Err("wrong audience".into());
        }
        if claims["exp"].as_u64().unwrap_or(0) < now() {
            return Err("assertion expired".into());
        }
        let sub = claims["sub"].as_str().ok_or("no sub")?.to_string();
        Ok((iss, sub))
    }

    /// RFC 7523 §2.2 and §3 as Entra ID applies them: the assertion names
    /// the registered certificate by its SHA-1 thumbprint (`x5t`), is signed
    /// RS256 by that certificate's key, `iss` and `sub` are the client,
    /// `aud` this token endpoint, now within `nbf`..`exp`, `jti` unused.
    fn check_client_assertion(
        st: &mut State,
        client: &ClientSpec,
        form: &BTreeMap<String, String>,
        audience: &str,
    ) -> Result<(), String> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        if form.get("client_assertion_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        {
            return Err("unknown client_assertion_type".into());
        }
        let cert = client
            .certificate
            .as_ref()
            .ok_or("no certificate registered")?;
        let jwt = form.get("client_assertion").ok_or("no client_assertion")?;
        let parts: Vec<&str> = jwt.split('.').collect();
        if parts.len() != 3 {
            return Err("not a JWT".into());
        }
        let json = |p: &str| -> Result<serde_json::Value, String> {
            serde_json::from_slice(&b64.decode(p).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())
        };
        let (header, claims) = (json(parts[0])?, json(parts[1])?);
        if header["alg"] != "RS256" {
            return Err("alg must be RS256".into());
        }
        let thumbprint = b64.encode(ring::digest::digest(
            &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
            cert,
        ));
        if header["x5t"] != thumbprint.as_str() {
            return Err("x5t is not the thumbprint of a registered certificate".into());
        }
        let key = rsa_public_key_of(cert).ok_or("the registered certificate has no RSA key")?;
        let sig = b64.decode(parts[2]).map_err(|e| e.to_string())?;
        ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, key)
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .map_err(|_| "the assertion's signature does not verify with the certificate's key")?;
        if claims["iss"] != client.id.as_str() || claims["sub"] != client.id.as_str() {
            return Err("iss and sub must be the client id".into());
        }
        if claims["aud"] != audience {
            return Err("wrong audience".into());
        }
        let t = now();
        if claims["nbf"].as_u64().is_none_or(|n| n > t + 60) {
            return Err("assertion not yet valid".into());
        }
        if claims["exp"].as_u64().is_none_or(|e| e < t) {
            return Err("assertion expired".into());
        }
        let jti = claims["jti"].as_str().ok_or("no jti")?;
        if !st.jtis.insert(format!("{}/{jti}", client.id)) {
            return Err("assertion replayed (jti already used)".into());
        }
        Ok(())
    }

    /// RFC 7009: the client (authenticated as at the token endpoint)
    /// revokes one of its own refresh tokens; any other token, or one
    /// already dead, is answered 200 too (§2.2), and changes nothing.
    fn revoke(&self, form: &BTreeMap<String, String>) -> (u16, serde_json::Value) {
        let client_id = form.get("client_id").cloned().unwrap_or_default();
        let mut st = self.lock();
        let Some(client) = st.clients.get(&client_id).cloned() else {
            return (401, serde_json::json!({"error": "invalid_client"}));
        };
        if client.secret.is_some() && form.get("client_secret") != client.secret.as_ref() {
            return (401, serde_json::json!({"error": "invalid_client"}));
        }
        let token = form.get("token").cloned().unwrap_or_default();
        if let Some(r) = st.refresh.get_mut(&token)
            && r.client == client_id
            && r.live
        {
            r.live = false;
            *st.revoked.entry(client_id).or_default() += 1;
        }
        (200, serde_json::json!({}))
    }

    fn introspect(&self, form: &BTreeMap<String, String>) -> (u16, serde_json::Value) {
        let token = form.get("token").cloned().unwrap_or_default();
        let mut st = self.lock();
        let hit = st
            .access
            .get(&token)
            .filter(|a| a.expires > now())
            .map(|a| (a.user.clone(), a.client.clone(), a.expires));
        match hit {
            Some((user, client, exp)) => {
                *st.active_checks.entry(user.clone()).or_default() += 1;
                (
                    200,
                    serde_json::json!({"active": true, "username": user, "client_id": client, "exp": exp}),
                )
            }
            None => (200, serde_json::json!({"active": false})),
        }
    }
}

/// The RSA public key (PKCS#1 DER, what ring verifies with) of an X.509
/// certificate: Certificate → tbsCertificate → its 7th field,
/// subjectPublicKeyInfo (after the explicit `[0]` version) → the BIT
/// STRING's content. A DER walk, as small as the test needs.
fn rsa_public_key_of(cert: &[u8]) -> Option<&[u8]> {
    /// One TLV at the start of `d`: (tag, content, rest).
    fn tlv(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, d) = d.split_first()?;
        let (&first, mut d) = d.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n > 4 || d.len() < n {
                return None;
            }
            let l = d[..n]
                .iter()
                .fold(0usize, |a, &b| (a << 8) | usize::from(b));
            d = &d[n..];
            l
        };
        (d.len() >= len).then(|| (tag, &d[..len], &d[len..]))
    }
    let (_, certificate, _) = tlv(cert)?;
    let (_, mut tbs, _) = tlv(certificate)?;
    if tbs.first() == Some(&0xa0) {
        tbs = tlv(tbs)?.2;
    }
    // serialNumber, signature, issuer, validity, subject.
    for _ in 0..5 {
        tbs = tlv(tbs)?.2;
    }
    let (_, spki, _) = tlv(tbs)?;
    let (_, _algorithm, rest) = tlv(spki)?;
    let (tag, bits, _) = tlv(rest)?;
    // A BIT STRING whose first byte counts unused bits (0 for a key).
    (tag == 0x03 && bits.first() == Some(&0)).then(|| &bits[1..])
}

/// One HTTP/1.1 request: method, target, body (by Content-Length).
fn read_request(r: &mut BufReader<TcpStream>) -> Option<(String, String, Vec<u8>)> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut it = line.split_whitespace();
    let method = it.next()?.to_string();
    let path = it.next()?.to_string();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.trim().eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some((method, path, body))
}

/// `application/x-www-form-urlencoded`.
fn parse_form(body: &[u8]) -> BTreeMap<String, String> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A fresh RSA key pair made by openssl (installed with the lab servers):
/// the PKCS#8 PEM private key and the PKCS#1 DER public key.
pub fn rsa_key_pair(dir: &std::path::Path) -> (String, Vec<u8>) {
    let key = dir.join("sa-key.pem");
    let public = dir.join("sa-pub.der");
    let run = |args: &[&str]| openssl(args);
    run(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        key.to_str().unwrap(),
    ]);
    run(&[
        "rsa",
        "-in",
        key.to_str().unwrap(),
        "-RSAPublicKey_out",
        "-outform",
        "DER",
        "-out",
        public.to_str().unwrap(),
    ]);
    (
        std::fs::read_to_string(&key).expect("read the key"),
        std::fs::read(&public).expect("read the public key"),
    )
}

/// Runs openssl with `args`; panics with its error when it fails.
fn openssl<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl (installed by scripts/mailserver-start)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed certificate and its key made by openssl, in one PEM file
/// `name` under `dir` (what postdesk's `client-certificate-file` reads);
/// returns the certificate's DER (what is uploaded to the app registration).
pub fn certificate(dir: &std::path::Path, name: &str) -> Vec<u8> {
    let key = dir.join(format!("{name}.key"));
    let cert = dir.join(format!("{name}.crt"));
    let der = dir.join(format!("{name}.der"));
    let run = |args: &[&std::ffi::OsStr]| openssl(args);
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    run(&[
        os("req"),
        os("-x509"),
        os("-newkey"),
        os("rsa:2048"),
        os("-nodes"),
        os("-subj"),
        os("/CN=postdesk test app"),
        os("-days"),
        os("2"),
        os("-keyout"),
        key.as_os_str(),
        os("-out"),
        cert.as_os_str(),
    ]);
    run(&[
        os("x509"),
        os("-in"),
        cert.as_os_str(),
        os("-outform"),
        os("DER"),
        os("-out"),
        der.as_os_str(),
    ]);
    let pem = [
        std::fs::read(&cert).expect("read the certificate"),
        std::fs::read(&key).expect("read the key"),
    ]
    .concat();
    std::fs::write(dir.join(name), pem).expect("write the PEM");
    std::fs::read(&der).expect("read the DER")
}
