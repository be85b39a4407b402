//! IMAP over TLS against the lab Dovecot: certificates are verified (a
//! self-signed server is refused unless its CA is given), both implicit TLS
//! and STARTTLS work. Uses `postdesk check`, which logs in and says so.

use crate::support::MailEnv;

fn check(env: &MailEnv, security: &str, port: u16, ca: Option<&str>) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let user = env.unique_user("tls");
    std::fs::write(dir.path().join("pw"), &env.password).unwrap();
    let ca_line = ca.map(|c| format!("ca-file = \"{c}\"")).unwrap_or_default();
    let cfg = dir.path().join("postdesk.toml");
    std::fs::write(
        &cfg,
        format!(
            "[desk]\naddress = \"{user}\"\n[[mailbox]]\nname = \"tls\"\nkind = \"imap\"\nhost = \"localhost\"\nport = {port}\nsecurity = \"{security}\"\nusername = \"{user}\"\npassword-file = \"pw\"\n{ca_line}\n"
        ),
    )
    .unwrap();
    crate::support::postdesk_check(&cfg)
}

#[test]
fn implicit_tls_verifies_the_certificate() {
    let env = MailEnv::load();
    let ca = env.imaps_ca.to_str().unwrap().to_string();
    let (ok, text) = check(&env, "tls", env.imaps_port, Some(&ca));
    assert!(ok && text.contains("ok   mailbox tls: logged in"), "{text}");
    let (ok, text) = check(&env, "tls", env.imaps_port, None);
    assert!(!ok, "a self-signed certificate must be refused: {text}");
    assert!(
        text.contains("FAIL mailbox tls") && text.contains("TLS"),
        "{text}"
    );
}

#[test]
fn starttls_upgrades_the_plain_port() {
    let env = MailEnv::load();
    let ca = env.imaps_ca.to_str().unwrap().to_string();
    let (ok, text) = check(&env, "starttls", env.imap_port, Some(&ca));
    assert!(ok && text.contains("ok   mailbox tls: logged in"), "{text}");
}
