//! TLS client settings shared by IMAP and SMTP: rustls with the platform's
//! trust store, plus an optional extra CA file for private servers.

use std::path::Path;
use std::sync::Arc;

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
    let err = |message: String| TlsError::CaFile {
        path: path.display().to_string(),
        message,
    };
    let data = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut data.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// A client config that verifies servers against the platform roots and `ca_file`.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    init();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let extra = match ca_file {
        Some(p) => load_certs(p)?,
        None => Vec::new(),
    };
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
