//! Classification on arrival: category, priority and team from the rules in
//! the config. The first rule whose conditions all hold wins; a rule's
//! condition lists match when any entry matches.

use regex::Regex;
use serde::Deserialize;

use crate::desk::ticket::Priority;
use crate::inbound::Inbound;

/// One `[[rule]]` as written in the config.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RuleConfig {
    /// A name for messages and the timeline.
    pub name: String,
    /// Words or phrases looked for in the subject and the text, case-insensitive
    /// (Chinese works: `打印机` matches inside a sentence).
    #[serde(default)]
    pub keywords: Vec<String>,
    /// A regular expression on the subject and the text.
    pub regex: Option<String>,
    /// Sender addresses or `@domain`s (a VIP list).
    #[serde(default)]
    pub from: Vec<String>,
    /// Addresses the mail was sent to (To or Cc), e.g. `network-help@example.com`.
    #[serde(default)]
    pub to: Vec<String>,
    /// The sender's own Importance/X-Priority: `high` or `low`.
    pub sender_priority: Option<String>,
    // What the rule sets.
    pub category: Option<String>,
    pub priority: Option<Priority>,
    pub team: Option<String>,
}

/// What classification decided.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Classification {
    pub category: Option<String>,
    pub priority: Option<Priority>,
    pub team: Option<String>,
    /// The rule that matched, if any.
    pub rule: Option<String>,
}

#[derive(Debug, Clone)]
struct Rule {
    cfg: RuleConfig,
    keywords: Vec<String>,
    regex: Option<Regex>,
    from: Vec<String>,
    to: Vec<String>,
    sender_high: Option<bool>,
}

/// What a new ticket gets when no rule sets it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Classify {
    pub default_category: Option<String>,
    pub default_priority: Option<Priority>,
}

/// The compiled rules with the defaults.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    rules: Vec<Rule>,
    default_category: Option<String>,
    default_priority: Option<Priority>,
}

impl<'de> Deserialize<'de> for Priority {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Priority, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Rules {
    /// Compiles rules; errors name the rule and what is wrong.
    pub fn new(
        rules: &[RuleConfig],
        default_category: Option<String>,
        default_priority: Option<Priority>,
    ) -> Result<Rules, String> {
        let mut out = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            let at = format!("rule #{} (\"{}\")", i + 1, r.name);
            let regex = match &r.regex {
                Some(src) => Some(Regex::new(src).map_err(|e| format!("{at}: regex: {e}"))?),
                None => None,
            };
            let sender_high = match r
                .sender_priority
                .as_deref()
                .map(str::to_lowercase)
                .as_deref()
            {
                None => None,
                Some("high") => Some(true),
                Some("low") => Some(false),
                Some(other) => {
                    return Err(format!(
                        "{at}: sender-priority = \"{other}\": expected \"high\" or \"low\""
                    ));
                }
            };
            if r.category.is_none() && r.priority.is_none() && r.team.is_none() {
                return Err(format!(
                    "{at}: sets nothing; expected category, priority or team"
                ));
            }
            out.push(Rule {
                keywords: r
                    .keywords
                    .iter()
                    .map(|k| k.to_lowercase())
                    .filter(|k| !k.is_empty())
                    .collect(),
                regex,
                from: r
                    .from
                    .iter()
                    .map(|f| crate::address::normalise(f))
                    .collect(),
                to: r.to.iter().map(|f| crate::address::normalise(f)).collect(),
                sender_high,
                cfg: r.clone(),
            });
        }
        Ok(Rules {
            rules: out,
            default_category,
            default_priority,
        })
    }

    /// The first matching rule's settings, falling back to the defaults.
    pub fn classify(&self, mail: &Inbound) -> Classification {
        let haystack = format!("{}\n{}", mail.subject, mail.text).to_lowercase();
        let raw_haystack = format!("{}\n{}", mail.subject, mail.text);
        let rule = self
            .rules
            .iter()
            .find(|r| r.matches(mail, &haystack, &raw_haystack));
        Classification {
            category: rule
                .and_then(|r| r.cfg.category.clone())
                .or_else(|| self.default_category.clone()),
            priority: rule.and_then(|r| r.cfg.priority).or(self.default_priority),
            team: rule.and_then(|r| r.cfg.team.clone()),
            rule: rule.map(|r| r.cfg.name.clone()),
        }
    }

