//! The verdict of the spam filter in front of postdesk, as it wrote it in
//! the mail's headers: SpamAssassin (`X-Spam-Flag`, `X-Spam-Status`), rspamd
//! (`X-Spamd-Result`, `X-Rspamd-Action`, `X-Spam`), Microsoft 365 / Exchange
//! (`X-MS-Exchange-Organization-SCL`, `X-Forefront-Antispam-Report`), and
//! one header/value pair of the admin's choosing.
//!
//! Whose word counts. Anyone can write `X-Spam-Flag: NO` into a mail; what
//! we must believe is the filter on the receiving side. That filter writes
//! at delivery, so its headers sit above the Received header of the server
//! that took the mail in (`trusted_received` = 1, the default), or above the
//! Nth when N of our own servers each add one; everything below came with
//! the mail. Only the topmost header of each name counts, as for
//! Authentication-Results ([`crate::inbound::authres`]). Exchange's headers
//! are read wherever they are: Exchange Online Protection removes the
//! copies a sender wrote (`X-MS-Exchange-Organization-*` never crosses into
//! an organisation) and writes its own, and Exchange does not keep header
//! order. `trusted_received = 0` reads the whole header block, for a filter
//! that appends its headers at the bottom and strips incoming copies.

/// What to look for, besides the built-in forms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VerdictRules {
    /// Headers above the Nth Received header count (0: the whole block).
    pub trusted_received: usize,
    /// Exchange's Spam Confidence Level at or above which a mail is spam
    /// (Microsoft's own default junk threshold is 5).
    pub scl_threshold: i32,
    /// A header of the admin's choosing and the value (case-insensitive,
    /// contained) that means spam.
    pub custom: Option<(String, String)>,
}

/// What a filter said.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub spam: bool,
    /// The header line that decided, for the timeline: `X-Spam-Flag: YES`.
    pub by: String,
}

/// The headers whose word counts, in order: above the Nth Received header
/// (all of them when `n` is 0 or there are fewer Received headers).
pub fn trusted_block(headers: &[(String, String)], n: usize) -> &[(String, String)] {
    if n == 0 {
        return headers;
    }
    let mut seen = 0;
    for (i, (name, _)) in headers.iter().enumerate() {
        if name.eq_ignore_ascii_case("Received") {
            seen += 1;
            if seen == n {
                return &headers[..i];
            }
        }
    }
    headers
}

fn topmost<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

fn line(name: &str, value: &str) -> String {
    const MAX: usize = 120;
    let mut v: String = value.split_whitespace().collect::<Vec<_>>().join(" ");
    if v.chars().count() > MAX {
        v = v.chars().take(MAX).collect::<String>() + "…";
    }
    format!("{name}: {v}")
}

