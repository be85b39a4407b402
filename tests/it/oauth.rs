//! OAuth2 sign-in against real servers: the lab Dovecot checks every token
//! by introspection at the tests' own authorization server
//! (support/oauth_server.rs), and the lab Postfix's submission port asks
//! Dovecot. Nothing here is canned: tokens are issued, expire, rotate and
//! are refused by the server.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::oauth_server::{ClientSpec, OAuthServer, certificate, lab_ports, rsa_key_pair};
use crate::support::{
    Daemon, Imap, MailEnv, TestDesk, WAIT, base64, build_mail, postdesk_check_with, random_hex,
    smtp_send, wait_until,
};

fn oauth_table(server: &OAuthServer, client: &str, flow: &str) -> toml::Value {
    let mut t = toml::Table::new();
    t.insert("provider".into(), "generic".into());
    t.insert("flow".into(), flow.into());
    t.insert("client-id".into(), client.into());
    t.insert("token-url".into(), server.url("/token").into());
    t.insert("device-url".into(), server.url("/device").into());
    t.insert("scopes".into(), toml::Value::Array(vec!["mail".into()]));
    t.insert("token-file".into(), "tokens/support.json".into());
    toml::Value::Table(t)
}

fn client(id: &str, lifetime_s: u64) -> ClientSpec {
    ClientSpec {
        id: id.to_string(),
        lifetime: Duration::from_secs(lifetime_s),
        rotate: true,
        ..ClientSpec::default()
    }
}

/// `postdesk --config C ARGS`, its stdout and stderr, at trace level.
fn postdesk(config: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_postdesk"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("POSTDESK_LOG", "trace")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run postdesk");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `postdesk auth login NAME`: reads the code it prints, approves it at the
/// server as `user` (the person at the verification page), waits for the
/// command to store the tokens. Returns its output.
fn device_login(desk: &TestDesk, server: &OAuthServer, name: &str, user: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_postdesk"))
        .arg("--config")
        .arg(&desk.config)
        .args(["auth", "login", name])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run postdesk auth login");
    let mut out = String::new();
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut approved = false;
    for line in lines.by_ref() {
        let line = line.expect("read auth login's output");
        out.push_str(&line);
        out.push('\n');
        if !approved && let Some(code) = line.split("enter the code ").nth(1) {
            assert!(line.contains(&server.url("/verify")), "{line}");
            assert!(server.approve(code.trim(), user), "code {code} unknown");
            approved = true;
        }
    }
    let status = child.wait().expect("wait for auth login");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err).ok();
    assert!(
        status.success() && approved,
        "auth login failed:\n{out}{err}"
    );
    out
}

fn token_file(desk: &TestDesk) -> serde_json::Value {
    let text = std::fs::read(desk.dir.path().join("tokens/support.json")).expect("the token file");
    serde_json::from_slice(&text).expect("token file JSON")
}

fn count_tickets(desk: &TestDesk) -> i64 {
    desk.store().inbound_count().unwrap_or(0)
}

/// `postdesk run` with `vars` set, in IMAP (the log says so), then a
/// request from a new requester (`tag`) whose acknowledgement must reach
/// their mailbox. Returns the running daemon.
fn run_and_acknowledge(
    desk: &TestDesk,
    env: &MailEnv,
    vars: &[(&str, &str)],
    tag: &str,
    subject: &str,
) -> Daemon {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_postdesk"));
    cmd.arg("run").arg("--config").arg(&desk.config);
    cmd.envs(vars.iter().copied());
    let mut daemon = Daemon::spawn(cmd, desk.dir.path().join("postdesk.log"));
    daemon.wait_for_log("IMAP connected", WAIT);
    let requester = env.unique_user(tag);
    mail_to(desk, env, &requester, subject);
    desk.wait_inbound(1, &daemon);
    let mut imap = Imap::login(env, &requester);
    let arrived = wait_until(WAIT, || {
        imap.select("INBOX");
        !imap.uid_search_all().is_empty()
    });
    assert!(
        arrived,
        "no acknowledgement reached {requester}; log:\n{}",
        daemon.log()
    );
    daemon
}

fn mail_to(desk: &TestDesk, env: &MailEnv, from: &str, subject: &str) {
    smtp_send(
        env,
        from,
        &[&desk.address],
        &build_mail(from, &desk.address, subject, "The printer is out of toner."),
    )
    .expect("SMTP to the desk");
}

