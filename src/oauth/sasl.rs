//! The client's messages of the two token mechanisms, before base64 (IMAP
//! `AUTHENTICATE` and SMTP `AUTH` each encode them).
//!
//! - XOAUTH2 (Google, Microsoft): `user=U ^A auth=Bearer T ^A ^A`.
//! - OAUTHBEARER (RFC 7628 §3.1): a GS2 header `n,a=U,` then `host=`,
//!   `port=` and `auth=Bearer T` key-values, each ended by ^A, and a final ^A.
//!
//! When the server refuses the token, both mechanisms answer with a
//! challenge carrying a JSON error (`{"status":"invalid_token",...}`); the
//! client must then send [`ABORT`] (RFC 7628 §3.2.3: a single ^A; Google's
//! XOAUTH2 takes an empty response, which servers accept for both) and the
//! server ends the exchange with a failure.

use super::Mechanism;

/// The client's first (and only) message.
pub fn initial_response(
    mechanism: Mechanism,
    user: &str,
    host: &str,
    port: u16,
    token: &str,
) -> String {
    match mechanism {
        Mechanism::Xoauth2 => format!("user={user}\x01auth=Bearer {token}\x01\x01"),
        Mechanism::Oauthbearer => format!(
            "n,a={},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01",
            gs2_name(user)
        ),
    }
}

/// What the client answers to an error challenge: nothing (an empty line).
pub const ABORT: &str = "";

/// RFC 5801 §4: `,` and `=` in the authorization identity are written `=2C` and `=3D`.
fn gs2_name(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

/// The `status` of a server's error challenge (already base64-decoded), for
/// the log; never the whole challenge.
pub fn error_status(challenge: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(challenge).ok()?;
    v.get("status")?.as_str().map(|s| {
        s.chars()
            .filter(|c| c.is_ascii_graphic())
            .take(40)
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoauth2_message() {
        assert_eq!(
            initial_response(Mechanism::Xoauth2, "desk@example.test", "h", 1, "tok"),
            "user=desk@example.test\x01auth=Bearer tok\x01\x01"
        );
    }

    #[test]
    fn oauthbearer_message_follows_rfc7628() {
        assert_eq!(
            initial_response(
                Mechanism::Oauthbearer,
                "a,b=c@example.test",
                "imap.example.test",
                993,
                "tok"
            ),
            "n,a=a=2Cb=3Dc@example.test,\x01host=imap.example.test\x01port=993\x01auth=Bearer tok\x01\x01"
        );
    }

    #[test]
    fn error_status_is_read_from_the_challenge() {
        let c = br#"{"status":"invalid_token","schemes":"bearer","scope":"mail"}"#;
        assert_eq!(error_status(c).as_deref(), Some("invalid_token"));
        assert_eq!(error_status(b"not json"), None);
    }
}
