//! rspamd's HTTP protocol, asked directly: `/checkv2` on the normal worker
//! for a verdict before deciding, `/learnspam` and `/learnham` on the
//! controller for agents' `#spam` and `#notspam`. The only user of ureq.
//!
//! rspamd reads the envelope from request headers, not from the mail: we
//! send `From` (the envelope sender: Return-Path), `Rcpt` (each recipient
//! we can tell), `IP`, `Helo` and `Queue-Id` (from the topmost Received
//! header, the one our receiving server wrote), `Subject` is in the mail.
//! Every call has one deadline (`spam.rspamd-timeout`, 2 s by default) and
//! no proxy (the filter is on this machine or the local network, never
//! behind the process's `HTTP_PROXY`). A failure is a `String` saying what
//! was tried; callers go on without rspamd (intake) or retry later (lessons).

use std::time::Duration;

use crate::desk::spam::settings::SpamConfig;
use crate::inbound::Inbound;

/// What rspamd wants besides the mail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    pub from: Option<String>,
    pub rcpt: Vec<String>,
    pub ip: Option<String>,
    pub helo: Option<String>,
    pub queue_id: Option<String>,
}

/// rspamd's answer to `/checkv2`, the parts we use.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub action: String,
    pub score: f64,
    pub required: f64,
}

/// A client for one rspamd (worker and, optionally, controller).
#[derive(Debug, Clone)]
pub struct Rspamd {
    agent: ureq::Agent,
    check_url: Option<String>,
    controller: Option<String>,
    password: Option<String>,
}

impl Rspamd {
    /// The client the `[spam]` settings describe; `None` when neither the
    /// worker nor the controller is configured. The controller's password
    /// is read from its variable now, so a missing one is said at start.
    pub fn from_config(cfg: &SpamConfig) -> Result<Option<Rspamd>, String> {
        if cfg.rspamd.is_none() && cfg.rspamd_controller.is_none() {
            return Ok(None);
        }
        let password = match &cfg.rspamd_password_env {
            Some(var) => Some(std::env::var(var).map_err(|_| {
                format!("spam.rspamd-password-env: environment variable {var} is not set")
            })?),
            None => None,
        };
        Ok(Some(Rspamd::new(
            cfg.rspamd.as_deref(),
            cfg.rspamd_controller.as_deref(),
            password,
            cfg.rspamd_timeout,
        )))
    }

    pub fn new(
        worker: Option<&str>,
        controller: Option<&str>,
        password: Option<String>,
        timeout: Duration,
    ) -> Rspamd {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .proxy(None)
            .max_redirects(0)
            .build()
            .into();
        let base = |u: &str| u.trim_end_matches('/').to_string();
        Rspamd {
            agent,
            check_url: worker.map(|u| format!("{}/checkv2", base(u))),
            controller: controller.map(base),
            password,
        }
    }

    /// True when a controller is configured (lessons can be sent).
    pub fn can_learn(&self) -> bool {
        self.controller.is_some()
    }

    /// True when the worker is configured (mail is checked).
    pub fn can_check(&self) -> bool {
        self.check_url.is_some()
    }

    /// Asks rspamd about one raw mail.
    pub fn check(&self, raw: &[u8], env: &Envelope) -> Result<Checked, String> {
        let Some(url) = &self.check_url else {
            return Err("no rspamd worker configured (spam.rspamd)".into());
        };
        let mut req = self.agent.post(url.as_str());
        if let Some(f) = &env.from {
            req = req.header("From", f.as_str());
        }
        for r in &env.rcpt {
            req = req.header("Rcpt", r.as_str());
        }
        if let Some(ip) = &env.ip {
            req = req.header("IP", ip.as_str());
        }
        if let Some(h) = &env.helo {
            req = req.header("Helo", h.as_str());
        }
        if let Some(q) = &env.queue_id {
            req = req.header("Queue-Id", q.as_str());
        }
        let mut resp = req
            .send(raw)
            .map_err(|e| format!("asking rspamd at {url}: {e}"))?;
        let status = resp.status();
        let body = resp
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .map_err(|e| format!("reading rspamd's answer from {url}: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "rspamd at {url} answered {status}: {}",
                short(&body)
            ));
        }
        parse_check(&body).map_err(|e| format!("rspamd at {url}: {e}"))
    }

    /// Teaches rspamd one raw mail as spam or ham. `Ok` with rspamd's
    /// answer when it took the lesson or refused it for good (already
    /// learned, too small); `Err` when it should be tried again.
    pub fn learn(&self, raw: &[u8], spam: bool) -> Result<String, String> {
        let Some(base) = &self.controller else {
            return Err("no rspamd controller configured (spam.rspamd-controller)".into());
        };
        let url = format!("{base}/{}", if spam { "learnspam" } else { "learnham" });
        let mut req = self.agent.post(url.as_str());
        if let Some(p) = &self.password {
            req = req.header("Password", p.as_str());
        }
        let mut resp = req
            .send(raw)
            .map_err(|e| format!("teaching rspamd at {url}: {e}"))?;
        let status = resp.status();
        let body = resp
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .map_err(|e| format!("reading rspamd's answer from {url}: {e}"))?;
        learn_outcome(status.as_u16(), &body).map_err(|e| format!("{url}: {e}"))
    }
}

