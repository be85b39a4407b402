//! `Authentication-Results` (RFC 8601), read as the grammar says:
//! `authserv-id [version] ; method=result [reason=…] ptype.property=value … ; …`,
//! with comments in parentheses removed and quoted strings kept whole. The
//! receiving server prepends its own header, so only the topmost ones can be
//! the trusted server's: everything below them came with the mail, and the
//! sender may have written it (see [`trusted_results`]).

/// One `method=result` with its properties (`header.d`, `smtp.mailfrom`…).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodResult {
    /// Lower case: `dkim`, `spf`, `dmarc`…
    pub method: String,
    /// Lower case: `pass`, `fail`, `none`…
    pub result: String,
    /// `(ptype.property in lower case, value)`, in order.
    pub props: Vec<(String, String)>,
}

impl MethodResult {
    /// The value of one property, e.g. `header.d`.
    pub fn prop(&self, name: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One header, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResults {
    pub authserv_id: String,
    pub results: Vec<MethodResult>,
}

/// Removes `(comments)` (nested, with `\` escapes) outside quoted strings.
fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let (mut depth, mut quoted, mut escaped) = (0usize, false, false);
    for c in s.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Splits on `sep` outside quoted strings.
fn split_unquoted(s: &str, sep: impl Fn(char) -> bool) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quoted = false;
    for c in s.chars() {
        if c == '"' {
            quoted = !quoted;
        }
        if !quoted && sep(c) {
            parts.push(String::new());
        } else if let Some(last) = parts.last_mut() {
            last.push(c);
        }
    }
    parts.retain(|p| !p.trim().is_empty());
    parts
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    v.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(v)
        .replace("\\\"", "\"")
}

/// Parses one header value; `None` when it has no authserv-id.
pub fn parse(value: &str) -> Option<AuthResults> {
    let clean = strip_comments(value);
    let mut parts = split_unquoted(&clean, |c| c == ';').into_iter();
    let head = parts.next()?;
    let authserv_id = head.split_whitespace().next()?.to_ascii_lowercase();
    let mut results = Vec::new();
    for part in parts {
        let words = split_unquoted(&part, char::is_whitespace);
        let mut words = words.iter();
        let Some((method, result)) = words.next().and_then(|w| w.split_once('=')) else {
            continue;
        };
        let method = method.trim().to_ascii_lowercase();
        // `method/version=result`
        let method = method.split('/').next().unwrap_or("").to_string();
        let props = words
            .filter_map(|w| w.split_once('='))
            .filter(|(k, _)| k.contains('.'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), unquote(v)))
            .collect();
        results.push(MethodResult {
            method,
            result: unquote(result).to_ascii_lowercase(),
            props,
        });
    }
    Some(AuthResults {
        authserv_id,
        results,
    })
}

/// The results trusted servers wrote: the headers from the top while their
/// authserv-id is one of `trusted`, one header per server (its topmost: a
/// second header with the same id sits below that server's own, so it came
/// with the mail). The first header from anyone else, or a repeated id, ends
/// the run; everything below is the sender's word, never ours.
///
/// A server that writes two headers of its own (a DKIM milter and a DMARC
/// milter both under one authserv-id) is read by its topmost only; that can
/// refuse an agent's real mail (the timeline says why), never admit a forged one.
pub fn trusted_results(headers: &[String], trusted: &[String]) -> Vec<AuthResults> {
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for h in headers {
        let Some(r) = parse(h) else { break };
        let trusted_id = trusted
            .iter()
            .any(|t| t.eq_ignore_ascii_case(&r.authserv_id));
        if !trusted_id || seen.contains(&r.authserv_id) {
            break;
        }
        seen.push(r.authserv_id.clone());
        out.push(r);
    }
    out
}

/// The domain of an address or of a bare domain (`@d`, `u@d`, `d`), lower case.
fn domain_of(v: &str) -> String {
    let v = v.trim().trim_end_matches('.');
    v.rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or(v)
        .to_ascii_lowercase()
}