/// Log in with the device code, run the daemon with XOAUTH2 on IMAP and
/// OAUTHBEARER on submission (one shared token file), answer a request,
/// and find no token in the daemon's trace log, `check` or `auth status`.
#[test]
fn device_code_login_then_xoauth2_imap_and_oauthbearer_submission() {
    let env = MailEnv::load();
    let server = OAuthServer::for_lab(&env);
    let (submission, _) = lab_ports(&env);
    let id = format!("pd-run-{}", random_hex());
    server.register(client(&id, 3600));
    let table = oauth_table(&server, &id, "device-code");
    let desk = TestDesk::builder("oauth-run")
        .unset("mailbox.password-file")
        .set("mailbox.auth", "oauth2")
        .set("mailbox.mechanism", "xoauth2")
        .set("mailbox.oauth", table.clone())
        .set("outbox.port", i64::from(submission))
        .set("outbox.username", "PLACEHOLDER")
        .set("outbox.auth", "oauth2")
        .set("outbox.mechanism", "oauthbearer")
        .set("outbox.oauth", table)
        .build();
    let mut desk = desk;
    let address = desk.address.clone();
    desk.set("outbox.username", address.as_str());

    let (ok, status) = postdesk(&desk.config, &["auth", "status"]);
    assert!(
        ok && status.contains("support: oauth2 device-code (XOAUTH2)")
            && status.contains("not signed in"),
        "{status}"
    );
    let out = device_login(&desk, &server, "support", &address);
    assert!(out.contains("signed in"), "{out}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(desk.dir.path().join("tokens/support.json"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the token file is private");

    // The acknowledgement leaves through submission, signed in with OAUTHBEARER.
    let mut daemon = run_and_acknowledge(
        &desk,
        &env,
        &[("POSTDESK_LOG", "trace"), ("NO_COLOR", "1")],
        "oauth-req",
        "Printer on floor 3",
    );
    let dovecot = env.dovecot_log_about(&address, 200);
    assert!(
        dovecot.contains("method=XOAUTH2"),
        "IMAP signed in with XOAUTH2:\n{dovecot}"
    );
    let postfix = env.postfix_log_about(&format!("sasl_username={address}"), 50);
    assert!(
        postfix.contains("sasl_method=OAUTHBEARER"),
        "submission signed in with OAUTHBEARER:\n{postfix}"
    );

    let (ok, check) = postdesk(&desk.config, &["check"]);
    assert!(ok, "check:\n{check}");
    assert!(
        check.contains("mailbox support auth: oauth2 device-code (XOAUTH2): a refresh works"),
        "{check}"
    );
    assert!(
        check.contains("outbox: oauth2 device-code (OAUTHBEARER): a refresh works"),
        "{check}"
    );
    let (_, status) = postdesk(&desk.config, &["auth", "status"]);
    assert!(
        status.contains("access token valid until") && status.contains("refresh token stored"),
        "{status}"
    );
    daemon.stop();

    // No token in any output, raw or as the SASL message base64 carries it.
    let tokens = token_file(&desk);
    let mut secrets: Vec<String> = server.access_tokens_of(&id);
    secrets.push(tokens["refresh_token"].as_str().unwrap().to_string());
    let log = daemon.log();
    assert!(
        log.contains("AUTH") || log.contains("IMAP connected"),
        "the log is the trace log"
    );
    for t in &secrets {
        let xoauth2 = base64(format!("user={address}\x01auth=Bearer {t}\x01\x01").as_bytes());
        let bearer = base64(
            format!(
                "n,a={address},\x01host=127.0.0.1\x01port={submission}\x01auth=Bearer {t}\x01\x01"
            )
            .as_bytes(),
        );
        for (what, text) in [
            ("daemon log", &log),
            ("check", &check),
            ("auth status", &status),
            ("auth login", &out),
        ] {
            assert!(
                !text.contains(t.as_str()),
                "a token is in the {what}:\n{text}"
            );
            assert!(
                !text.contains(&xoauth2) && !text.contains(&bearer),
                "a SASL message is in the {what}"
            );
        }
    }
    let (ok, bye) = postdesk(&desk.config, &["auth", "logout", "support"]);
    assert!(ok && bye.contains("tokens deleted"), "{bye}");
    assert!(!desk.dir.path().join("tokens/support.json").exists());
}

