//! Decoding bytes whose charset is missing, wrong or unknown.
//!
//! Unlabelled 8-bit text (raw bytes in a header, a body part without a
//! charset) is read with evidence, strongest first:
//! 1. UTF-8, when the bytes are valid UTF-8.
//! 2. The charsets the mail itself declares ([`Evidence`]: the `Content-Type`
//!    of the part the bytes belong to, the labels of encoded words beside
//!    them, the text parts of the mail), each taken when it decodes cleanly
//!    and the text is not implausible.
//! 3. The charsets of the mailbox's language, when an admin set one, likewise.
//! 4. The most plausible reading among the declared charsets and
//!    GB18030, windows-1252, Big5, Shift_JIS and EUC-KR.
//!
//! "Decodes cleanly" is not enough on its own: a Latin-1 letter followed by
//! an ASCII letter (`å`+`v`, `ä`+`g`, `ç`+`a`) is a valid GBK pair, so
//! `Håvard` and `Formação` decode "cleanly" as GBK into rare ideographs, and
//! raw Shift_JIS does too. Plausibility ([`plausibility`]) therefore scores
//! each reading by what real text is made of: common characters of one
//! script. For CJK the frequency tiers come from the charsets themselves
//! (GB2312 level 1, Big5's frequent characters, JIS level 1, the 2,350
//! Hangul of KS X 1001) plus a short list of the most frequent characters of
//! each language; Latin text is judged by its words (an accented letter
//! among ASCII letters of one case pattern is likely, a run of four accented
//! capitals is not); private-use code points, C1 controls and replacement
//! characters are decoding failures.
//!
//! The same scoring decides when an encoded word's label lies (declared
//! ISO-2022-JP, bytes in Shift_JIS): the label wins when it decodes cleanly,
//! else the most plausible reading ([`decode_labelled`]).

use std::collections::HashSet;
use std::sync::OnceLock;

use mail_parser::decoders::charsets::map::charset_decoder;

use crate::lang::Lang;

/// True for labels mail-parser (or Rust itself, for UTF-8) can decode.
pub(super) fn is_known(label: &str) -> bool {
    is_utf8_label(label) || charset_decoder(label.trim().as_bytes()).is_some()
}

fn is_utf8_label(label: &str) -> bool {
    let l = label.trim().trim_matches('"');
    l.eq_ignore_ascii_case("utf-8") || l.eq_ignore_ascii_case("utf8")
}

/// True for `us-ascii` and its aliases: a label that 8-bit bytes contradict.
pub(super) fn is_ascii_label(label: &str) -> bool {
    let l = label.trim().trim_matches('"');
    [
        "us-ascii",
        "ascii",
        "us_ascii",
        "ansi_x3.4-1968",
        "iso646-us",
    ]
    .iter()
    .any(|a| l.eq_ignore_ascii_case(a))
}

/// Decodes with a named charset; `None` when the label is unknown.
pub(super) fn decode_with(label: &str, bytes: &[u8]) -> Option<String> {
    if is_utf8_label(label) {
        return Some(String::from_utf8_lossy(bytes).into_owned());
    }
    charset_decoder(label.trim().trim_matches('"').as_bytes()).map(|decode| decode(bytes))
}

/// What a mail says about the charsets it is written in, strongest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Evidence {
    /// Canonical labels (see `canonical`), without duplicates.
    declared: Vec<String>,
    /// The mailbox's language, when an admin set one.
    language: Option<Lang>,
}

impl Evidence {
    pub(super) fn new(language: Option<Lang>) -> Evidence {
        Evidence {
            declared: Vec::new(),
            language,
        }
    }

    /// Adds a declared charset (after those already known). Labels that say
    /// nothing about 8-bit bytes (US-ASCII, the UTF family) and unknown
    /// ones are left out.
    pub(super) fn declare(&mut self, label: &str) {
        if let Some(c) = canonical(label)
            && !self.declared.contains(&c)
        {
            self.declared.push(c);
        }
    }

    /// Adds the labels of the RFC 2047 encoded words in `text`, in order.
    pub(super) fn declare_encoded_words(&mut self, text: &[u8]) {
        let mut rest = text;
        while let Some(p) = find(rest, b"=?") {
            rest = &rest[p + 2..];
            let end = rest
                .iter()
                .take(64)
                .position(|&b| b == b'?' || b == b'*' || b.is_ascii_whitespace());
            if let Some(e) = end
                && rest.get(e) != Some(&b' ')
                && let Ok(label) = std::str::from_utf8(&rest[..e])
            {
                self.declare(label);
            }
        }
    }

    /// The mailbox's language, when an admin set one.
    pub(super) fn language(&self) -> Option<Lang> {
        self.language
    }

    /// The evidence for one header block: the charset of its own part's
    /// `Content-Type`, then its encoded words' labels, then the mail's.
    pub(super) fn for_block(&self, own: Option<&str>, block: &[u8]) -> Evidence {
        let mut ev = Evidence::new(self.language);
        if let Some(l) = own {
            ev.declare(l);
        }
        ev.declare_encoded_words(block);
        for l in &self.declared {
            ev.declare(l);
        }
        ev
    }

    /// A copy with `labels` in front: evidence closer to the bytes.
    pub(super) fn with_first<'a>(&self, labels: impl IntoIterator<Item = &'a str>) -> Evidence {
        let mut ev = Evidence::new(self.language);
        for l in labels {
            ev.declare(l);
        }
        for l in &self.declared {
            ev.declare(l);
        }
        ev
    }
}

