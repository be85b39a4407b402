//! `[http]`: where the ops endpoint listens, and what `/healthz` allows.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

/// `[http]`: the ops endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct HttpConfig {
    /// `host:port` to listen on; none: no endpoint.
    pub listen: Option<String>,
    /// Allow a non-loopback `listen` address.
    pub allow_remote: bool,
    /// `/healthz` fails while a queued mail is older than this.
    #[serde(deserialize_with = "crate::units::de_duration")]
    pub outbox_max_age: Duration,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            listen: None,
            allow_remote: false,
            // An hour: the outbox retries a refusing server every few
            // minutes (retry-max), so mail this old means nobody got through.
            outbox_max_age: Duration::from_secs(3600),
        }
    }
}

impl HttpConfig {
    /// The address to listen on, if any; says why when it cannot be used.
    pub fn address(&self) -> Result<Option<SocketAddr>, String> {
        let Some(listen) = &self.listen else {
            return Ok(None);
        };
        let addr: SocketAddr = listen.parse().map_err(|_| {
            format!(
                "http.listen = \"{listen}\": expected an address and port like \"127.0.0.1:9187\""
            )
        })?;
        if !addr.ip().is_loopback() && !self.allow_remote {
            return Err(format!(
                "http.listen = \"{listen}\" is reachable from other machines and the endpoint has no login; \
                 listen on 127.0.0.1, or set allow-remote = true"
            ));
        }
        Ok(Some(addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(listen: &str, allow_remote: bool) -> HttpConfig {
        HttpConfig {
            listen: Some(listen.into()),
            allow_remote,
            ..HttpConfig::default()
        }
    }

    #[test]
    fn loopback_only_unless_allowed() {
        assert_eq!(
            cfg("127.0.0.1:9187", false).address().unwrap(),
            Some("127.0.0.1:9187".parse().unwrap())
        );
        cfg("[::1]:9187", false).address().unwrap();
        let err = cfg("0.0.0.0:9187", false).address().unwrap_err();
        assert!(err.contains("allow-remote = true"), "{err}");
        cfg("0.0.0.0:9187", true).address().unwrap();
        let err = cfg("localhost", false).address().unwrap_err();
        assert!(err.contains("expected an address and port"), "{err}");
        assert_eq!(HttpConfig::default().address().unwrap(), None);
    }
}
