//! Golden tests: every `tests/fixtures/eml/*.eml` is parsed as it is on disk
//! (CRLF, as on the wire) and again with LF line endings, and must match the
//! `*.expected.json` beside it.
//!
//! The expected file holds what the parse derives (subject, ids, addresses,
//! attachment names, automatic reasons …, `text_start` = the first 80
//! characters of `text`), plus hand-written `text_contains` / `text_lacks`
//! lists. `POSTDESK_BLESS=1 cargo test --lib golden` rewrites the derived
//! part from the current code and keeps the hand-written lists; review the
//! diff before committing it. `POSTDESK_DUMP=1` prints every parsed text.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::{Inbound, parse};

/// The fixtures so far (the first brief asked for 17; issue 15 added ten);
/// more are welcome, fewer means some went missing.
const AT_LEAST: usize = 32;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/eml")
}

fn fixtures() -> Vec<PathBuf> {
    let dir = fixture_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading fixture folder {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files
}

fn expected_path(eml: &Path) -> PathBuf {
    eml.with_extension("expected.json")
}

/// What we compare. `with_sizes`: attachment sizes and first bytes (LF
/// changes the bytes of text attachments and attached mails, so only the
/// CRLF run checks them).
fn summary(m: &Inbound, with_sizes: bool) -> Map<String, Value> {
    let attachments: Vec<Value> = m
        .attachments
        .iter()
        .map(|a| {
            let mut o = json!({ "name": a.name, "content_type": a.content_type });
            if with_sizes {
                o["size"] = json!(a.data.len());
                // The first bytes, readable: shows the content was decoded
                // (`%PDF-1.4`, `\x89PNG`), not left as base64.
                let head: String = a
                    .data
                    .iter()
                    .take(8)
                    .flat_map(|&b| std::ascii::escape_default(b))
                    .map(char::from)
                    .collect();
                o["head"] = json!(head);
            }
            o
        })
        .collect();
    let message_id = if m.synthetic_id && !with_sizes {
        // A hash of the bytes: different once the line endings change.
        "(synthetic)".to_string()
    } else {
        m.message_id.clone()
    };
    let json = json!({
        "subject": m.subject,
        "from": m.from.as_ref().map(|f| f.to_string()),
        "to": m.to.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
        "message_id": message_id,
        "synthetic_id": m.synthetic_id,
        "in_reply_to": m.in_reply_to,
        "references": m.references,
        "date": m.date,
        "text_start": m.text.chars().take(80).collect::<String>(),
        "has_html": m.html.is_some(),
        "attachments": attachments,
        "auto_reasons": m.auto.reasons.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        "suppress_auto_reply": m.auto.suppress_auto_reply,
        "sender_priority": m.sender_priority,
        "loop_markers": m.loop_markers,
        "looks_chinese": m.looks_chinese(),
    });
    match json {
        Value::Object(map) => map,
        _ => unreachable!("json! of an object literal"),
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Differences between the expected file and one parse, as readable lines.
fn check(expected: &Map<String, Value>, m: &Inbound, crlf: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let actual = summary(m, crlf);
    for (key, value) in &actual {
        let mut want = expected.get(key).cloned().unwrap_or(Value::Null);
        if key == "attachments"
            && !crlf
            && let Value::Array(items) = &mut want
        {
            for item in items {
                if let Value::Object(o) = item {
                    o.remove("size");
                    o.remove("head");
                }
            }
        }
        if key == "message_id" && !crlf && m.synthetic_id {
            want = json!("(synthetic)");
        }
        if &want != value {
            problems.push(format!("{key}: expected {want}, got {value}"));
        }
    }
    // What every text must be, whatever the fixture.
    if m.text.contains('\r') {
        problems.push("text contains CR".into());
    }
    if m.text.contains("\n\n\n") {
        problems.push("text has a run of blank lines".into());
    }
    if m.text
        .lines()
        .any(|l| l != "-- " && l.ends_with(char::is_whitespace))
    {
        problems.push("text has trailing whitespace".into());
    }
    for needle in strings(expected.get("text_contains")) {
        if !m.text.contains(&needle) {
            problems.push(format!("text does not contain {needle:?}"));
        }
    }
    for needle in strings(expected.get("text_lacks")) {
        if m.text.contains(&needle) {
            problems.push(format!("text contains {needle:?}"));
        }
    }
    problems
}

#[test]
fn fixture_folder_is_not_empty() {
    let n = fixtures().len();
    assert!(
        n >= AT_LEAST,
        "only {n} .eml fixtures in {}",
        fixture_dir().display()
    );
}

#[test]
fn fixtures_are_crlf_on_disk() {
    for eml in fixtures() {
        let raw = std::fs::read(&eml).expect("read fixture");
        let header_end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("{}: no CRLF header end", eml.display()));
        assert!(
            !raw[..header_end]
                .windows(2)
                .any(|w| w[1] == b'\n' && w[0] != b'\r'),
            "{}: bare LF in the header",
            eml.display()
        );
    }
}

#[test]
fn fixtures_match_expected() {
    let bless = std::env::var_os("POSTDESK_BLESS").is_some();
    let mut failures = Vec::new();
    for eml in fixtures() {
        let name = eml
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let raw = std::fs::read(&eml).expect("read fixture");
        let crlf = match parse(&raw) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        if std::env::var_os("POSTDESK_DUMP").is_some() {
            println!(
                "===== {name}\n{}\n----- html: {:?}",
                crlf.text,
                crlf.html.as_ref().map(|h| h.len())
            );
        }
        let exp_path = expected_path(&eml);
        let existing: Option<Map<String, Value>> = std::fs::read_to_string(&exp_path)
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok());
        if bless {
            let mut out = summary(&crlf, true);
            for key in ["text_contains", "text_lacks"] {
                let kept = existing.as_ref().and_then(|e| e.get(key)).cloned();
                out.insert(key.into(), kept.unwrap_or_else(|| json!([])));
            }
            let text = serde_json::to_string_pretty(&Value::Object(out)).expect("json") + "\n";
            std::fs::write(&exp_path, text).expect("write expected file");
            continue;
        }
        let Some(expected) = existing else {
            failures.push(format!("{name}: no readable {}", exp_path.display()));
            continue;
        };
        if strings(expected.get("text_contains")).is_empty() {
            failures.push(format!(
                "{name}: text_contains is empty; say what the text must hold"
            ));
        }
        let lf_raw: Vec<u8> = {
            let mut v = Vec::with_capacity(raw.len());
            let mut i = 0;
            while i < raw.len() {
                if raw[i] == b'\r' && raw.get(i + 1) == Some(&b'\n') {
                    i += 1;
                    continue;
                }
                v.push(raw[i]);
                i += 1;
            }
            v
        };
        let lf = match parse(&lf_raw) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{name} (LF): {e}"));
                continue;
            }
        };
        for (variant, m, is_crlf) in [("CRLF", &crlf, true), ("LF", &lf, false)] {
            let problems = check(&expected, m, is_crlf);
            if !problems.is_empty() {
                failures.push(format!(
                    "{name} ({variant}):\n  {}\n  text was: {:?}",
                    problems.join("\n  "),
                    m.text
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "golden mismatches:\n{}",
        failures.join("\n")
    );
}