/// What `postdesk check` found of one rspamd part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    Works(String),
    /// Unreachable or answering wrongly: intake goes on (every mail counts
    /// as not spam), lessons wait.
    Down(String),
    /// A setting the admin must fix (the controller refuses the password).
    Misconfigured(String),
}

/// A few lines that rspamd checks like any mail, made here: `check` sends
/// it to see the worker's whole path work, not only that a port answers.
const PROBE_MAIL: &[u8] = b"From: postdesk check <check@postdesk.invalid>\r\n\
To: helpdesk@postdesk.invalid\r\nSubject: postdesk check\r\n\
Message-ID: <check@postdesk.invalid>\r\n\r\n\
This mail is the one postdesk check sends to see that rspamd answers.\r\n";

impl Rspamd {
    /// Tries each configured part the way the daemon uses it: the worker
    /// checks [`PROBE_MAIL`] (its action and score said, with the time it
    /// took); the controller is sent an empty lesson with the password,
    /// which rspamd refuses (400, "empty body") after the password and
    /// before learning anything, or refuses the password (403).
    pub fn probe(&self) -> Vec<(&'static str, Probe)> {
        let mut out = Vec::new();
        if self.check_url.is_some() {
            let start = std::time::Instant::now();
            let env = Envelope::default();
            out.push((
                "rspamd",
                match self.check(PROBE_MAIL, &env) {
                    Ok(c) => Probe::Works(format!(
                        "{} checks mail: a test mail got `{}`, score {:.1} of {:.1}, in {} ms",
                        self.check_url.as_deref().unwrap_or_default(),
                        c.action,
                        c.score,
                        c.required,
                        start.elapsed().as_millis()
                    )),
                    Err(e) => Probe::Down(format!(
                        "{e}; intake goes on without it (every mail counts as not spam)"
                    )),
                },
            ));
        }
        if let Some(base) = &self.controller {
            out.push(("rspamd controller", self.probe_controller(base)));
        }
        out
    }

    fn probe_controller(&self, base: &str) -> Probe {
        let url = format!("{base}/learnham");
        let mut req = self.agent.post(url.as_str());
        if let Some(p) = &self.password {
            req = req.header("Password", p.as_str());
        }
        match req.send(&[][..]) {
            Ok(resp) => controller_probe(&url, resp.status().as_u16(), self.password.is_some()),
            Err(e) => Probe::Down(format!(
                "{url}: {e}; agents' #spam and #notspam lessons wait until it answers"
            )),
        }
    }
}

/// What the controller's answer to an empty lesson says.
pub fn controller_probe(url: &str, status: u16, with_password: bool) -> Probe {
    match status {
        401 | 403 => Probe::Misconfigured(format!(
            "{url} refuses {} ({status}): set spam.rspamd-password-env to its enable_password",
            if with_password {
                "the password"
            } else {
                "lessons without a password"
            }
        )),
        400 => Probe::Works(format!(
            "{url} takes lessons ({}; an empty test lesson, refused as empty: nothing learned)",
            if with_password {
                "password accepted"
            } else {
                "no password asked"
            }
        )),
        _ => Probe::Down(format!(
            "{url} answered {status} to an empty test lesson (rspamd answers 400): is this rspamd's controller?"
        )),
    }
}

fn short(s: &str) -> String {
    s.chars().take(200).collect()
}

/// Reads `/checkv2`'s JSON.
pub fn parse_check(body: &str) -> Result<Checked, String> {
    let v: serde_json::Value = serde_json::from_str(body)
        .map_err(|e| format!("answer is not JSON ({e}): {}", short(body)))?;
    let action = v
        .get("action")
        .and_then(|a| a.as_str())
        .ok_or_else(|| format!("answer has no action: {}", short(body)))?;
    Ok(Checked {
        action: action.to_string(),
        score: v.get("score").and_then(|s| s.as_f64()).unwrap_or(0.0),
        required: v
            .get("required_score")
            .and_then(|s| s.as_f64())
            .unwrap_or(0.0),
    })
}

/// What a learn answer means: taken, refused for good (`Ok`, with why), or
/// to be retried (`Err`). rspamd answers 208 "already learned", 204 (no
/// body: HTTP forbids one) when its learn conditions refuse the mail (Bayes
/// already puts it in that class at 95 % or more, or it has too few or too
/// many tokens), and 4xx for a mail it will never learn; 5xx and a refused
/// password are worth another try after the admin's fix.
pub fn learn_outcome(status: u16, body: &str) -> Result<String, String> {
    let error = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string));
    match status {
        200 => Ok("learned".into()),
        208 => Ok(format!(
            "rspamd had learned it already{}",
            error.map(|e| format!(": {e}")).unwrap_or_default()
        )),
        // Retrying a 204 gets 204 again, for ever: the CI run that kept
        // retrying one never finished its lesson.
        204 => Ok(
            "rspamd will not learn it (204): its learn conditions refused it \
             (already classified so, or too few or too many words)"
                .into(),
        ),
        401 | 403 => Err(format!(
            "rspamd refused the controller password ({status}): set spam.rspamd-password-env"
        )),
        400..=499 => Ok(format!(
            "rspamd will not learn it ({status}): {}",
            error.unwrap_or_else(|| short(body))
        )),
        _ => Err(format!(
            "rspamd answered {status}: {}",
            error.unwrap_or_else(|| short(body))
        )),
    }
}