/// Relaxed alignment (DMARC's, without a public-suffix list): the same
/// domain, or one a subdomain of the other, where the shorter has at least
/// two labels (so `com` aligns with nothing).
pub fn aligned(a: &str, b: &str) -> bool {
    let (a, b) = (domain_of(a), domain_of(b));
    if a.is_empty() || b.is_empty() {
        return false;
    }
    let (short, long) = if a.len() <= b.len() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    short.contains('.') && (long == short || long.ends_with(&format!(".{short}")))
}

/// Whether `r` is a pass that authenticates `from_domain`: DKIM through its
/// signing domain (`header.d`, or `header.i`), SPF through the envelope
/// sender (`smtp.mailfrom`), each aligned with the From domain. Nothing
/// else in the header (other properties, comments) counts.
pub fn passes_for(r: &MethodResult, from_domain: &str) -> bool {
    if r.result != "pass" {
        return false;
    }
    let by = match r.method.as_str() {
        "dkim" => r.prop("header.d").or_else(|| r.prop("header.i")),
        "spf" => r.prop("smtp.mailfrom"),
        _ => None,
    };
    by.is_some_and(|d| aligned(d, from_domain))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted() -> Vec<String> {
        vec!["mx.example.com".into(), "filter.example.com".into()]
    }

    fn verdict(headers: &[&str], from_domain: &str) -> bool {
        let h: Vec<String> = headers.iter().map(|s| s.to_string()).collect();
        trusted_results(&h, &trusted())
            .iter()
            .flat_map(|r| r.results.iter())
            .any(|r| passes_for(r, from_domain))
    }

    #[test]
    fn a_real_pass_from_the_trusted_server_counts() {
        let h = "mx.example.com; dkim=pass (2048-bit key) header.d=example.com header.s=sel; spf=pass smtp.mailfrom=alice@example.com";
        assert!(verdict(&[h], "example.com"));
        let spf = "mx.example.com 1; spf=pass smtp.mailfrom=bounce@mail.example.com";
        assert!(verdict(&[spf], "example.com"), "relaxed alignment");
    }

    #[test]
    fn a_header_below_the_receiving_servers_own_does_not_count() {
        let real = "mx.example.com; dkim=fail header.d=example.com";
        let forged = "mx.example.com; dkim=pass header.d=example.com";
        assert!(!verdict(&[real, forged], "example.com"));
        let other_server = "mx2.example.com; dkim=none";
        assert!(!verdict(&[other_server, forged], "example.com"));
        // Two trusted hops, each with its own header, both count.
        let filter = "filter.example.com; spf=none";
        assert!(verdict(&[filter, forged], "example.com"));
        assert!(!verdict(&[filter, real, forged], "example.com"));
    }

    #[test]
    fn a_pass_for_another_domain_does_not_count() {
        for h in [
            "mx.example.com; dkim=pass header.d=evil.test header.s=example.com",
            "mx.example.com; spf=pass smtp.mailfrom=evil.test smtp.helo=example.com",
            "mx.example.com; dkim=pass (example.com) header.d=evil.test",
            "mx.example.com; dkim=pass header.d=\"evil.test\" policy.note=example.com",
            "mx.example.com; dmarc=pass header.from=example.com",
            "mx.example.com; spf=pass smtp.mailfrom=example.com.evil.test",
            "mx.example.com; dkim=pass header.d=com",
        ] {
            assert!(!verdict(&[h], "example.com"), "{h}");
        }
    }

    #[test]
    fn parsing_keeps_quotes_and_drops_comments() {
        let r = parse("mx.example.com (postfix; v=1); dkim=pass (good sig; ok) header.i=\"@example.com\"; spf=softfail").unwrap();
        assert_eq!(r.authserv_id, "mx.example.com");
        assert_eq!(r.results.len(), 2);
        assert_eq!(r.results[0].prop("header.i"), Some("@example.com"));
        assert_eq!(r.results[1].result, "softfail");
        assert!(parse("").is_none());
    }
}