/// One name per decoder family, so `gb2312` and `GBK` are one candidate;
/// `None` for labels that tell nothing about 8-bit bytes or are unknown.
fn canonical(label: &str) -> Option<String> {
    let l = label
        .trim()
        .trim_matches('"')
        .to_ascii_lowercase()
        .replace('_', "-");
    if is_ascii_label(&l) || l.starts_with("utf") || l.starts_with("unicode") {
        return None;
    }
    let family = match l.as_str() {
        // GB18030 is a superset of GBK, which is a superset of GB2312.
        "gb2312" | "gbk" | "gb18030" | "cp936" | "ms936" | "windows-936" | "x-gbk" | "euc-cn"
        | "csgb2312" | "chinese" | "gb-2312" | "gb-2312-80" => "gb18030",
        "iso-8859-1" | "latin1" | "l1" | "iso8859-1" | "cp1252" | "windows-1252" | "cp819"
        | "ibm819" | "iso-ir-100" | "csisolatin1" => "windows-1252",
        "big5" | "big5-hkscs" | "cn-big5" | "csbig5" | "x-x-big5" => "big5",
        "shift-jis" | "sjis" | "ms932" | "cp932" | "windows-31j" | "x-sjis" | "csshiftjis"
        | "ms-kanji" => "shift_jis",
        "euc-kr" | "ks-c-5601-1987" | "ks-c-5601" | "ksc5601" | "cp949" | "korean"
        | "csksc56011987" | "windows-949" | "uhc" => "euc-kr",
        other => return charset_decoder(other.as_bytes()).map(|_| other.to_string()),
    };
    Some(family.to_string())
}

/// The charsets a language is usually written in.
fn language_charsets(lang: Lang) -> &'static [&'static str] {
    match lang {
        Lang::ZhCn => &["gb18030", "big5"],
        Lang::En => &["windows-1252"],
    }
}

/// The candidates of the last step, in the order ties are broken: GB18030
/// first, as mail to this desk most often is.
const CANDIDATES: &[&str] = &["gb18030", "windows-1252", "big5", "shift_jis", "euc-kr"];

/// Related charsets to try first when a label lies: the ones clients
/// mislabel as it.
fn relatives(label: &str) -> &'static [&'static str] {
    match canonical(label).as_deref() {
        Some("iso-2022-jp" | "csiso2022jp") => &["shift_jis", "euc-jp"],
        Some("shift_jis") => &["shift_jis", "euc-jp"],
        Some("euc-jp") => &["euc-jp", "shift_jis"],
        Some("gb18030") => &["gb18030", "big5"],
        Some("big5") => &["big5", "gb18030"],
        Some("euc-kr" | "iso-2022-kr") => &["euc-kr"],
        _ => &[],
    }
}

/// Text without a (usable) charset label, read with evidence (module doc).
pub(super) fn decode_unlabelled(bytes: &[u8], ev: &Evidence) -> String {
    if let Ok(s) = std::str::from_utf8(bytes)
        && is_utf8_text(s, ev)
    {
        return s.to_string();
    }
    let label = choose(&[bytes], ev);
    decode_with(&label, bytes).unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned())
}

/// True when `bytes` are UTF-8 text (valid, and not better read otherwise;
/// see [`is_utf8_text`]).
pub(super) fn is_utf8(bytes: &[u8], ev: &Evidence) -> bool {
    std::str::from_utf8(bytes.trim_ascii()).is_ok_and(|s| is_utf8_text(s, ev))
}

/// Bytes with a label that may lie: the label when it decodes cleanly, else
/// the most plausible reading, the label's usual impostors first.
pub(super) fn decode_labelled(label: &str, bytes: &[u8], ev: &Evidence) -> String {
    if let Some(text) = decode_with(label, bytes)
        && is_clean(&text)
    {
        return text;
    }
    if is_utf8(bytes, ev) {
        // UTF-8 under a wrong label: the commonest lie of all.
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let ev = ev.with_first(relatives(label).iter().copied().chain([label]));
    let chosen = choose(&[bytes], &ev);
    decode_with(&chosen, bytes).unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned())
}

/// The charset that reads all `samples` best (steps 2 to 4 of the module
/// doc). The samples are read together: one client wrote them all, and a
/// short name alone says less than the name and the subject together.
///
/// A declared charset, then one of the mailbox's language, is taken when it
/// decodes cleanly, is plausible, and no other reading is clearly more
/// plausible ([`DECLARED_MARGIN`], [`LANGUAGE_MARGIN`]): evidence decides
/// between readings the bytes leave open, and cannot make mojibake of text
/// the bytes show to be something else (a part labelled ISO-8859-1 beside
/// a raw GBK subject).
pub(super) fn choose(samples: &[&[u8]], ev: &Evidence) -> String {
    choose_scored(samples, ev).0
}

/// [`choose`], with the plausibility of the reading chosen.
fn choose_scored(samples: &[&[u8]], ev: &Evidence) -> (String, f32) {
    let samples: Vec<&[u8]> = samples.iter().map(|s| sample_of(s)).collect();
    let reading = |label: &str| -> Option<(f32, bool)> {
        let home = home_of(label);
        let (mut total, mut count) = (0.0, 0);
        let mut clean = true;
        for s in &samples {
            let text = decode_with(label, s)?;
            clean &= is_clean(&text);
            let (t, n) = score(&text, home);
            total += t;
            count += n;
        }
        Some((total / count.max(1) as f32, clean))
    };
    let language = ev.language.map_or(&[][..], language_charsets);
    let preferred: Vec<(&str, f32)> = ev
        .declared
        .iter()
        .map(|l| (l.as_str(), DECLARED_MARGIN))
        .chain(language.iter().map(|&l| (l, LANGUAGE_MARGIN)))
        .collect();
    let mut readings: Vec<(&str, f32, bool)> = Vec::new();
    for label in preferred
        .iter()
        .map(|&(l, _)| l)
        .chain(CANDIDATES.iter().copied())
    {
        if !readings.iter().any(|(l, _, _)| *l == label)
            && let Some((p, clean)) = reading(label)
        {
            readings.push((label, p, clean));
        }
    }
    // The first of the most plausible, so ties go to the evidence, then
    // to the order of CANDIDATES.
    let best = readings
        .iter()
        .fold(None::<&(&str, f32, bool)>, |b, r| match b {
            Some(b) if b.1 >= r.1 => Some(b),
            _ => Some(r),
        });
    let Some(&(best_label, best_p, _)) = best else {
        return ("windows-1252".to_string(), -2.0);
    };
    for (label, margin) in preferred {
        if let Some(&(_, p, true)) = readings.iter().find(|(l, _, _)| *l == label)
            && p >= 0.0
            && p + margin >= best_p
        {
            return (label.to_string(), p);
        }
    }
    (best_label.to_string(), best_p)
}