    /// Rules that can never match, with the reason: behind a rule without
    /// conditions, or with the same conditions as an earlier rule.
    pub fn unreachable(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, r) in self.rules.iter().enumerate() {
            for (j, earlier) in self.rules[..i].iter().enumerate() {
                if !earlier.has_conditions() {
                    out.push(format!(
                        "rule #{} (\"{}\") never matches: rule #{} (\"{}\") before it has no conditions and matches every mail",
                        i + 1, r.cfg.name, j + 1, earlier.cfg.name
                    ));
                    break;
                }
                if earlier.same_conditions(r) {
                    out.push(format!(
                        "rule #{} (\"{}\") never matches: rule #{} (\"{}\") has the same conditions and comes first",
                        i + 1, r.cfg.name, j + 1, earlier.cfg.name
                    ));
                    break;
                }
            }
        }
        out
    }

    /// The team names the rules refer to.
    pub fn teams(&self) -> impl Iterator<Item = (&str, &str)> {
        self.rules
            .iter()
            .filter_map(|r| r.cfg.team.as_deref().map(|t| (r.cfg.name.as_str(), t)))
    }
}

impl Rule {
    fn has_conditions(&self) -> bool {
        !self.keywords.is_empty()
            || self.regex.is_some()
            || !self.from.is_empty()
            || !self.to.is_empty()
            || self.sender_high.is_some()
    }

    fn same_conditions(&self, o: &Rule) -> bool {
        let sorted = |v: &Vec<String>| {
            let mut v = v.clone();
            v.sort();
            v
        };
        sorted(&self.keywords) == sorted(&o.keywords)
            && self.cfg.regex == o.cfg.regex
            && sorted(&self.from) == sorted(&o.from)
            && sorted(&self.to) == sorted(&o.to)
            && self.sender_high == o.sender_high
    }

    fn matches(&self, mail: &Inbound, lower: &str, raw: &str) -> bool {
        if !self.keywords.is_empty() && !self.keywords.iter().any(|k| lower.contains(k.as_str())) {
            return false;
        }
        if let Some(re) = &self.regex
            && !re.is_match(raw)
        {
            return false;
        }
        if !self.from.is_empty() {
            let sender = mail.from.as_ref().map(|m| m.address.as_str()).unwrap_or("");
            if !self.from.iter().any(|f| address_matches(f, sender)) {
                return false;
            }
        }
        if !self.to.is_empty() {
            let hit = mail
                .to
                .iter()
                .chain(mail.cc.iter())
                .any(|m| self.to.iter().any(|t| address_matches(t, &m.address)));
            if !hit {
                return false;
            }
        }
        if let Some(high) = self.sender_high {
            match mail.sender_priority {
                Some(p) if high && p <= 2 => {}
                Some(p) if !high && p >= 4 => {}
                _ => return false,
            }
        }
        true
    }
}

