//! The `[[exclusion]]` rules, compiled (see [`crate::desk::exclusion`]).

use regex::Regex;
use serde::Deserialize;

/// One `[[exclusion]]`: what the agreement says the desk does not do.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExclusionConfig {
    pub name: String,
    /// Words or phrases, any language; matched case-insensitively in the
    /// subject and the text.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Regular expressions (case-insensitive), for what words cannot say.
    #[serde(default)]
    pub regex: Vec<String>,
    /// The clause in English, quoted in the reply.
    pub clause_en: String,
    /// The clause in Chinese; the English one when absent.
    pub clause_zh: Option<String>,
}

/// The rules, in the order written.
#[derive(Debug, Clone, Default)]
pub struct Exclusions {
    rules: Vec<(ExclusionConfig, Vec<Regex>)>,
}

impl PartialEq for Exclusions {
    fn eq(&self, o: &Exclusions) -> bool {
        self.rules.len() == o.rules.len()
            && self.rules.iter().zip(&o.rules).all(|(a, b)| a.0 == b.0)
    }
}

impl Exclusions {
    /// Compiles the rules; the error names the rule and what is wrong.
    pub fn new(cfgs: &[ExclusionConfig]) -> Result<Exclusions, String> {
        let mut rules = Vec::new();
        for (i, c) in cfgs.iter().enumerate() {
            let at = format!("exclusion #{} (\"{}\")", i + 1, c.name);
            if c.keywords.iter().all(|k| k.trim().is_empty()) && c.regex.is_empty() {
                return Err(format!("{at}: needs keywords = [\"…\"] or regex = [\"…\"]"));
            }
            if c.clause_en.trim().is_empty() {
                return Err(format!(
                    "{at}: clause-en is empty: it is quoted in the reply"
                ));
            }
            let mut res = Vec::new();
            for r in &c.regex {
                res.push(
                    Regex::new(&format!("(?i){r}"))
                        .map_err(|e| format!("{at}: regex \"{r}\": {e}"))?,
                );
            }
            rules.push((c.clone(), res));
        }
        Ok(Exclusions { rules })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first rule a request matches, and what matched.
    pub fn matching(&self, subject: &str, text: &str) -> Option<(&ExclusionConfig, String)> {
        let hay = format!("{subject}\n{text}").to_lowercase();
        for (c, res) in &self.rules {
            if let Some(k) = c
                .keywords
                .iter()
                .find(|k| !k.trim().is_empty() && hay.contains(&k.trim().to_lowercase()))
            {
                return Some((c, k.trim().to_string()));
            }
            if let Some(m) = res.iter().find_map(|r| r.find(&hay)) {
                return Some((c, m.as_str().to_string()));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Exclusions {
        Exclusions::new(&[
            ExclusionConfig {
                name: "unauthorised-software".into(),
                keywords: vec!["crack".into(), "破解".into(), "盗版".into()],
                regex: vec![r"key ?gen".into()],
                clause_en: "Installing unlicensed software is not covered.".into(),
                clause_zh: Some("不提供未经授权软件的安装服务。".into()),
            },
            ExclusionConfig {
                name: "personal-data-recovery".into(),
                keywords: vec!["personal photos".into(), "个人数据恢复".into()],
                regex: vec![],
                clause_en: "Recovery of personal data is not covered.".into(),
                clause_zh: None,
            },
        ])
        .unwrap()
    }

    #[test]
    fn english_and_chinese_requests_match() {
        let r = rules();
        let (c, by) = r.matching("Need a CRACK for Photoshop", "").unwrap();
        assert_eq!(
            (c.name.as_str(), by.as_str()),
            ("unauthorised-software", "crack")
        );
        let (c, _) = r
            .matching("求助", "能帮我装一个破解版的办公软件吗")
            .unwrap();
        assert_eq!(c.name, "unauthorised-software");
        let (c, by) = r.matching("Office", "where do I find a keygen").unwrap();
        assert_eq!(
            (c.name.as_str(), by.as_str()),
            ("unauthorised-software", "keygen")
        );
        let (c, _) = r.matching("硬盘坏了", "需要个人数据恢复").unwrap();
        assert_eq!(c.name, "personal-data-recovery");
        assert!(r.matching("Printer broken", "It prints nothing.").is_none());
        assert!(r.matching("打印机坏了", "无法打印").is_none());
    }

    #[test]
    fn bad_rules_are_named() {
        let bad = ExclusionConfig {
            name: "x".into(),
            keywords: vec![],
            regex: vec!["(".into()],
            clause_en: "c".into(),
            clause_zh: None,
        };
        assert!(
            Exclusions::new(std::slice::from_ref(&bad))
                .unwrap_err()
                .contains("exclusion #1 (\"x\"): regex")
        );
        let empty = ExclusionConfig {
            regex: vec![],
            ..bad
        };
        assert!(
            Exclusions::new(&[empty])
                .unwrap_err()
                .contains("needs keywords")
        );
    }
}