/// How much less plausible than the best a declared charset may read and
/// still be taken.
const DECLARED_MARGIN: f32 = 0.35;
/// The same for the charsets of the mailbox's language: weaker evidence.
const LANGUAGE_MARGIN: f32 = 0.2;

/// At most the first 16 KB of `bytes`, cut before a non-ASCII byte so no
/// character is split: enough to judge a body by, cheap for big ones.
fn sample_of(bytes: &[u8]) -> &[u8] {
    const CAP: usize = 16 * 1024;
    if bytes.len() <= CAP {
        return bytes;
    }
    let cut = bytes[..CAP]
        .iter()
        .rposition(|b| b.is_ascii())
        .unwrap_or(CAP);
    &bytes[..cut]
}

/// No sign of a decoding failure: no replacement character, no C1 control,
/// nothing in the private use area (where GBK puts unassigned codes).
pub(super) fn is_clean(text: &str) -> bool {
    !text.chars().any(is_failure)
}

fn is_failure(c: char) -> bool {
    matches!(c as u32, 0xFFFD | 0x80..=0x9F | 0xE000..=0xF8FF | 0xFFFE | 0xFFFF | 0xF0000..)
}

/// True when `label` is a multi-byte CJK charset, whose lies (ISO-2022-JP
/// written in Shift_JIS) show as decoding failures worth a second reading.
pub(super) fn is_cjk_label(label: &str) -> bool {
    matches!(
        home_of(label),
        Home::Gb | Home::Big5 | Home::Japanese | Home::Korean
    )
}

fn is_cjk_home(home: Home) -> bool {
    matches!(home, Home::Gb | Home::Big5 | Home::Japanese | Home::Korean)
}

/// Whether bytes that are valid UTF-8 are UTF-8. Nearly always, but a short
/// GBK string can be valid UTF-8 too: 系统 (CF B5 CD B3) reads as `ϵͳ`,
/// 魏巍 as `κΡ`. UTF-8 text is taken unless its reading is implausible and
/// another charset reads the bytes far better.
fn is_utf8_text(text: &str, ev: &Evidence) -> bool {
    let nonascii = text.chars().filter(|c| !c.is_ascii()).count();
    if nonascii == 0 {
        return true;
    }
    let as_utf8 = plausibility(text, Home::Unicode);
    // Two characters (谢谢 is `лл`) prove little; more, when plausible, do.
    let margin = match nonascii {
        1 | 2 => SHORT_UTF8_MARGIN,
        _ if as_utf8 >= 0.0 => return true,
        _ => UTF8_MARGIN,
    };
    choose_scored(&[text.as_bytes()], ev).1 <= as_utf8 + margin
}

/// How much more plausible another reading must be to overrule valid UTF-8.
const UTF8_MARGIN: f32 = 0.8;
/// The same for UTF-8 of one or two characters.
const SHORT_UTF8_MARGIN: f32 = 0.15;

/// The script a charset is made for, which sets what is plausible in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Home {
    /// windows-1252 and the other Latin single-byte charsets.
    Latin,
    /// Single-byte charsets of other alphabets (Cyrillic, Greek, Hebrew …).
    Alphabet,
    /// GB2312, GBK, GB18030: simplified Chinese.
    Gb,
    /// Big5: traditional Chinese.
    Big5,
    Japanese,
    Korean,
    /// UTF-8: any script, each judged as its own charsets would be.
    Unicode,
}

fn home_of(label: &str) -> Home {
    let l = label.to_ascii_lowercase().replace('_', "-");
    match canonical(&l).as_deref().unwrap_or(&l) {
        "gb18030" | "hz-gb-2312" => Home::Gb,
        "big5" => Home::Big5,
        "shift_jis" | "euc-jp" | "iso-2022-jp" | "csiso2022jp" => Home::Japanese,
        "euc-kr" | "iso-2022-kr" => Home::Korean,
        l if l.starts_with("utf") => Home::Unicode,
        l if l.starts_with("koi8")
            || l.contains("1251")
            || l.contains("1253")
            || l.contains("1255")
            || l.contains("1256")
            || l.contains("866")
            || l.contains("cyrillic")
            || l.contains("tis")
            || [
                "iso-8859-5",
                "iso-8859-6",
                "iso-8859-7",
                "iso-8859-8",
                "iso-8859-11",
            ]
            .iter()
            .any(|p| l.starts_with(p)) =>
        {
            Home::Alphabet
        }
        _ => Home::Latin,
    }
}

/// How plausible `text` is as real text in a charset made for `home`, per
/// non-ASCII character: about 1 for ordinary text of one script, below 0
/// for mojibake, -2 for decoding failures. See the module doc.
fn plausibility(text: &str, home: Home) -> f32 {
    let (total, n) = score(text, home);
    total / n.max(1) as f32
}