/// The envelope of a mail as far as its headers tell: Return-Path, the
/// recipients it names, and the topmost Received header's client address,
/// HELO name and queue id (`from helo (rdns [ip]) by us ... id QID`).
pub fn envelope_of(headers: &[(String, String)], mail: &Inbound) -> Envelope {
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let from = find("Return-Path")
        .map(|v| {
            v.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
        .filter(|v| v.contains('@'))
        .or_else(|| mail.from.as_ref().map(|m| m.address.clone()));
    let rcpt = mail
        .to
        .iter()
        .chain(mail.cc.iter())
        .map(|m| m.address.clone())
        .filter(|a| a.contains('@'))
        .take(32)
        .collect();
    let mut env = Envelope {
        from,
        rcpt,
        ..Envelope::default()
    };
    if let Some(r) = find("Received") {
        let words: Vec<&str> = r.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            if *w == "from" && env.helo.is_none() {
                env.helo = words.get(i + 1).map(|h| h.to_string());
            }
            if *w == "id" && env.queue_id.is_none() {
                env.queue_id = words
                    .get(i + 1)
                    .map(|q| q.trim_end_matches(';').to_string());
            }
        }
        env.ip = bracketed_ip(r);
    }
    env
}

/// The first `[address]` in a Received header that is an IP address.
fn bracketed_ip(received: &str) -> Option<String> {
    let mut rest = received;
    while let Some(start) = rest.find('[') {
        let after = &rest[start + 1..];
        let end = after.find(']')?;
        let inner = after[..end].trim_start_matches("IPv6:");
        if inner.parse::<std::net::IpAddr>().is_ok() {
            return Some(inner.to_string());
        }
        rest = &after[end..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_check_answer() {
        let body = r#"{"is_skipped":true,"score":15.0,"required_score":15.0,"action":"reject","symbols":{"GTUBE":{"name":"GTUBE","score":0.0}},"messages":{"smtp_message":"Gtube pattern"},"message-id":"x1@example.test","time_real":0.000579}"#;
        let c = parse_check(body).unwrap();
        assert_eq!(c.action, "reject");
        assert_eq!(c.score, 15.0);
        assert!(parse_check("<html>").is_err());
        assert!(parse_check("{}").unwrap_err().contains("no action"));
    }

    #[test]
    fn learn_answers() {
        assert_eq!(
            learn_outcome(200, r#"{"success":true}"#),
            Ok("learned".into())
        );
        assert!(
            learn_outcome(
                208,
                r#"{"error":"<x@y> has been already learned as spam, ignore it"}"#
            )
            .unwrap()
            .contains("already")
        );
        assert!(learn_outcome(400, r#"{"error":"too few tokens"}"#).is_ok());
        assert!(
            learn_outcome(204, "")
                .is_ok_and(|why| why.contains("204") && why.contains("learn conditions"))
        );
        assert!(learn_outcome(403, "").is_err());
        assert!(learn_outcome(500, "").is_err());
    }

    #[test]
    fn the_envelope_comes_from_the_topmost_received() {
        let headers: Vec<(String, String)> = [
            ("Return-Path", "<bounce-7@sender.example>"),
            (
                "Received",
                "from mail.sender.example (mail.sender.example [203.0.113.9]) by mx.corp.example.com (Postfix) with ESMTPS id 4Q2b3cXyZ; Wed, 2 Dec 2026 05:01:02 +0000",
            ),
            (
                "Received",
                "from [10.1.2.3] (unknown [10.1.2.3]) by mail.sender.example id OLD1",
            ),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let mail = crate::inbound::parse(
            b"From: a@sender.example\r\nTo: help@corp.example.com\r\nSubject: x\r\n\r\nhi\r\n",
        )
        .unwrap();
        let env = envelope_of(&headers, &mail);
        assert_eq!(env.from.as_deref(), Some("bounce-7@sender.example"));
        assert_eq!(env.rcpt, vec!["help@corp.example.com".to_string()]);
        assert_eq!(env.ip.as_deref(), Some("203.0.113.9"));
        assert_eq!(env.helo.as_deref(), Some("mail.sender.example"));
        assert_eq!(env.queue_id.as_deref(), Some("4Q2b3cXyZ"));
        assert_eq!(
            bracketed_ip("from x ([IPv6:2001:db8::1]) by y").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(bracketed_ip("from [bogus] by y"), None);
    }
}