/// Reads every filter's verdict among `headers` (name, value; topmost
/// first). Spam when any filter the rules trust says so; not spam when
/// filters spoke and none said spam; `None` when no filter spoke.
pub fn read(headers: &[(String, String)], rules: &VerdictRules) -> Option<Verdict> {
    let block = trusted_block(headers, rules.trusted_received);
    let mut said: Vec<Verdict> = Vec::new();
    let mut hear = |name: &str, value: &str, spam: bool| {
        said.push(Verdict {
            spam,
            by: line(name, value),
        })
    };
    // SpamAssassin
    if let Some(v) = topmost(block, "X-Spam-Flag") {
        hear("X-Spam-Flag", v, v.eq_ignore_ascii_case("yes"));
    }
    if let Some(v) = topmost(block, "X-Spam-Status") {
        let first = v.split([',', ' ']).next().unwrap_or("");
        hear("X-Spam-Status", v, first.eq_ignore_ascii_case("yes"));
    }
    // rspamd (its milter headers, or rspamc --mime)
    if let Some(v) = topmost(block, "X-Rspamd-Action") {
        hear("X-Rspamd-Action", v, rspamd_action_is_spam(v));
    }
    if let Some(v) = topmost(block, "X-Spamd-Result") {
        // `default: True [15.00 / 15.00]; GTUBE(0.00)[]`
        let flag = v
            .split_once(':')
            .map(|(_, rest)| rest.trim_start())
            .and_then(|rest| rest.split([' ', '[', ';']).next())
            .unwrap_or("");
        hear("X-Spamd-Result", v, flag.eq_ignore_ascii_case("true"));
    }
    if let Some(v) = topmost(block, "X-Spam") {
        hear("X-Spam", v, v.eq_ignore_ascii_case("yes"));
    }
    // Exchange / Microsoft 365: trusted anywhere (see the module doc).
    if let Some(v) = topmost(headers, "X-MS-Exchange-Organization-SCL")
        && let Ok(scl) = v.parse::<i32>()
    {
        hear(
            "X-MS-Exchange-Organization-SCL",
            v,
            scl >= rules.scl_threshold,
        );
    }
    if let Some(v) = topmost(headers, "X-Forefront-Antispam-Report") {
        let field = |key: &str| {
            v.split(';').find_map(|f| {
                let (k, val) = f.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(key)
                    .then(|| val.trim().to_ascii_uppercase())
            })
        };
        let sfv = field("SFV");
        let scl = field("SCL").and_then(|s| s.parse::<i32>().ok());
        // SPM: filtered as spam; SKS: marked spam before filtering (a
        // transport rule); BLK: the recipient's blocked senders.
        let by_verdict = matches!(sfv.as_deref(), Some("SPM" | "SKS" | "BLK"));
        let by_scl = scl.is_some_and(|s| s >= rules.scl_threshold);
        if sfv.is_some() || scl.is_some() {
            hear("X-Forefront-Antispam-Report", v, by_verdict || by_scl);
        }
    }
    if let Some((name, want)) = &rules.custom
        && let Some(v) = topmost(block, name)
    {
        let spam = v.to_lowercase().contains(&want.to_lowercase());
        hear(name, v, spam);
    }
    let spam = said.iter().position(|v| v.spam);
    match spam {
        Some(i) => Some(said.swap_remove(i)),
        None => said.into_iter().next(),
    }
}