/// The sum behind [`plausibility`] and the number of characters it is over.
fn score(text: &str, home: Home) -> (f32, usize) {
    let chars: Vec<char> = text.chars().collect();
    let words = !is_cjk_home(home);
    let hangul_runs = if home == Home::Korean {
        run_bounds(&chars, is_hangul)
    } else {
        Vec::new()
    };
    let (mut total, mut count) = (0.0, 0);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if words && is_word_letter(c) {
            let start = i;
            while i < chars.len() && is_word_letter(chars[i]) {
                i += 1;
            }
            let word = &chars[start..i];
            for (c, s) in word.iter().zip(word_scores(word, home)) {
                if !c.is_ascii() {
                    total += s;
                    count += 1;
                }
            }
            continue;
        }
        if !c.is_ascii() {
            let mut s = char_score(c, home);
            let before = i.checked_sub(1).and_then(|j| chars.get(j)).copied();
            let after = chars.get(i + 1).copied();
            // An ideograph glued to ASCII letters on both sides ("H䗞ard")
            // is what Latin-1 read as a CJK charset looks like.
            let letter = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphabetic());
            if is_cjk(c) && letter(before) && letter(after) {
                s -= 0.6;
            }
            // Hangul beside hanja is what Chinese read as EUC-KR looks like;
            // short words of Hangul between spaces are what Korean looks
            // like (Chinese puts no spaces between its words).
            let hangul = |c: Option<char>| c.is_some_and(is_hangul);
            if home == Home::Korean && is_han(c) && (hangul(before) || hangul(after)) {
                s -= 0.4;
            }
            if home == Home::Korean && is_hangul(c) && is_short_word(&chars, hangul_runs[i]) {
                s += 0.25;
            }
            total += s;
            count += 1;
        }
        i += 1;
    }
    (total, count)
}

/// For each character, the first and last index of the run of characters
/// around it that `pred` holds for (itself alone when it does not): one
/// pass, so long runs stay linear.
fn run_bounds(chars: &[char], pred: impl Fn(char) -> bool) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = (0..chars.len()).map(|i| (i, i)).collect();
    let mut i = 0;
    while i < chars.len() {
        if !pred(chars[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && pred(chars[i]) {
            i += 1;
        }
        for b in &mut out[start..i] {
            *b = (start, i - 1);
        }
    }
    out
}

/// True when the run of Hangul `start..=end` is one to six syllables that a
/// space separates from more text, with a space, punctuation or the end on
/// its other side: a Korean word among others.
fn is_short_word(chars: &[char], (start, end): (usize, usize)) -> bool {
    let (before, after) = (
        start.checked_sub(1).and_then(|j| chars.get(j)),
        chars.get(end + 1),
    );
    let edge = |c: Option<&char>| c.is_none_or(|c| c.is_whitespace() || c.is_ascii_punctuation());
    let space = |c: Option<&char>| c.is_some_and(|c| *c == ' ');
    end - start < 6 && edge(before) && edge(after) && (space(before) || space(after))
}

/// Letters that make up words of alphabetic scripts (CJK left out; `ª`
/// and `º` are symbols, whatever Unicode says).
fn is_word_letter(c: char) -> bool {
    c.is_alphabetic() && !is_cjk(c) && !matches!(c, 'ª' | 'º' | 'µ')
}

/// The score of each letter of one word of an alphabetic script: 0 for
/// ASCII; +1 for a non-ASCII letter when the word looks like a word, less
/// when it does not.
fn word_scores(word: &[char], home: Home) -> Vec<f32> {
    let ascii = word.iter().filter(|c| c.is_ascii()).count();
    let others = word.len() - ascii;
    let latin = |c: char| matches!(c as u32, 0xC0..=0x24F | 0x1E00..=0x1EFF);
    let foreign = word.iter().filter(|&&c| !c.is_ascii() && !latin(c)).count();
    let runs = run_bounds(word, |c| !c.is_ascii());
    (0..word.len())
        .map(|i| {
            let c = word[i];
            if c.is_ascii() {
                return 0.0;
            }
            let mut s: f32 = if foreign > 0 {
                // Cyrillic, Greek …: plausible as whole words of that
                // script, not mixed into ASCII ones.
                if ascii == 0 && foreign == others && common_letter(c) {
                    0.8
                } else {
                    -0.5
                }
            } else if ascii == 0 {
                // A letter on its own ("à"): real in UTF-8, where no other
                // charset's bytes look like it; one Latin-1 byte proves less.
                match (others, home) {
                    (1, Home::Unicode) => 0.6,
                    (1, _) => 0.3,
                    _ => -0.3,
                }
            } else if (c as u32) >= 0x180 {
                // Latin Extended-B and beyond: Romanian ș, Vietnamese ơ, but rare.
                0.5
            } else {
                1.0
            };
            // Part of a run of three or more non-ASCII Latin letters?
            let (start, end) = runs[i];
            if foreign == 0 && end - start >= 2 {
                s = s.min(-0.5);
            }
            // A capital after a small letter inside a word ("õÑ", "κΡ").
            let before = i.checked_sub(1).map(|j| word[j]);
            let after = word.get(i + 1).copied();
            if (c.is_uppercase() && before.is_some_and(char::is_lowercase))
                || (c.is_lowercase() && after.is_some_and(char::is_uppercase))
            {
                s = s.min(-0.7);
            }
            s
        })
        .collect()
}

/// The everyday letters of the other alphabets (basic Greek, Russian and
/// kin, Hebrew, Arabic, Thai), as opposed to archaic and rare ones.
fn common_letter(c: char) -> bool {
    matches!(c as u32,
        0x0386..=0x03CE | 0x0400..=0x045F | 0x05D0..=0x05EA | 0x0620..=0x064A | 0x0E01..=0x0E3A | 0x0E40..=0x0E4E)
}

/// The score of one non-ASCII character outside alphabetic words.
fn char_score(c: char, home: Home) -> f32 {
    let cjk_home = is_cjk_home(home) || home == Home::Unicode;
    if is_failure(c) {
        return -2.0;
    }
    if is_han(c) {
        let t = tiers();
        return match home {
            // GBK has traditional characters too, which mainland mail
            // does not use: GB readings are judged by simplified lists.
            Home::Gb | Home::Unicode if t.top_gb.contains(&c) => 1.0,
            Home::Big5 | Home::Unicode if t.top_big5.contains(&c) => 1.0,
            Home::Japanese | Home::Unicode if t.top_ja.contains(&c) => 1.0,
            Home::Gb if t.common_gb.contains(&c) => 0.6,
            Home::Big5 if t.common_big5.contains(&c) => 0.6,
            Home::Japanese if t.common_ja.contains(&c) => 0.6,
            Home::Unicode
                if t.common_gb.contains(&c)
                    || t.common_big5.contains(&c)
                    || t.common_ja.contains(&c) =>
            {
                0.6
            }
            Home::Gb | Home::Big5 | Home::Japanese | Home::Unicode => -0.4,
            // Hanja: rare in Korean mail today.
            Home::Korean => -0.6,
            Home::Latin | Home::Alphabet => -1.0,
        };
    }
    if is_halfwidth_kana(c) {
        // Rare in mail, and what Latin-1 read as Shift_JIS turns into.
        return -0.5;
    }
    if matches!(c as u32, 0x3041..=0x30FF) {
        return match home {
            Home::Japanese | Home::Unicode => 1.0,
            Home::Gb | Home::Big5 | Home::Korean => -0.3,
            Home::Latin | Home::Alphabet => -1.0,
        };
    }
    if is_hangul(c) {
        let t = tiers();
        return match home {
            Home::Korean | Home::Unicode if t.top_ko.contains(&c) => 1.0,
            Home::Korean | Home::Unicode if t.common_ko.contains(&c) => 0.6,
            Home::Korean | Home::Unicode => -0.3,
            _ => -0.5,
        };
    }
    if matches!(c as u32, 0x3131..=0x318E) {
        return if home == Home::Korean { 0.0 } else { -0.5 };
    }
    // CJK punctuation and full-width forms: ，。：“ in Chinese text.
    if matches!(c as u32, 0x3000..=0x303F | 0xFF01..=0xFF5E | 0xFFE0..=0xFFE6) {
        return if cjk_home { 0.6 } else { -0.5 };
    }
    if matches!(c as u32, 0x1F000..=0x1FAFF | 0x2600..=0x27BF) {
        // Emoji and dingbats: in any charset that has them, they are meant.
        return 0.5;
    }
    if "–—‘’‚“”„•…€™\u{A0}".contains(c) {
        return 0.3;
    }
    if "£§©«®°±·»¡¿²³½×÷".contains(c) {
        return if home == Home::Unicode || !cjk_home {
            0.3
        } else {
            0.0
        };
    }
    if "¢¤¥¦¨ª¬\u{AD}¯´¶¸¹º¼¾µ".contains(c) {
        return -0.5;
    }
    if "ƒ†‡ˆ‰‹›˜".contains(c) {
        return -0.8;
    }
    // IPA, spacing modifiers, combining marks on their own: what bytes of
    // another charset look like in UTF-8.
    if matches!(c as u32, 0x0250..=0x036F) {
        return -0.5;
    }
    if cjk_home && home != Home::Unicode {
        // Greek, Cyrillic, pinyin letters, box drawing: GBK and Shift_JIS
        // have rows of them, which Big5 and Latin-1 text land in.
        return -0.5;
    }
    match c as u32 {
        0x2190..=0x2BFF | 0x3200..=0x33FF => -0.5,
        _ if c.is_alphabetic() => 0.5,
        _ => 0.0,
    }
}

fn is_han(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x323AF)
}