/// Four-second tokens, OAUTHBEARER on IMAP, IDLE re-checked only every
/// five minutes: the daemon leaves IDLE before the token expires, renews it
/// (rotating the refresh token), signs in again, and every mail sent
/// before, during and after the renewals becomes exactly one ticket.
#[test]
fn token_expiry_during_idle_renews_rotates_and_loses_no_mail() {
    let env = MailEnv::load();
    let server = OAuthServer::for_lab(&env);
    let id = format!("pd-idle-{}", random_hex());
    server.register(client(&id, 4));
    let [metrics_port] = crate::support::free_ports::<1>();
    let desk = TestDesk::builder("oauth-idle")
        .unset("mailbox.password-file")
        .set("mailbox.auth", "oauth2")
        .set("mailbox.mechanism", "oauthbearer")
        .set("mailbox.idle-recheck", "5m")
        .set("mailbox.oauth", oauth_table(&server, &id, "device-code"))
        .set("http.listen", format!("127.0.0.1:{metrics_port}"))
        .build();
    let address = desk.address.clone();
    device_login(&desk, &server, "support", &address);
    let first_refresh = token_file(&desk)["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let daemon = desk.start();
    let requester = env.unique_user("oauth-idle-req");
    for i in 1..=3 {
        mail_to(&desk, &env, &requester, &format!("Request {i}"));
        // Across at least one expiry between mails.
        std::thread::sleep(Duration::from_millis(2500));
    }
    let all = wait_until(WAIT, || count_tickets(&desk) >= 3);
    assert!(
        all,
        "3 mails, {} recorded; log:\n{}",
        count_tickets(&desk),
        daemon.log()
    );
    assert!(
        wait_until(WAIT, || server.refreshes(&id) >= 2),
        "the token was renewed {} times in ~8 s of 4-second tokens; log:\n{}",
        server.refreshes(&id),
        daemon.log()
    );
    let log = daemon.log();
    assert!(log.contains("signing in again with a renewed one"), "{log}");
    let logins = env
        .dovecot_log_about(&address, 500)
        .matches("method=OAUTHBEARER")
        .count();
    assert!(logins >= 2, "Dovecot saw {logins} OAUTHBEARER logins");
    // Rotation: the first refresh token is dead, the stored one is live, and
    // no spent one was ever presented.
    assert!(!server.refresh_is_live(&first_refresh), "rotated away");
    let now_refresh = token_file(&desk)["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(now_refresh, first_refresh);
    assert!(
        server.refresh_is_live(&now_refresh),
        "the stored refresh token works"
    );
    assert_eq!(
        server.dead_refresh_used(&id),
        0,
        "a spent refresh token was reused"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(count_tickets(&desk), 3, "each mail exactly once");
    // /metrics shows the access token's time left: within its 4 s life.
    let left = token_seconds_left(metrics_port);
    assert!(
        left.is_some_and(|s| s > -5.0 && s <= 4.0),
        "postdesk_oauth_token_expiry_seconds: {left:?}"
    );
}

/// `postdesk_oauth_token_expiry_seconds{mailbox="support"}` from the
/// daemon's /metrics.
fn token_seconds_left(port: u16) -> Option<f64> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.lines().find_map(|l| {
        let v = l.strip_prefix("postdesk_oauth_token_expiry_seconds{mailbox=\"support\"} ")?;
        v.trim().parse().ok()
    })
}

/// Consent withdrawn: that mailbox is failing, with a plain reason in the
/// log, `check` and `auth status`; the desk's other mailbox goes on.
#[test]
fn a_refused_refresh_fails_that_mailbox_and_the_other_goes_on() {
    let env = MailEnv::load();
    let server = OAuthServer::for_lab(&env);
    let id = format!("pd-refused-{}", random_hex());
    server.register(client(&id, 3));
    let second = env.unique_user("oauth-second");
    let desk = TestDesk::builder("oauth-refused")
        .unset("mailbox.password-file")
        .set("mailbox.auth", "oauth2")
        .set("mailbox.oauth", oauth_table(&server, &id, "device-code"))
        .section(&format!(
            "[[mailbox]]\nname = \"second\"\nkind = \"imap\"\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"plain\"\nusername = \"{second}\"\npassword-file = \"imap-password\"\n",
            env.imap_port
        ))
        .build();
    let address = desk.address.clone();
    device_login(&desk, &server, "support", &address);
    let mut daemon = desk.start();
    daemon.wait_for_log("IMAP connected", WAIT);
    server.revoke_refresh(&id);
    daemon.wait_for_log("mailbox failing", Duration::from_secs(20));
    let log = daemon.log();
    let line = log.lines().find(|l| l.contains("mailbox failing")).unwrap();
    assert!(
        line.contains("support")
            && line.contains("invalid_grant")
            && line.contains("postdesk auth login support"),
        "{line}"
    );

    let requester = env.unique_user("oauth-refused-req");
    smtp_send(
        &env,
        &requester,
        &[&second],
        &build_mail(&requester, &second, "To the second mailbox", "Hello."),
    )
    .expect("SMTP to the second mailbox");
    assert!(
        wait_until(WAIT, || count_tickets(&desk) >= 1),
        "the other mailbox stopped too; log:\n{}",
        daemon.log()
    );
    let (ok, check) = postdesk(&desk.config, &["check"]);
    assert!(!ok, "check fails while a mailbox cannot sign in:\n{check}");
    assert!(
        check
            .lines()
            .any(|l| l.starts_with("FAIL mailbox support") && l.contains("invalid_grant")),
        "{check}"
    );
    assert!(check.contains("ok   mailbox second: logged in"), "{check}");
    let (_, status) = postdesk(&desk.config, &["auth", "status"]);
    assert!(
        status.contains("FAILING since") && status.contains("invalid_grant"),
        "{status}"
    );
    assert!(
        token_file(&desk)["failing"]["reason"]
            .as_str()
            .unwrap()
            .contains("auth login support")
    );
    daemon.stop();
}

/// Client credentials (Microsoft 365 app-only) and a service account's
/// signed assertion (Google): no person signs in, `check` gets a token from
/// the server and logs in to IMAP with it.
#[test]
fn app_only_flows_sign_in_without_a_person() {
    let env = MailEnv::load();
    let server = OAuthServer::for_lab(&env);

    let id = format!("pd-app-{}", random_hex());
    let desk = TestDesk::builder("oauth-app").build();
    server.register(ClientSpec {
        secret: Some("s3cret-app".into()),
        app_user: Some(desk.address.clone()),
        ..client(&id, 600)
    });
    let mut table = oauth_table(&server, &id, "client-credentials");
    table
        .as_table_mut()
        .unwrap()
        .insert("client-secret-file".into(), "app-secret".into());
    std::fs::write(desk.dir.path().join("app-secret"), "s3cret-app\n").unwrap();
    let mut desk = desk;
    desk.set("mailbox.auth", "oauth2");
    desk.set("mailbox.oauth", table.clone());
    let (ok, check) = postdesk(&desk.config, &["check"]);
    assert!(ok, "{check}");
    assert!(
        check
            .contains("mailbox support auth: oauth2 client-credentials (XOAUTH2): a refresh works"),
        "{check}"
    );
    assert!(
        check.contains(&format!(
            "logged in to 127.0.0.1:{} as {}",
            env.imap_port, desk.address
        )),
        "{check}"
    );
    assert!(!check.contains("s3cret-app"));
    // A wrong secret is refused, and said so.
    std::fs::write(desk.dir.path().join("app-secret"), "wrong\n").unwrap();
    let (ok, check) = postdesk(&desk.config, &["check"]);
    assert!(!ok && check.contains("invalid_client"), "{check}");

    let sa = format!("robot-{}@pd.iam.example.test", random_hex());
    let (pem, public) = rsa_key_pair(desk.dir.path());
    server.register(ClientSpec {
        id: sa.clone(),
        jwt_key: Some(public),
        lifetime: Duration::from_secs(600),
        ..ClientSpec::default()
    });
    let key = serde_json::json!({
        "type": "service_account",
        "client_email": sa,
        "private_key": pem,
        "private_key_id": "k1",
        "token_uri": server.url("/token"),
    });
    std::fs::write(desk.dir.path().join("sa.json"), key.to_string()).unwrap();
    let mut t = toml::Table::new();
    t.insert("provider".into(), "generic".into());
    t.insert("flow".into(), "service-account".into());
    t.insert("service-account-file".into(), "sa.json".into());
    t.insert("token-url".into(), server.url("/token").into());
    t.insert("scopes".into(), toml::Value::Array(vec!["mail".into()]));
    t.insert("token-file".into(), "tokens/sa.json".into());
    desk.set("mailbox.oauth", toml::Value::Table(t));
    let (ok, login) = postdesk(&desk.config, &["auth", "login", "support"]);
    assert!(
        ok && login.contains("needs no sign-in by a person"),
        "{login}"
    );
    let (ok, check) = postdesk(&desk.config, &["check"]);
    assert!(ok, "{check}");
    assert!(
        check.contains("mailbox support auth: oauth2 service-account (XOAUTH2): a refresh works"),
        "{check}"
    );
    assert!(check.contains(&format!("as {}", desk.address)), "{check}");
}

/// Microsoft 365 app-only access with a certificate: client credentials
/// with a client assertion (RFC 7523 §2.2) that the certificate's key signs
/// and whose `x5t` names the certificate. The server checks the signature
/// against the registered certificate's key; the token logs in to the real
/// Dovecot. The right certificate with another key, another certificate,
/// and the PEM as a systemd credential are tried too.
#[test]
fn client_credentials_with_a_certificate_log_in_to_dovecot() {
    let env = MailEnv::load();
    let server = OAuthServer::for_lab(&env);
    let id = format!("pd-cert-{}", random_hex());
    let desk = TestDesk::builder("oauth-cert").build();
    let dir = desk.dir.path().to_path_buf();
    let der = certificate(&dir, "app.pem");
    server.register(ClientSpec {
        certificate: Some(der),
        app_user: Some(desk.address.clone()),
        ..client(&id, 600)
    });
    let mut table = oauth_table(&server, &id, "client-credentials");
    table
        .as_table_mut()
        .unwrap()
        .insert("client-certificate-file".into(), "app.pem".into());
    let mut desk = desk;
    desk.set("mailbox.auth", "oauth2");
    desk.set("mailbox.oauth", table.clone());
    let (ok, login) = postdesk(&desk.config, &["auth", "login", "support"]);
    assert!(
        ok && login.contains("needs no sign-in by a person"),
        "{login}"
    );
    let (ok, check) = postdesk(&desk.config, &["check"]);
    assert!(ok, "{check}");
    assert!(
        check
            .contains("mailbox support auth: oauth2 client-credentials (XOAUTH2): a refresh works"),
        "{check}"
    );
    assert!(
        check.contains(&format!(
            "logged in to 127.0.0.1:{} as {}",
            env.imap_port, desk.address
        )),
        "{check}"
    );
    let pem = std::fs::read_to_string(dir.join("app.pem")).unwrap();
    let key_line = pem
        .lines()
        .find(|l| l.len() > 40 && !l.contains("BEGIN"))
        .unwrap();
    assert!(!check.contains(key_line), "no key material in check");

    // The registered certificate, another key: the signature fails.
    certificate(&dir, "other.pem");
    let other = std::fs::read_to_string(dir.join("other.pem")).unwrap();
    let cert_part = &pem[..pem.find("-----END CERTIFICATE-----").unwrap() + 25];
    let key_part = &other[other.find("-----BEGIN PRIVATE KEY-----").unwrap()..];
    std::fs::write(dir.join("app.pem"), format!("{cert_part}\n{key_part}")).unwrap();
    let (ok, check) = postdesk(&desk.config, &["check"]);
    assert!(
        !ok && check.contains("invalid_client")
            && check.contains("does not verify with the certificate's key"),
        "{check}"
    );
    // A certificate that was never registered: its thumbprint is unknown.
    std::fs::copy(dir.join("other.pem"), dir.join("app.pem")).unwrap();
    let (ok, check) = postdesk(&desk.config, &["check"]);
    assert!(
        !ok && check.contains("x5t is not the thumbprint"),
        "{check}"
    );

    // The right PEM as a systemd credential.
    let creds = dir.join("credentials");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::write(creds.join("app-cert"), &pem).unwrap();
    let t = table.as_table_mut().unwrap();
    t.remove("client-certificate-file");
    t.insert("client-certificate-credential".into(), "app-cert".into());
    t.insert("token-file".into(), "tokens/cred.json".into());
    desk.set("mailbox.oauth", table);
    let (ok, text) = postdesk_check_with(
        &desk.config,
        &[
            ("CREDENTIALS_DIRECTORY", creds.as_os_str()),
            ("NO_COLOR", "1".as_ref()),
        ],
    );
    assert!(ok, "{text}");
    assert!(text.contains(&format!("as {}", desk.address)), "{text}");
}

/// `auth logout` revokes the refresh token at the provider's revocation
/// endpoint (RFC 7009) and deletes the tokens: the revoked refresh token,
/// put back in the file, no longer refreshes. Without a revocation endpoint
/// (Microsoft's case) logout says so and deletes; `--local` does not ask.
#[test]
fn logout_revokes_the_refresh_token_then_deletes_the_tokens() {
    let env = MailEnv::load();
    let server = OAuthServer::for_lab(&env);
    let id = format!("pd-revoke-{}", random_hex());
    server.register(client(&id, 600));
    let mut table = oauth_table(&server, &id, "device-code");
    table
        .as_table_mut()
        .unwrap()
        .insert("revoke-url".into(), server.url("/revoke").into());
    let desk = TestDesk::builder("oauth-revoke")
        .unset("mailbox.password-file")
        .set("mailbox.auth", "oauth2")
        .set("mailbox.oauth", table.clone())
        .build();
    let address = desk.address.clone();
    device_login(&desk, &server, "support", &address);
    let path = desk.dir.path().join("tokens/support.json");
    let saved = std::fs::read(&path).unwrap();
    let refresh = token_file(&desk)["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(server.refresh_is_live(&refresh));

    let (ok, out) = postdesk(&desk.config, &["auth", "logout", "support"]);
    assert!(ok, "{out}");
    assert!(
        out.contains(
            "mailbox support: the refresh token was revoked at the provider; tokens deleted"
        ),
        "{out}"
    );
    assert!(!out.contains(&refresh), "{out}");
    assert!(!path.exists(), "the token file is deleted");
    assert_eq!(server.revocations(&id), 1);
    assert!(!server.refresh_is_live(&refresh));
    // The revoked token no longer refreshes: check, given it back, fails.
    std::fs::write(&path, &saved).unwrap();
    let (ok, check) = postdesk(&desk.config, &["check"]);
    assert!(
        !ok && check.contains("invalid_grant") && check.contains("revoked"),
        "{check}"
    );
    let (ok, out) = postdesk(&desk.config, &["auth", "logout", "support"]);
    assert!(ok && !path.exists(), "{out}");

    // No revocation endpoint: said, and the tokens go all the same.
    let mut desk = desk;
    table.as_table_mut().unwrap().remove("revoke-url");
    desk.set("mailbox.oauth", table);
    device_login(&desk, &server, "support", &address);
    let refresh = token_file(&desk)["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (ok, out) = postdesk(&desk.config, &["auth", "logout", "support"]);
    assert!(
        ok && out
            .contains("not revoked: the provider has no revocation endpoint (Microsoft has none"),
        "{out}"
    );
    assert!(!path.exists());
    assert!(server.refresh_is_live(&refresh), "nobody told the provider");
    let (ok, out) = postdesk(&desk.config, &["auth", "logout", "support"]);
    assert!(ok && out.contains("was not signed in"), "{out}");
}

/// `auth logout` while the daemon runs, at a provider without revocation
/// (Microsoft's case, where only deleting the file ends postdesk's part):
/// the daemon's next renewal finds the file gone and stops at "nobody has
/// signed in", rather than renewing from the refresh token it cached and
/// writing the file back, which would undo the logout.
#[test]
fn logout_while_the_daemon_runs_is_not_undone_by_its_next_renewal() {
    let env = MailEnv::load();
    let server = OAuthServer::for_lab(&env);
    let id = format!("pd-out-{}", random_hex());
    server.register(client(&id, 4));
    let desk = TestDesk::builder("oauth-out")
        .unset("mailbox.password-file")
        .set("mailbox.auth", "oauth2")
        .set("mailbox.oauth", oauth_table(&server, &id, "device-code"))
        .build();
    let address = desk.address.clone();
    device_login(&desk, &server, "support", &address);
    let mut daemon = desk.start();
    daemon.wait_for_log("IMAP connected", WAIT);
    let (ok, out) = postdesk(&desk.config, &["auth", "logout", "support"]);
    assert!(
        ok && out.contains("not revoked: the provider has no revocation endpoint"),
        "{out}"
    );
    let refreshes = server.refreshes(&id);
    // Past the 4-second token's expiry: the daemon had to renew by now.
    daemon.wait_for_log("nobody has signed in yet", Duration::from_secs(20));
    let path = desk.dir.path().join("tokens/support.json");
    assert!(
        !path.exists(),
        "the daemon wrote the tokens back; log:\n{}",
        daemon.log()
    );
    assert_eq!(
        server.refreshes(&id),
        refreshes,
        "no renewal after the logout"
    );
}

/// A CA and a certificate for `localhost` it signed, made by openssl in
/// `dir`: (ca.pem, cert.pem, key.pem).
fn localhost_certificate(dir: &Path) -> (std::path::PathBuf, Vec<u8>, Vec<u8>) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=postdesk test CA",
        "-days",
        "2",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
    ]);
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext",
        "-out",
        "leaf.pem",
    ]);
    (
        dir.join("ca.pem"),
        std::fs::read(dir.join("leaf.pem")).unwrap(),
        std::fs::read(dir.join("leaf.key")).unwrap(),
    )
}

