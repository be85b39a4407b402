//! The JWT bearer assertions of RFC 7523, signed RS256 with ring by one
//! [`Signer`]:
//!
//! - a Google service account's authorization grant (§2.1), acting for a
//!   user of its Workspace (domain-wide delegation), the key read from the
//!   service account's JSON key file;
//! - a client's certificate credential (§2.2), Microsoft 365 app-only
//!   access: `client_assertion` with the certificate's SHA-1 thumbprint in
//!   the header (`x5t`), which is how Entra ID finds the certificate
//!   uploaded to the app registration; certificate and key from one PEM file.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

/// An RSA private key that signs assertions (RS256).
pub struct Signer {
    pair: ring::signature::RsaKeyPair,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(***)")
    }
}

impl Signer {
    /// The first private key in `pem` (PKCS#8, or PKCS#1 `RSA PRIVATE
    /// KEY`); `what` names where it came from in errors.
    pub fn from_pem(pem: &[u8], what: &str) -> Result<Signer, String> {
        use rustls_pemfile::Item;
        let mut rd = pem;
        loop {
            match rustls_pemfile::read_one(&mut rd) {
                Ok(Some(Item::Pkcs8Key(k))) => {
                    return ring::signature::RsaKeyPair::from_pkcs8(k.secret_pkcs8_der())
                        .map(|pair| Signer { pair })
                        .map_err(|e| format!("{what}: the private key is not an RSA key: {e}"));
                }
                Ok(Some(Item::Pkcs1Key(k))) => {
                    return ring::signature::RsaKeyPair::from_der(k.secret_pkcs1_der())
                        .map(|pair| Signer { pair })
                        .map_err(|e| format!("{what}: the private key is not an RSA key: {e}"));
                }
                Ok(Some(_)) => continue,
                Ok(None) => {
                    return Err(format!(
                        "{what}: no unencrypted RSA private key (PKCS#8 or PKCS#1 PEM) in it"
                    ));
                }
                Err(e) => return Err(format!("{what}: not PEM ({e:?})")),
            }
        }
    }

    /// `header.claims.signature`, each part base64url without padding.
    pub fn sign(
        &self,
        header: &serde_json::Value,
        claims: &serde_json::Value,
    ) -> Result<String, String> {
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                signing_input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| "signing the assertion failed".to_string())?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

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

/// A client assertion lives minutes: it is made for one request, and a
/// stolen one is then soon worthless (Entra ID accepts up to 10 minutes).
const CLIENT_ASSERTION_LIFETIME_S: i64 = 300;

/// A service account's signed assertion: `iss` the service account, `sub`
/// the user it acts for, `aud` the token endpoint, `scope` the scopes,
/// valid from `now`.
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
    Signer::from_pem(key.private_key.as_bytes(), "the service account key")?.sign(&header, &claims)
}

/// A client's certificate and the key that signs with it.
pub struct ClientCertificate {
    /// The base64url SHA-1 thumbprint of the certificate's DER (`x5t`).
    pub thumbprint: String,
    signer: Signer,
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("thumbprint", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

impl ClientCertificate {
    /// The first certificate and the private key in one PEM file (what
    /// `openssl req -x509 -newkey rsa:2048 -nodes` writes, concatenated);
    /// `what` names the file in errors.
    pub fn from_pem(pem: &[u8], what: &str) -> Result<ClientCertificate, String> {
        let cert = rustls_pemfile::certs(&mut &pem[..])
            .next()
            .ok_or_else(|| format!("{what}: no certificate (BEGIN CERTIFICATE) in it"))?
            .map_err(|e| format!("{what}: not PEM ({e})"))?;
        let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &cert);
        Ok(ClientCertificate {
            thumbprint: URL_SAFE_NO_PAD.encode(digest),
            signer: Signer::from_pem(pem, what)?,
        })
    }

    /// The `client_assertion` for `client_id` at the token endpoint
    /// `audience` (RFC 7523 §2.2, and what Entra ID asks for: `iss` = `sub`
    /// = the client id, a fresh `jti`, `nbf` and `exp`).
    pub fn assertion(&self, client_id: &str, audience: &str, now: i64) -> Result<String, String> {
        let mut jti = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut jti)
            .map_err(|_| "no randomness for the assertion's jti".to_string())?;
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": self.thumbprint});
        let claims = serde_json::json!({
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "jti": URL_SAFE_NO_PAD.encode(jti),
            "nbf": now,
            "iat": now,
            "exp": now + CLIENT_ASSERTION_LIFETIME_S,
        });
        self.signer.sign(&header, &claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A throwaway self-signed certificate and key (openssl is installed
    /// with the lab servers; made per run, so no key lives in the repo).
    fn openssl_cert(dir: &std::path::Path) -> Option<(Vec<u8>, Vec<u8>)> {
        let key = dir.join("k.pem");
        let cert = dir.join("c.pem");
        let ok = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=t", "-days", "1",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .ok()?
            .status
            .success();
        assert!(ok, "openssl req failed");
        Some((std::fs::read(cert).ok()?, std::fs::read(key).ok()?))
    }

    #[test]
    fn a_client_assertion_names_the_certificate_and_verifies_with_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = openssl_cert(dir.path()).expect("openssl");
        let pem = [cert.clone(), key].concat();
        let c = ClientCertificate::from_pem(&pem, "test.pem").unwrap();
        let der = rustls_pemfile::certs(&mut &cert[..])
            .next()
            .unwrap()
            .unwrap();
        let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
        assert_eq!(c.thumbprint, URL_SAFE_NO_PAD.encode(sha1));
        assert_eq!(c.thumbprint.len(), 27, "20 bytes, base64url unpadded");
        let jwt = c
            .assertion("app-1", "https://idp.test/token", 1000)
            .unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(header["x5t"], c.thumbprint.as_str());
        assert_eq!(header["alg"], "RS256");
        assert_eq!(claims["iss"], "app-1");
        assert_eq!(claims["sub"], "app-1");
        assert_eq!(claims["aud"], "https://idp.test/token");
        assert_eq!(claims["nbf"], 1000);
        assert_eq!(claims["exp"], 1300);
        let again = c
            .assertion("app-1", "https://idp.test/token", 1000)
            .unwrap();
        let claims2: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(again.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_ne!(claims["jti"], claims2["jti"], "a fresh jti each time");
        let public = c.signer.pair.public().as_ref().to_vec();
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            &public,
        )
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
        .expect("the signature verifies with the key's public half");
    }

    #[test]
    fn a_pem_without_certificate_or_key_is_named() {
        let e = ClientCertificate::from_pem(b"nothing", "app.pem").unwrap_err();
        assert!(e.contains("app.pem: no certificate"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = openssl_cert(dir.path()).expect("openssl");
        let e = ClientCertificate::from_pem(&cert, "app.pem").unwrap_err();
        assert!(e.contains("app.pem: no unencrypted RSA private key"), "{e}");
    }
}