fn is_hangul(c: char) -> bool {
    matches!(c as u32, 0xAC00..=0xD7A3)
}

fn is_halfwidth_kana(c: char) -> bool {
    matches!(c as u32, 0xFF61..=0xFF9F)
}

/// Ideographs, kana and Hangul.
fn is_cjk(c: char) -> bool {
    is_han(c)
        || is_hangul(c)
        || matches!(c as u32, 0x3041..=0x30FF | 0x31F0..=0x31FF | 0xFF61..=0xFF9F | 0x3131..=0x318E)
}

/// Which CJK characters are common, in two tiers per language.
struct Tiers {
    /// The most frequent hanzi of mail (simplified and traditional forms).
    top_gb: HashSet<char>,
    /// GB2312 level 1.
    common_gb: HashSet<char>,
    top_big5: HashSet<char>,
    /// Big5's frequently used characters.
    common_big5: HashSet<char>,
    top_ja: HashSet<char>,
    /// JIS X 0208 level 1.
    common_ja: HashSet<char>,
    top_ko: HashSet<char>,
    /// The 2,350 Hangul syllables of KS X 1001.
    common_ko: HashSet<char>,
}

/// The most frequent characters of ordinary Chinese text and of support
/// mail (printers, passwords, invoices), simplified forms.
const TOP_ZH_SIMPLIFIED: &str = "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运半候七必城父强步完深区即求品士转量空众技轻程告江语英基满式李息写呢识极令黄德收钱未持取设始版双历越史商千片容研像找友孩站广改议形委早房音火际则首单据导影失拿网香似专石若兵弟谁校读志飞观争究包组造落视济喜离虽坐集编宝谈府拉黑且随格尽讲布微怕母调局根曾准团段终乐切级克精哪官示冷域您谢邮箱登录密码印坏复附价账号器错误障申审批助支持客户端软硬盘载试修维护删除备份更新升级安装配置连接断线慢卡顿故查询确认通知会议室投影仪打印机复印扫描传真屏幕键鼠标显示登陆帐户邮件发送收到附件报价单合同发票订货款退换王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红梅鑫斌宇浩凯健俊帆帅旭宁婷雪琳晶颖倩欣慧佳鹏飞亮峰波辉建志云燕玲兰凤岚";

/// Traditional forms of frequent characters that differ from the simplified ones.
const TOP_ZH_TRADITIONAL: &str = "們個這來說為國時會對過學裡後麼與見經頭現樣發開動長還種點兩聲話兒給間電門關東無進實機從業應當體處總場書員報馬張難數車問題請謝郵號碼錯誤網絡腦統帳務器議單價壞錄復態變區轉義視觀認識讓論記邊風戰許聽氣師據導影雙歷組造醫試確連線斷慢顯幕鍵標傳錢買賣訂貨款換內處理協助聯絡謝您張劉陳楊黃趙吳孫馬鄭謝許韓馮鄧蕭葉蘇魏呂盧鍾譚陸範賈韋鄒閆龍陶賀顧龔萬錢嚴偉麗強軍勇傑濤剛華紅輝鵬飛峰雲燕玲蘭鳳嵐";