/// `@domain` matches every address of the domain (and its subdomains); anything else the address itself.
fn address_matches(pattern: &str, address: &str) -> bool {
    match pattern.strip_prefix('@') {
        Some(domain) => address
            .rsplit_once('@')
            .is_some_and(|(_, d)| d == domain || d.ends_with(&format!(".{domain}"))),
        None => pattern == address,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::parse;

    fn rules() -> Rules {
        let cfg: Vec<RuleConfig> = toml::from_str::<toml::Table>(
            r#"
[[rule]]
name = "vip"
from = ["ceo@corp.test", "@board.corp.test"]
priority = "P1"
[[rule]]
name = "network desk"
to = ["network-help@corp.test"]
category = "network"
team = "network"
[[rule]]
name = "printers"
keywords = ["打印机", "printer", "toner"]
category = "hardware"
[[rule]]
name = "logins"
regex = "(?i)(无法登录|can(no|')t log ?in|password|密码)"
category = "account"
priority = "P2"
[[rule]]
name = "urgent senders"
sender-priority = "high"
priority = "P2"
"#,
        )
        .unwrap()["rule"]
            .clone()
            .try_into()
            .unwrap();
        Rules::new(&cfg, Some("other".into()), Some(Priority::P3)).unwrap()
    }

    fn mail(headers: &str, body: &str) -> Inbound {
        parse(
            format!("{headers}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}")
                .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn first_matching_rule_wins_with_defaults() {
        let r = rules();
        let c = r.classify(&mail("From: ceo@corp.test\r\nSubject: printer", "x"));
        assert_eq!(
            (c.priority, c.category.as_deref(), c.rule.as_deref()),
            (Some(Priority::P1), Some("other"), Some("vip"))
        );
        let c = r.classify(&mail("From: x@board.corp.test\r\nSubject: hi", "x"));
        assert_eq!(c.priority, Some(Priority::P1), "domain match");
        let c = r.classify(&mail(
            "From: a@corp.test\r\nSubject: 求助",
            "三楼的打印机卡纸了",
        ));
        assert_eq!(
            (c.category.as_deref(), c.priority),
            (Some("hardware"), Some(Priority::P3))
        );
        let c = r.classify(&mail("From: a@corp.test\r\nSubject: 系统无法登录", "x"));
        assert_eq!(
            (c.category.as_deref(), c.priority),
            (Some("account"), Some(Priority::P2))
        );
        let c = r.classify(&mail(
            "From: a@corp.test\r\nTo: Network-Help@corp.test\r\nSubject: VPN",
            "x",
        ));
        assert_eq!(
            (c.team.as_deref(), c.category.as_deref()),
            (Some("network"), Some("network"))
        );
        let c = r.classify(&mail("From: a@corp.test\r\nSubject: lunch", "x"));
        assert_eq!(
            (c.category.as_deref(), c.priority, c.rule),
            (Some("other"), Some(Priority::P3), None)
        );
    }

    #[test]
    fn sender_priority_only_when_a_rule_asks() {
        let r = rules();
        let c = r.classify(&mail(
            "From: a@corp.test\r\nX-Priority: 1 (Highest)\r\nSubject: lunch",
            "x",
        ));
        assert_eq!(c.priority, Some(Priority::P2));
        let c = r.classify(&mail(
            "From: a@corp.test\r\nImportance: low\r\nSubject: lunch",
            "x",
        ));
        assert_eq!(c.priority, Some(Priority::P3));
    }

    #[test]
    fn unreachable_rules_are_found() {
        let cfg = vec![
            RuleConfig {
                name: "a".into(),
                keywords: vec!["vpn".into()],
                category: Some("network".into()),
                ..Default::default()
            },
            RuleConfig {
                name: "b".into(),
                keywords: vec!["VPN".into()],
                category: Some("other".into()),
                ..Default::default()
            },
            RuleConfig {
                name: "all".into(),
                priority: Some(Priority::P4),
                ..Default::default()
            },
            RuleConfig {
                name: "late".into(),
                from: vec!["@x.test".into()],
                priority: Some(Priority::P1),
                ..Default::default()
            },
        ];
        let r = Rules::new(&cfg, None, None).unwrap();
        let u = r.unreachable();
        assert_eq!(u.len(), 2, "{u:?}");
        assert!(
            u[0].contains("\"b\"") && u[0].contains("same conditions"),
            "{u:?}"
        );
        assert!(
            u[1].contains("\"late\"") && u[1].contains("no conditions"),
            "{u:?}"
        );
        assert!(rules().unreachable().is_empty());
    }

    #[test]
    fn bad_rules_are_named() {
        let bad = vec![RuleConfig {
            name: "x".into(),
            regex: Some("(".into()),
            category: Some("a".into()),
            ..Default::default()
        }];
        assert!(
            Rules::new(&bad, None, None)
                .unwrap_err()
                .contains("rule #1 (\"x\"): regex")
        );
        let nothing = vec![RuleConfig {
            name: "y".into(),
            keywords: vec!["a".into()],
            ..Default::default()
        }];
        assert!(
            Rules::new(&nothing, None, None)
                .unwrap_err()
                .contains("sets nothing")
        );
    }
}