/// rspamd's actions that mean "spam": `reject`, `add header`, `rewrite
/// subject` (and the milter's `soft reject` is a greylist: not spam).
pub fn rspamd_action_is_spam(action: &str) -> bool {
    matches!(
        action.trim().to_ascii_lowercase().as_str(),
        "reject" | "add header" | "add_header" | "rewrite subject" | "rewrite_subject"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> VerdictRules {
        VerdictRules {
            trusted_received: 1,
            scl_threshold: 5,
            custom: None,
        }
    }

    /// Header lines as the filters write them, on top of a mail whose own
    /// headers (below the receiving server's Received) follow.
    fn mail(top: &[&str], below: &[&str]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut push = |l: &str| {
            let (n, v) = l.split_once(':').unwrap();
            out.push((n.trim().to_string(), v.trim().to_string()));
        };
        for l in top {
            push(l);
        }
        push(
            "Received: from mail.sender.example (mail.sender.example [203.0.113.9]) by mx.corp.example.com (Postfix) with ESMTPS id 4Q2b3c; Wed, 2 Dec 2026 05:01:02 +0000",
        );
        for l in below {
            push(l);
        }
        push("Received: from [10.1.2.3] by mail.sender.example; Wed, 2 Dec 2026 05:01:00 +0000");
        push("From: Someone <someone@sender.example>");
        out
    }

    fn spam(top: &[&str], below: &[&str]) -> Option<bool> {
        read(&mail(top, below), &rules()).map(|v| v.spam)
    }

    #[test]
    fn spamassassin() {
        let flag = "X-Spam-Flag: YES";
        let status = "X-Spam-Status: Yes, score=7.3 required=5.0 tests=BAYES_99,HTML_MESSAGE,RDNS_NONE,URIBL_BLACK autolearn=no autolearn_force=no version=4.0.1";
        assert_eq!(spam(&[flag], &[]), Some(true));
        assert_eq!(spam(&[status], &[]), Some(true));
        let clean = "X-Spam-Status: No, score=-1.9 required=5.0 tests=BAYES_00,DKIM_SIGNED,DKIM_VALID autolearn=ham version=4.0.1";
        assert_eq!(spam(&[clean, "X-Spam-Flag: NO"], &[]), Some(false));
        let v = read(&mail(&[status], &[]), &rules()).unwrap();
        assert!(
            v.by.starts_with("X-Spam-Status: Yes, score=7.3"),
            "{}",
            v.by
        );
    }

    #[test]
    fn rspamd() {
        assert_eq!(
            spam(
                &["X-Spamd-Result: default: True [15.00 / 15.00]; GTUBE(0.00)[]"],
                &[]
            ),
            Some(true)
        );
        assert_eq!(
            spam(
                &[
                    "X-Spamd-Result: default: False [1.40 / 15.00]; MIME_GOOD(-0.10)[text/plain]; R_SPF_ALLOW(-0.20)[+ip4:203.0.113.9]"
                ],
                &[]
            ),
            Some(false)
        );
        assert_eq!(spam(&["X-Rspamd-Action: add header"], &[]), Some(true));
        assert_eq!(spam(&["X-Rspamd-Action: rewrite subject"], &[]), Some(true));
        assert_eq!(spam(&["X-Rspamd-Action: no action"], &[]), Some(false));
        assert_eq!(spam(&["X-Rspamd-Action: greylist"], &[]), Some(false));
        assert_eq!(spam(&["X-Spam: Yes"], &[]), Some(true));
    }

    #[test]
    fn exchange_online() {
        let report = "X-Forefront-Antispam-Report: CIP:203.0.113.9;CTRY:US;LANG:en;SCL:5;SRV:;IPV:NLI;SFV:SPM;H:mail.sender.example;PTR:mail.sender.example;CAT:SPM;SFS:(13230031)(4636009)(366004)(376002);DIR:INB;";
        assert_eq!(spam(&[report], &[]), Some(true));
        let clean = "X-Forefront-Antispam-Report: CIP:198.51.100.7;CTRY:CN;LANG:zh;SCL:1;SRV:;IPV:NLI;SFV:NSPM;H:smtp.partner.example;PTR:smtp.partner.example;CAT:NONE;SFS:(13230031)(39860400002);DIR:INB;";
        assert_eq!(spam(&[clean], &[]), Some(false));
        assert_eq!(
            spam(&["X-MS-Exchange-Organization-SCL: 9"], &[]),
            Some(true)
        );
        assert_eq!(
            spam(&["X-MS-Exchange-Organization-SCL: 1"], &[]),
            Some(false)
        );
        assert_eq!(
            spam(&["X-MS-Exchange-Organization-SCL: -1"], &[]),
            Some(false)
        );
        // The threshold is the admin's.
        let strict = VerdictRules {
            scl_threshold: 1,
            ..rules()
        };
        let h = mail(&["X-MS-Exchange-Organization-SCL: 1"], &[]);
        assert!(read(&h, &strict).unwrap().spam);
        // SFV:SPM alone says spam, whatever the SCL.
        let by_verdict = "X-Forefront-Antispam-Report: CIP:203.0.113.9;CTRY:US;LANG:en;SCL:1;SRV:;IPV:NLI;SFV:SPM;H:mail.sender.example;DIR:INB;";
        assert_eq!(spam(&[by_verdict], &[]), Some(true));
        // Exchange's headers count wherever Exchange put them.
        assert_eq!(spam(&[], &[report]), Some(true));
    }

    #[test]
    fn a_header_the_sender_wrote_does_not_count() {
        // Below the receiving server's Received: the sender's own words.
        assert_eq!(spam(&[], &["X-Spam-Flag: YES"]), None);
        assert_eq!(spam(&[], &["X-Spam-Status: No, score=-5.0"]), None);
        // A forged "clean" below does not hide the filter's "spam" above.
        assert_eq!(
            spam(&["X-Spam-Flag: YES"], &["X-Spam-Flag: NO"]),
            Some(true)
        );
        // Only the topmost of a name counts, even inside the trusted block.
        assert_eq!(
            spam(
                &["X-Rspamd-Action: reject", "X-Rspamd-Action: no action"],
                &[]
            ),
            Some(true)
        );
        assert_eq!(
            spam(
                &["X-Rspamd-Action: no action", "X-Rspamd-Action: reject"],
                &[]
            ),
            Some(false)
        );
        // With two servers of ours, the block reaches down to the second Received.
        let two = VerdictRules {
            trusted_received: 2,
            ..rules()
        };
        let h = mail(&[], &["X-Spam-Flag: YES"]);
        assert!(read(&h, &two).unwrap().spam);
        // 0: the whole block (a filter that appends and strips incoming copies).
        let all = VerdictRules {
            trusted_received: 0,
            ..rules()
        };
        let h = mail(&[], &["X-Spam-Flag: YES"]);
        assert!(read(&h, &all).unwrap().spam);
    }

    /// The shape Postfix then Dovecot LMTP give a mail (as the lab's do):
    /// LMTP's Received on top, then a milter's verdict, then Postfix's
    /// Received, then what the sender wrote.
    fn through_postfix_and_lmtp(milter: &str, sender: &str) -> Vec<(String, String)> {
        [
            "Received: from mail.example.test ([127.0.0.1]) by imap.example.test with LMTP id MC5hGGF; Wed, 02 Dec 2026 19:02:57 +0000",
            milter,
            "Received: from mail.sender.example (mail.sender.example [203.0.113.9]) by mail.example.test (Postfix) with ESMTP id 62D4698C329; Wed, 2 Dec 2026 19:02:57 +0000",
            sender,
            "From: Someone <someone@sender.example>",
        ]
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_string(), v.trim().to_string())
        })
        .collect()
    }

    #[test]
    fn two_servers_of_ours_need_trusted_received_two() {
        let two = VerdictRules {
            trusted_received: 2,
            ..rules()
        };
        let milter = "X-Spamd-Result: default: True [16.10 / 15.00]; GTUBE(0.00)[]";
        let h = through_postfix_and_lmtp(milter, "");
        // One hop trusted: the milter's line is below it, so it is not read.
        assert_eq!(read(&h, &rules()).map(|v| v.spam), None);
        // Two: read, spam.
        assert!(read(&h, &two).unwrap().spam);
        // What the sender wrote below Postfix's Received never counts,
        // neither a "spam" to get a rival's mail dropped nor a "clean"
        // to slip through.
        let h = through_postfix_and_lmtp("", "X-Spam-Flag: YES");
        assert_eq!(read(&h, &two).map(|v| v.spam), None);
        let h = through_postfix_and_lmtp(milter, "X-Spamd-Result: default: False [0.00 / 15.00]");
        assert!(read(&h, &two).unwrap().spam);
    }

    #[test]
    fn a_custom_header() {
        let r = VerdictRules {
            custom: Some(("X-Barracuda-Spam-Status".into(), "yes".into())),
            ..rules()
        };
        let h = mail(
            &["X-Barracuda-Spam-Status: Yes, SCORE=8.2 using global scores of TAG_LEVEL=3.5"],
            &[],
        );
        assert!(read(&h, &r).unwrap().spam);
        let h = mail(&["X-Barracuda-Spam-Status: No, SCORE=0.1"], &[]);
        assert!(!read(&h, &r).unwrap().spam);
    }

    #[test]
    fn no_filter_no_verdict() {
        assert_eq!(spam(&[], &[]), None);
        assert_eq!(read(&[], &rules()), None);
        // Nonsense values are not spam and never panic.
        assert_eq!(spam(&["X-MS-Exchange-Organization-SCL: lots"], &[]), None);
        assert_eq!(spam(&["X-Spamd-Result:"], &[]), Some(false));
        assert_eq!(spam(&["X-Forefront-Antispam-Report: ;;:;SFV"], &[]), None);
    }
}