/// An implicit-TLS (465-style) front for the lab's real submission port:
/// TLS from the first byte, then the bytes go to Postfix as they are. The
/// shared lab's Postfix has no smtps listener, and this keeps it unchanged;
/// what signs in is still Postfix asking Dovecot about the token.
fn smtps_front(cert: Vec<u8>, key: Vec<u8>, submission: u16) -> u16 {
    use tokio_rustls::rustls;
    let certs: Vec<_> = rustls_pemfile::certs(&mut &cert[..])
        .map(|c| c.unwrap())
        .collect();
    let key = rustls_pemfile::private_key(&mut &key[..]).unwrap().unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut back) =
                        tokio::net::TcpStream::connect(("127.0.0.1", submission)).await
                    else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut back).await;
                });
            }
        });
    });
    port
}

/// OAuth2 on SMTP with implicit TLS (port 465, `security = "tls"`): the
/// outbox signs in with XOAUTH2 inside TLS from the first byte, to the real
/// submission service (Postfix asking Dovecot), and `check` says so; a
/// certificate from an unknown CA is refused.
#[test]
fn oauth2_smtp_over_implicit_tls() {
    let env = MailEnv::load();
    let server = OAuthServer::for_lab(&env);
    let (submission, _) = lab_ports(&env);
    let id = format!("pd-smtps-{}", random_hex());
    server.register(client(&id, 600));
    let table = oauth_table(&server, &id, "device-code");
    let desk = TestDesk::builder("oauth-smtps").build();
    let (ca, cert, key) = localhost_certificate(desk.dir.path());
    let port = smtps_front(cert, key, submission);
    let mut desk = desk;
    let address = desk.address.clone();
    desk.set("mailbox.auth", "oauth2");
    desk.set("mailbox.oauth", table.clone());
    desk.set("outbox.host", "localhost");
    desk.set("outbox.port", i64::from(port));
    desk.set("outbox.security", "tls");
    desk.set("outbox.ca-file", ca.to_str().unwrap());
    desk.set("outbox.username", address.as_str());
    desk.set("outbox.auth", "oauth2");
    desk.set("outbox.mechanism", "xoauth2");
    desk.set("outbox.oauth", table);
    device_login(&desk, &server, "support", &address);
    let (ok, check) = postdesk(&desk.config, &["check"]);
    assert!(ok, "{check}");
    assert!(
        check.contains("SMTP server answered and accepted the connection"),
        "{check}"
    );
    // A request in; its acknowledgement out through the TLS front.
    let mut daemon = run_and_acknowledge(
        &desk,
        &env,
        &[("NO_COLOR", "1")],
        "oauth-smtps-req",
        "Badge reader broken",
    );
    daemon.stop();
    let postfix = env.postfix_log_about(&format!("sasl_username={address}"), 50);
    assert!(
        postfix.contains("sasl_method=XOAUTH2"),
        "submission signed in with XOAUTH2 through TLS:\n{postfix}"
    );
    // Another CA (the lab Dovecot's): the certificate is not trusted, and
    // nothing is sent before TLS holds.
    desk.set("outbox.ca-file", env.imaps_ca.to_str().unwrap());
    let (ok, check) = postdesk(&desk.config, &["check"]);
    assert!(!ok && check.contains("outbox"), "{check}");
}