/// Frequent kanji of Japanese mail.
const TOP_JA: &str = "日本人大年一中会出十三二上下国行生事時分見前後今自月手方何言者気物地話作長社新高同学合私目問的家意思間発理業部内子女男明場会議室確認願申連絡件様株式社員送信受届表示設定印刷機";

/// Frequent Hangul syllables of Korean text and mail.
const TOP_KO: &str = "예약요청님께씨뢰제처결과고서이다는의에하고을가서지기로사한리대자도있나시인어정수아니들보일해게요습까제구주전부만스내상면소우오성장세비마여라거적원국경신미동방연교회문위중간진개물선관화실안합않것되없년때그말업드생감녕확탁립메계밀번호프린터김박최";

fn tiers() -> &'static Tiers {
    static TIERS: OnceLock<Tiers> = OnceLock::new();
    TIERS.get_or_init(|| {
        // The frequency-ordered blocks of each standard, read through the
        // same decoders as the mail.
        let block = |label: &str,
                     leads: std::ops::RangeInclusive<u8>,
                     trails: &[std::ops::RangeInclusive<u8>]| {
            let mut bytes = Vec::new();
            for lead in leads {
                for t in trails {
                    for trail in t.clone() {
                        bytes.extend_from_slice(&[lead, trail]);
                    }
                }
            }
            decode_with(label, &bytes)
                .unwrap_or_default()
                .chars()
                .filter(|&c| !c.is_ascii() && !is_failure(c))
                .collect::<HashSet<char>>()
        };
        let common_gb = block("gb18030", 0xB0..=0xD7, &[0xA1..=0xFE]);
        let common_big5 = block("big5", 0xA4..=0xC6, &[0x40..=0x7E, 0xA1..=0xFE]);
        let common_ja = block("shift_jis", 0x88..=0x98, &[0x40..=0x7E, 0x80..=0xFC]);
        let common_ko = block("euc-kr", 0xB0..=0xC8, &[0xA1..=0xFE]);
        Tiers {
            top_gb: TOP_ZH_SIMPLIFIED.chars().collect(),
            common_gb,
            // Big5 cannot produce simplified-only characters; the shared ones count.
            top_big5: TOP_ZH_SIMPLIFIED
                .chars()
                .chain(TOP_ZH_TRADITIONAL.chars())
                .collect(),
            common_big5,
            top_ja: TOP_JA.chars().collect(),
            common_ja,
            top_ko: TOP_KO.chars().collect(),
            common_ko,
        }
    })
}

/// A body part whose MIME label was missing, unknown or wrong. HTML may
/// still say its charset in a `<meta>` tag, which wins over guessing.
pub(super) fn decode_guessing(bytes: &[u8], is_html: bool, ev: &Evidence) -> String {
    if std::str::from_utf8(bytes).is_err()
        && is_html
        && let Some(label) = html_meta_charset(bytes)
        && let Some(text) = decode_with(&label, bytes)
    {
        return text;
    }
    decode_unlabelled(bytes, ev)
}

/// The charset named by `<meta charset=…>` or `<meta http-equiv … content="…;
/// charset=…">` in the first few kilobytes of an HTML document.
fn html_meta_charset(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(4096)];
    let lower: Vec<u8> = head.iter().map(u8::to_ascii_lowercase).collect();
    let mut from = 0;
    while let Some(pos) = find(&lower[from..], b"<meta") {
        let start = from + pos;
        let end = lower[start..]
            .iter()
            .position(|&b| b == b'>')
            .map_or(lower.len(), |e| start + e);
        let tag = &lower[start..end];
        if let Some(c) = find(tag, b"charset=") {
            let value: String = tag[c + 8..]
                .iter()
                .skip_while(|&&b| b == b'"' || b == b'\'' || b == b' ')
                .take_while(|&&b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
                .map(|&b| char::from(b))
                .collect();
            if !value.is_empty() {
                return Some(value);
            }
        }
        from = end;
    }
    None
}

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// One `=?charset?B|Q?text?=` at the start of `s`: charset, bytes, length.
pub(super) fn encoded_word(s: &str) -> Option<(String, Vec<u8>, usize)> {
    // Real words are under 100 bytes; the cap keeps a hostile run of `=?`
    // without `?=` from making this quadratic.
    let mut cap = s.len().min(1024);
    while !s.is_char_boundary(cap) {
        cap -= 1;
    }
    let body = s[..cap].strip_prefix("=?")?;
    let (raw_charset, body) = body.split_once('?')?;
    let (enc, body) = body.split_once('?')?;
    let end = body.find("?=")?;
    let text = &body[..end];
    if raw_charset.is_empty() || text.contains(char::is_whitespace) {
        return None;
    }
    // RFC 2231 allows a language after the charset: `utf-8*fr`.
    let charset = raw_charset
        .split('*')
        .next()
        .unwrap_or(raw_charset)
        .to_string();
    let bytes = if enc.eq_ignore_ascii_case("b") {
        mail_parser::decoders::base64::base64_decode(text.as_bytes())?
    } else if enc.eq_ignore_ascii_case("q") {
        q_decode(text.as_bytes())
    } else {
        return None;
    };
    let len = 2 + raw_charset.len() + 1 + enc.len() + 1 + end + 2;
    Some((charset, bytes, len))
}

