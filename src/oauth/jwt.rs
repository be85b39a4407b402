//! The JWT bearer assertion (RFC 7523) a Google service account signs to
//! act for a user of its Workspace (domain-wide delegation): RS256 with
//! ring, the key read from the service account's JSON key file.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

/// The fields of a service account key file that the assertion needs.
#[derive(Clone, Deserialize)]
pub struct ServiceAccountKey {
    pub client_email: String,
    pub private_key: String,
    #[serde(default)]
    pub private_key_id: Option<String>,
    #[serde(default)]
    pub token_uri: Option<String>,
}

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .finish_non_exhaustive()
    }
}

impl ServiceAccountKey {
    pub fn read(path: &std::path::Path) -> Result<ServiceAccountKey, String> {
        let text = std::fs::read(path)
            .map_err(|e| format!("reading service-account-file {}: {e}", path.display()))?;
        serde_json::from_slice(&text).map_err(|e| {
            format!(
                "service-account-file {}: not a service account key ({e})",
                path.display()
            )
        })
    }
}

/// How long an assertion is good for: Google accepts at most an hour.
const LIFETIME_S: i64 = 3600;

/// A signed assertion: `iss` the service account, `sub` the user it acts
/// for, `aud` the token endpoint, `scope` the scopes, valid from `now`.
pub fn assertion(
    key: &ServiceAccountKey,
    subject: &str,
    audience: &str,
    scopes: &[String],
    now: i64,
) -> Result<String, String> {
    let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
    if let Some(kid) = &key.private_key_id {
        header["kid"] = kid.clone().into();
    }
    let claims = serde_json::json!({
        "iss": key.client_email,
        "sub": subject,
        "aud": audience,
        "scope": scopes.join(" "),
        "iat": now,
        "exp": now + LIFETIME_S,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let der = rustls_pemfile::pkcs8_private_keys(&mut key.private_key.as_bytes())
        .next()
        .ok_or("the service account key holds no PKCS#8 private key")?
        .map_err(|e| format!("the service account's private key: {e}"))?;
    let pair = ring::signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
        .map_err(|e| format!("the service account's private key is not an RSA key: {e}"))?;
    let mut sig = vec![0; pair.public().modulus_len()];
    pair.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut sig,
    )
    .map_err(|_| "signing the assertion failed".to_string())?;
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}