/// The installed-app flow: `auth login` prints the URL and listens on
/// 127.0.0.1; the browser (here, the test) consents at the server, is sent
/// back to the listener with the code, and the code is exchanged with the
/// PKCE verifier. The tokens then sign in to the real IMAP server.
#[test]
fn installed_app_flow_over_the_loopback_redirect() {
    use std::io::{Read, Write};
    let env = MailEnv::load();
    let server = OAuthServer::for_lab(&env);
    let id = format!("pd-app-{}", random_hex());
    server.register(client(&id, 600));
    let [port] = crate::support::free_ports();
    let mut table = oauth_table(&server, &id, "installed-app");
    let t = table.as_table_mut().unwrap();
    t.insert("auth-url".into(), server.url("/authorize").into());
    t.insert("redirect-port".into(), i64::from(port).into());
    let mut desk = TestDesk::builder("oauth-installed").build();
    desk.set("mailbox.auth", "oauth2");
    desk.set("mailbox.oauth", table);
    let address = desk.address.clone();

    let mut child = Command::new(env!("CARGO_BIN_EXE_postdesk"))
        .arg("--config")
        .arg(&desk.config)
        .args(["auth", "login", "support"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run postdesk auth login");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut out = String::new();
    let url = loop {
        let line = lines.next().expect("auth login printed no URL").unwrap();
        out += &line;
        out += "\n";
        if line.starts_with("http://") {
            break line;
        }
    };
    let back = server.authorize(&url, &address);
    let target = back
        .split_once(&format!("127.0.0.1:{port}"))
        .unwrap()
        .1
        .to_string();
    let mut browser =
        std::net::TcpStream::connect(("127.0.0.1", port)).expect("the redirect listener");
    write!(
        browser,
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    )
    .unwrap();
    let mut page = String::new();
    browser.read_to_string(&mut page).unwrap();
    assert!(page.contains("postdesk is signed in"), "{page}");
    for line in lines {
        out += &line.unwrap();
        out += "\n";
    }
    assert!(child.wait().unwrap().success(), "{out}");
    assert!(
        out.contains(&format!("ssh -L {port}:127.0.0.1:{port}")),
        "the SSH hint: {out}"
    );
    assert!(
        token_file(&desk)["refresh_token"].is_string(),
        "a refresh token is stored"
    );
    let (ok, check) = postdesk(&desk.config, &["check"]);
    assert!(ok, "{check}");
    assert!(
        check.contains("mailbox support auth: oauth2 installed-app (XOAUTH2): a refresh works"),
        "{check}"
    );
    assert!(check.contains(&format!("as {address}")), "{check}");
}

/// The token endpoint down while a token is due for renewal: the daemon
/// keeps the still-valid token (a warning, not a login storm), gives up
/// only at its real expiry, and recovers once the endpoint is back.
#[test]
fn an_unreachable_provider_keeps_the_valid_token_without_a_login_storm() {
    let env = MailEnv::load();
    let server = OAuthServer::for_lab(&env);
    let id = format!("pd-down-{}", random_hex());
    server.register(client(&id, 10));
    let desk = TestDesk::builder("oauth-down")
        .unset("mailbox.password-file")
        .set("mailbox.auth", "oauth2")
        .set("mailbox.idle-recheck", "5m")
        .set("mailbox.oauth", oauth_table(&server, &id, "device-code"))
        .build();
    let address = desk.address.clone();
    device_login(&desk, &server, "support", &address);
    let logins = || {
        env.dovecot_log_about(&address, 5000)
            .matches("method=XOAUTH2")
            .count()
    };
    let daemon = desk.start();
    let before = logins();
    server.set_down(&id, true);
    // Past the renewal time (9 s) and the expiry (10 s) of the token.
    std::thread::sleep(Duration::from_secs(12));
    let during = logins() - before;
    let log = daemon.log();
    assert!(
        log.contains("token renewal failed; the current token is still valid"),
        "{log}"
    );
    assert!(
        during <= 4,
        "{during} logins while the token endpoint was down; log:\n{log}"
    );
    server.set_down(&id, false);
    let requester = env.unique_user("oauth-down-req");
    mail_to(&desk, &env, &requester, "After the outage");
    assert!(
        wait_until(WAIT, || count_tickets(&desk) >= 1),
        "no recovery after the endpoint came back; log:\n{}",
        daemon.log()
    );
}

/// Four `postdesk check`s at once, each renewing (check asks "does a
/// refresh work"), on one token file whose refresh token rotates: under the
/// token file's lock each renews from the refresh token the one before it
/// left, so none spends a used one (a provider that detects reuse would
/// revoke the whole sign-in) and all four pass.
#[test]
fn concurrent_renewals_take_turns_and_never_spend_a_used_refresh_token() {
    let env = MailEnv::load();
    let server = OAuthServer::for_lab(&env);
    let id = format!("pd-lock-{}", random_hex());
    server.register(client(&id, 3600));
    let desk = TestDesk::builder("oauth-lock")
        .unset("mailbox.password-file")
        .set("mailbox.auth", "oauth2")
        .set("mailbox.oauth", oauth_table(&server, &id, "device-code"))
        .build();
    let address = desk.address.clone();
    device_login(&desk, &server, "support", &address);
    let before = server.refreshes(&id);
    let checks: Vec<_> = (0..4)
        .map(|_| {
            let config = desk.config.clone();
            std::thread::spawn(move || postdesk(&config, &["check"]))
        })
        .collect();
    for c in checks {
        let (ok, out) = c.join().unwrap();
        assert!(ok, "{out}");
    }
    assert_eq!(
        server.dead_refresh_used(&id),
        0,
        "a used refresh token was spent"
    );
    assert_eq!(server.refreshes(&id) - before, 4, "each check renewed once");
    let stored = token_file(&desk)["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        server.refresh_is_live(&stored),
        "the file holds the live one"
    );
}

/// A provider that tells when the refresh token expires (Google's
/// `refresh_token_expires_in`): `auth status` and `check` say when the
/// sign-in ends, `check` warns within `alerts.token-expires-within`, and
/// the daemon alerts the admin once; the hourly access token alerts nobody.
#[test]
fn a_sign_in_that_ends_soon_is_shown_and_alerted_once() {
    let env = MailEnv::load();
    let server = OAuthServer::for_lab(&env);
    let id = format!("pd-ends-{}", random_hex());
    server.register(ClientSpec {
        refresh_lifetime: Some(Duration::from_secs(3 * 86_400)),
        ..client(&id, 3600)
    });
    let admin = env.unique_user("it-ops");
    let desk = TestDesk::builder("oauth-ends")
        .unset("mailbox.password-file")
        .set("mailbox.auth", "oauth2")
        .set("mailbox.oauth", oauth_table(&server, &id, "device-code"))
        .set("desk.admin", toml::Value::Array(vec![admin.clone().into()]))
        .set("alerts.check-interval", "1s")
        .set("alerts.disk-free-percent", 0)
        .build();
    let address = desk.address.clone();
    device_login(&desk, &server, "support", &address);
    assert!(token_file(&desk)["refresh_expires_at"].as_i64().is_some());

    let (_, status) = postdesk(&desk.config, &["auth", "status"]);
    assert!(status.contains("the sign-in ends"), "{status}");
    let (ok, check) = postdesk(&desk.config, &["check"]);
    assert!(ok, "a warning, not a failure: {check}");
    let line = check
        .lines()
        .find(|l| l.contains("mailbox support auth"))
        .unwrap_or_else(|| panic!("no auth line:\n{check}"));
    assert!(
        line.starts_with("WARN")
            && line.contains("the sign-in ends")
            && (line.contains("(in 71 h)") || line.contains("(in 72 h)")),
        "{line}"
    );

    let mut daemon = desk.start();
    let alerts = || -> Vec<String> {
        let mut imap = Imap::login(&env, &admin);
        imap.command_ok("SELECT INBOX");
        imap.fetch_all_raw()
            .iter()
            .map(|(_, m)| crate::support::header(m, "Subject"))
            .filter(|s| s.contains("ALERT"))
            .collect()
    };
    assert!(
        wait_until(WAIT, || !alerts().is_empty()),
        "no alert; log:\n{}",
        daemon.log()
    );
    std::thread::sleep(Duration::from_secs(3));
    let got = alerts();
    assert_eq!(got.len(), 1, "one alert, not one per check: {got:?}");
    assert!(
        got[0].contains("sign-in ends in 71 h") || got[0].contains("sign-in ends in 72 h"),
        "{got:?}"
    );
    daemon.stop();
}