fn q_decode(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'_' => out.push(b' '),
            b'=' => {
                let hex = text
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'='),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> Evidence {
        Evidence::default()
    }

    #[test]
    fn unlabelled_utf8_gbk_latin1() {
        assert_eq!(decode_unlabelled("你好".as_bytes(), &none()), "你好");
        assert_eq!(decode_unlabelled(b"\xc4\xe3\xba\xc3", &none()), "你好");
        assert_eq!(decode_unlabelled(b"caf\xe9", &none()), "café");
        assert_eq!(
            decode_unlabelled(b"\x93quoted\x94", &none()),
            "\u{201C}quoted\u{201D}"
        );
    }

    #[test]
    fn latin1_names_are_not_read_as_gbk() {
        // Each is valid GBK (a Latin-1 letter and the ASCII letter after it
        // make a pair), which is how they came out as CJK before.
        for (raw, want) in [
            (&b"H\xe5vard Nilsen"[..], "Håvard Nilsen"),
            (b"Hofj\xe4gerallee 12", "Hofjägerallee 12"),
            (b"Forma\xe7\xe3o", "Formação"),
            (b"S\xe3o Paulo", "São Paulo"),
            (b"\xc5ngstr\xf6m", "Ångström"),
            (b"Gr\xfc\xdfe aus M\xfcnchen", "Grüße aus München"),
            (b"\xc9COLE", "ÉCOLE"),
            (b"Ren\xe9e \x96 Fran\xe7ois", "Renée – François"),
        ] {
            assert_eq!(decode_unlabelled(raw, &none()), want);
        }
    }

    #[test]
    fn cjk_names_and_subjects_still_read() {
        for (raw, want) in [
            ("刘艳".encode_gbk(), "刘艳"),
            ("邮箱无法登录".encode_gbk(), "邮箱无法登录"),
            ("回复: 打印机坏了".encode_gbk(), "回复: 打印机坏了"),
            ("张三".encode_gbk(), "张三"),
            ("李伟".encode_gbk(), "李伟"),
        ] {
            assert_eq!(decode_unlabelled(&raw, &none()), want, "{want}");
        }
        // Shift_JIS (佐藤 さとう 会議室) and Big5 (林美玲 印表機故障), unlabelled.
        assert_eq!(
            decode_unlabelled(b"\x8d\xb2\x93\xa1 \x82\xb3\x82\xc6\x82\xa4", &none()),
            "佐藤 さとう"
        );
        assert_eq!(
            decode_unlabelled(b"\x89\xef\x8b\x63\x8e\xba", &none()),
            "会議室"
        );
        assert_eq!(
            decode_unlabelled(b"\xaaL\xac\xfc\xac\xc2", &none()),
            "林美玲"
        );
        assert_eq!(
            decode_unlabelled(b"\xa6L\xaa\xed\xbe\xf7\xac\x47\xbb\xd9", &none()),
            "印表機故障"
        );
        // EUC-KR: 김민수 님, 비밀번호 확인 부탁드립니다
        let ko = b"\xb1\xe8\xb9\xce\xbc\xf6 \xb4\xd4, \xba\xf1\xb9\xd0\xb9\xf8\xc8\xa3 \xc8\xae\xc0\xce \xba\xce\xc5\xb9\xb5\xe5\xb8\xb3\xb4\xcf\xb4\xd9";
        assert_eq!(
            decode_unlabelled(ko, &none()),
            "김민수 님, 비밀번호 확인 부탁드립니다"
        );
    }

    trait Gbk {
        fn encode_gbk(&self) -> Vec<u8>;
    }
    /// The GBK bytes of a few characters, by reverse lookup through the
    /// decoder (std has no encoder).
    impl Gbk for str {
        fn encode_gbk(&self) -> Vec<u8> {
            let mut out = Vec::new();
            for c in self.chars() {
                if c.is_ascii() {
                    out.push(c as u8);
                    continue;
                }
                let pair = (0x81..=0xFEu8)
                    .flat_map(|l| (0x40..=0xFEu8).map(move |t| [l, t]))
                    .find(|p| decode_with("gbk", p).as_deref() == Some(c.encode_utf8(&mut [0; 4])))
                    .expect("in GBK");
                out.extend_from_slice(&pair);
            }
            out
        }
    }

    #[test]
    fn declared_charsets_come_first() {
        // 你好 in Big5: as GBK, user-defined (private use) codes.
        let mut ev = Evidence::new(None);
        ev.declare("big5");
        assert_eq!(decode_unlabelled(b"\xa7A\xa6n", &ev), "你好");
        assert_eq!(
            decode_unlabelled(b"\xa7A\xa6n", &none()),
            "你好",
            "plausible as Big5 too"
        );
        // A declared charset that makes nonsense of the bytes is passed over.
        let mut latin = Evidence::new(None);
        latin.declare("iso-8859-1");
        assert_eq!(
            decode_unlabelled("刘艳".encode_gbk().as_slice(), &latin),
            "刘艳"
        );
        // … and one that fits wins over the default order.
        let mut sjis = Evidence::new(None);
        sjis.declare("Shift_JIS");
        assert_eq!(decode_unlabelled(b"\x93\xfa\x96\x7b", &sjis), "日本");
    }

    #[test]
    fn language_of_the_mailbox_breaks_ties() {
        let zh = Evidence::new(Some(Lang::ZhCn));
        assert_eq!(decode_unlabelled(b"\xc4\xe3\xba\xc3", &zh), "你好");
        // It cannot make mojibake of what the bytes plainly are: a Chinese
        // mailbox does not turn a Latin-1 name into ideographs, nor Big5
        // (高雄市) into GBK (蔼动カ).
        assert_eq!(decode_unlabelled(b"H\xe5vard", &zh), "Håvard");
        assert_eq!(
            decode_unlabelled(b"\xb0\xaa\xb6\xaf\xa5\xab", &zh),
            "高雄市"
        );
        let en = Evidence::new(Some(Lang::En));
        assert_eq!(
            decode_unlabelled("刘艳".encode_gbk().as_slice(), &en),
            "刘艳"
        );
        // Where both readings are plausible, it decides: Big5 reads these
        // a little better (馬票陝), the zh-CN mailbox's GBK comes first.
        let close = b"\xb0\xa8\xb2\xbc\xb0\xa2";
        assert_eq!(decode_unlabelled(close, &none()), "馬票陝");
        assert_eq!(decode_unlabelled(close, &zh), "皑布阿");
        let mut gb = Evidence::new(None);
        gb.declare("gb2312");
        assert_eq!(
            decode_unlabelled(close, &gb),
            "皑布阿",
            "a declared charset too"
        );
    }

    #[test]
    fn lying_labels() {
        // Declared ISO-2022-JP, written in Shift_JIS: 会議室の予約.
        let sjis = b"\x89\xef\x8b\x63\x8e\xba\x82\xcc\x97\x5c\x96\xf1";
        assert_eq!(
            decode_labelled("iso-2022-jp", sjis, &none()),
            "会議室の予約"
        );
        // Declared GB2312 with GBK-only characters (镕 堃): the label's
        // decoder (GB18030) reads them, so the label stands.
        assert_eq!(
            decode_labelled("gb2312", b"\xe9\x46\x88\xd2", &none()),
            "镕堃"
        );
        // Declared UTF-8, written in Latin-1.
        assert_eq!(decode_labelled("utf-8", b"J\xf6rg", &none()), "Jörg");
        // A label that decodes cleanly is believed.
        assert_eq!(decode_labelled("iso-8859-1", b"J\xf6rg", &none()), "Jörg");
        assert_eq!(
            decode_labelled("iso-2022-jp", b"\x1b$B2q5D<<\x1b(B", &none()),
            "会議室"
        );
    }

    #[test]
    fn plausibility_orders_readings() {
        let p = |label: &str, bytes: &[u8]| {
            let text = decode_with(label, bytes).unwrap();
            plausibility(&text, home_of(label))
        };
        assert!(p("windows-1252", b"H\xe5vard") > p("gb18030", b"H\xe5vard"));
        assert!(p("gb18030", b"\xc1\xf5\xd1\xde") > p("windows-1252", b"\xc1\xf5\xd1\xde"));
        assert!(p("gb18030", b"\xc1\xf5\xd1\xde") > p("big5", b"\xc1\xf5\xd1\xde"));
        assert!(p("shift_jis", b"\x89\xef\x8b\x63") > p("gb18030", b"\x89\xef\x8b\x63"));
        assert!(p("gb18030", b"\xaa\xa1") < 0.0, "private use area");
    }

    #[test]
    fn evidence_from_encoded_words() {
        let mut ev = Evidence::new(None);
        ev.declare_encoded_words(
            b"Subject: =?GB2312?B?xOO6ww==?= and =?utf-8?q?x?= =?big5*zh?Q?x?=",
        );
        assert_eq!(ev.declared, vec!["gb18030", "big5"]);
        let front = ev.with_first(["shift_jis", "gbk"]);
        assert_eq!(front.declared, vec!["shift_jis", "gb18030", "big5"]);
    }

    #[test]
    fn labels() {
        assert!(is_known("gb2312"));
        assert!(is_known("UTF-8"));
        assert!(is_known("Big5"));
        assert!(!is_known("x-unknown"));
        assert!(is_ascii_label("US-ASCII"));
        assert!(!is_ascii_label("utf-8"));
        assert_eq!(canonical("GB2312").as_deref(), Some("gb18030"));
        assert_eq!(canonical("\"ISO-8859-1\"").as_deref(), Some("windows-1252"));
        assert_eq!(canonical("iso-8859-2").as_deref(), Some("iso-8859-2"));
        assert_eq!(canonical("us-ascii"), None);
        assert_eq!(canonical("x-unknown"), None);
    }

    #[test]
    fn meta_charset() {
        assert_eq!(
            html_meta_charset(b"<html><head><META http-equiv=\"Content-Type\" content=\"text/html; charset=gb2312\">"),
            Some("gb2312".into())
        );
        assert_eq!(
            html_meta_charset(b"<meta charset='big5'>"),
            Some("big5".into())
        );
        assert_eq!(html_meta_charset(b"<meta name=x><p>charset=no</p>"), None);
        assert_eq!(
            decode_guessing(b"<meta charset=\"big5\">\xa7\x41\xa6\x6e", true, &none()),
            "<meta charset=\"big5\">你好"
        );
    }

    #[test]
    fn gb18030_four_byte_sequences() {
        // Characters outside the BMP take four bytes in GB18030.
        assert_eq!(decode_unlabelled(b"\x94\x39\xfc\x36", &none()), "😀");
    }

    #[test]
    fn big_bodies_are_judged_by_a_sample() {
        let mut body = "Grüße, ".repeat(10_000).into_bytes();
        for b in body.iter_mut() {
            // UTF-8 ü (C3 BC) and ß (C3 9F) → Latin-1.
            *b = match *b {
                0xBC => 0xFC,
                0x9F => 0xDF,
                x => x,
            };
        }
        body.retain(|&b| b != 0xC3);
        let text = decode_unlabelled(&body, &none());
        assert!(text.starts_with("Grüße, Grüße"));
        assert_eq!(text.chars().count(), 70_000);
    }

    /// The golden corpus of unlabelled bytes (tests/fixtures/charset/,
    /// made by its generate.py): every line decodes to its text, except the
    /// few marked as known misses, which are counted so they stay few.
    #[test]
    fn unlabelled_corpus() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/charset/unlabelled.tsv"
        );
        let corpus = std::fs::read_to_string(path).expect("read the charset corpus");
        let (mut checked, mut misses, mut wrong) = (0, 0, Vec::new());
        for line in corpus.lines() {
            let cols: Vec<&str> = line.split('\t').collect();
            let bytes: Vec<u8> = (0..cols[1].len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&cols[1][i..i + 2], 16).expect("hex"))
                .collect();
            let got = decode_unlabelled(&bytes, &none());
            if cols.get(3) == Some(&"known-miss") {
                misses += 1;
                continue;
            }
            checked += 1;
            if got != cols[2] {
                wrong.push(format!("{} {:?} read as {got:?}", cols[0], cols[2]));
            }
        }
        assert!(checked >= 300, "only {checked} lines in {path}");
        assert!(misses <= 3, "{misses} known misses");
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
