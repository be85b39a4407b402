//! Attachment names made safe to show and to write to disk.

/// Longest name we keep, in bytes (common file systems allow 255).
const MAX_NAME_BYTES: usize = 200;
/// Longest tail after the last dot that we treat as an extension to keep.
const MAX_EXT_BYTES: usize = 16;

/// A safe file name for attachment number `index` (1-based).
///
/// Directory parts are dropped (`../../etc/passwd` → `passwd`,
/// `C:\x\y.doc` → `y.doc`); control characters, bidi overrides (which make
/// `invoice\u{202E}fdp.exe` look like `invoiceexe.pdf`) and
/// `/ \ : * ? " < > |` are removed; dots and spaces trimmed at both ends;
/// Windows device names (`CON`, `NUL.txt`) get a `_` prefix; at most 200
/// bytes, cut on a character boundary, extension kept. Never empty:
/// `attachment-N` plus an extension from the content type.
pub(super) fn sanitise_name(raw: Option<&str>, content_type: &str, index: usize) -> String {
    let base = raw.unwrap_or("").rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|&c| !is_forbidden(c))
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    let trimmed = trim_ends(&cleaned);
    if trimmed.is_empty() {
        return fallback_name(content_type, index);
    }
    let limited = limit_length(trimmed);
    if limited.is_empty() {
        return fallback_name(content_type, index);
    }
    if is_device_name(&limited) {
        format!("_{limited}")
    } else {
        limited
    }
}

/// The name of an attached mail: its file name or subject, ending in `.eml`.
pub(super) fn mail_name(given: Option<&str>, index: usize) -> String {
    let name = sanitise_name(given, "message/rfc822", index);
    if name.to_ascii_lowercase().ends_with(".eml") {
        return name;
    }
    // Leave room for the extension within the length limit.
    let mut stem = name;
    while stem.len() + 4 > MAX_NAME_BYTES {
        stem.pop();
    }
    let stem = trim_ends(&stem).to_string();
    if stem.is_empty() {
        format!("attachment-{index}.eml")
    } else {
        format!("{stem}.eml")
    }
}

fn is_forbidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|')
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        || matches!(c, '\u{200B}' | '\u{FEFF}')
}

fn trim_ends(s: &str) -> &str {
    s.trim_matches(|c: char| c == '.' || c.is_whitespace())
}

/// At most `MAX_NAME_BYTES`, cutting the stem so a short extension survives.
fn limit_length(name: &str) -> String {
    if name.len() <= MAX_NAME_BYTES {
        return name.to_string();
    }
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= MAX_EXT_BYTES => name.split_at(dot),
        _ => (name, ""),
    };
    let mut cut = MAX_NAME_BYTES - ext.len();
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    let stem = trim_ends(&stem[..cut]);
    if stem.is_empty() {
        String::new()
    } else {
        format!("{stem}{ext}")
    }
}

fn is_device_name(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name).trim_end();
    let upper = stem.to_ascii_uppercase();
    matches!(upper.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((upper.starts_with("COM") || upper.starts_with("LPT"))
            && upper.len() == 4
            && upper.as_bytes()[3].is_ascii_digit())
}

fn fallback_name(content_type: &str, index: usize) -> String {
    match extension_for(content_type) {
        Some(ext) => format!("attachment-{index}.{ext}"),
        None => format!("attachment-{index}"),
    }
}

/// The usual file extension for a content type, for attachments without a name.
fn extension_for(content_type: &str) -> Option<&'static str> {
    let t = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    Some(match t.as_str() {
        "application/pdf" => "pdf",
        "application/zip" | "application/x-zip-compressed" => "zip",
        "application/gzip" | "application/x-gzip" => "gz",
        "application/x-7z-compressed" => "7z",
        "application/x-rar-compressed" | "application/vnd.rar" => "rar",
        "application/msword" => "doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.ms-excel" => "xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        "application/vnd.ms-powerpoint" => "ppt",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation" => "pptx",
        "application/json" => "json",
        "application/xml" | "text/xml" => "xml",
        "application/ms-tnef" | "application/vnd.ms-tnef" => "dat",
        "application/pkcs7-signature" | "application/x-pkcs7-signature" => "p7s",
        "application/pgp-signature" => "asc",
        "image/jpeg" | "image/jpg" | "image/pjpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/bmp" => "bmp",
        "image/webp" => "webp",
        "image/tiff" => "tif",
        "image/svg+xml" => "svg",
        "image/heic" => "heic",
        "audio/mpeg" => "mp3",
        "audio/wav" | "audio/x-wav" => "wav",
        "video/mp4" => "mp4",
        "video/quicktime" => "mov",
        "text/plain" | "text/rfc822-headers" => "txt",
        "text/html" => "html",
        "text/csv" => "csv",
        "text/calendar" => "ics",
        "text/vcard" | "text/x-vcard" => "vcf",
        "message/rfc822" | "message/global" => "eml",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(raw: &str) -> String {
        sanitise_name(Some(raw), "application/octet-stream", 1)
    }

    #[test]
    fn directories_are_dropped() {
        assert_eq!(name("../../etc/passwd"), "passwd");
        assert_eq!(name("C:\\x\\y.doc"), "y.doc");
        assert_eq!(name("/abs/path/to/file.txt"), "file.txt");
        assert_eq!(name("..\\..\\windows\\system32\\evil.dll"), "evil.dll");
    }

    #[test]
    fn forbidden_and_control_characters_removed() {
        assert_eq!(name("re\u{0}port\r\n\t.pdf"), "report.pdf");
        assert_eq!(name("a:b*c?d\"e<f>g|h.txt"), "abcdefgh.txt");
        assert_eq!(name("invoice\u{202E}fdp.exe"), "invoicefdp.exe");
        assert_eq!(name("bell\u{7}\u{7f}\u{85}.txt"), "bell.txt");
    }

    #[test]
    fn dots_and_spaces_trimmed() {
        assert_eq!(name("  ..report.pdf.. "), "report.pdf");
        assert_eq!(name("...."), "attachment-1");
        assert_eq!(name("a  b.txt"), "a  b.txt");
    }

    #[test]
    fn never_empty() {
        assert_eq!(
            sanitise_name(None, "application/pdf", 3),
            "attachment-3.pdf"
        );
        assert_eq!(
            sanitise_name(Some(""), "image/png; name=x", 2),
            "attachment-2.png"
        );
        assert_eq!(
            sanitise_name(Some("../"), "application/x-unknown", 1),
            "attachment-1"
        );
        assert_eq!(
            sanitise_name(Some("\u{202E}"), "text/plain", 4),
            "attachment-4.txt"
        );
    }

    #[test]
    fn long_names_keep_their_extension() {
        let long = format!("{}.pdf", "a".repeat(500));
        let n = name(&long);
        assert_eq!(n.len(), 200);
        assert!(n.ends_with("aaa.pdf"));

        let han = format!("{}.docx", "发票".repeat(100));
        let n = name(&han);
        assert!(n.len() <= 200, "{}", n.len());
        assert!(n.ends_with("票.docx") || n.ends_with("发.docx"));

        // No usable extension: plain cut on a char boundary.
        let n = name(&"报".repeat(100));
        assert!(n.len() <= 200 && n.chars().all(|c| c == '报'));
        let n = name(&format!("x.{}", "e".repeat(300)));
        assert_eq!(n.len(), 200);
    }

    #[test]
    fn device_names_are_prefixed() {
        assert_eq!(name("CON"), "_CON");
        assert_eq!(name("nul.txt"), "_nul.txt");
        assert_eq!(name("com1.log"), "_com1.log");
        assert_eq!(name("console.txt"), "console.txt");
    }

    #[test]
    fn unicode_names_survive() {
        assert_eq!(name("发票.pdf"), "发票.pdf");
        assert_eq!(name("Ünïcødé résumé.docx"), "Ünïcødé résumé.docx");
    }

    #[test]
    fn attached_mail_names() {
        assert_eq!(mail_name(Some("Re: printer"), 1), "Re printer.eml");
        assert_eq!(mail_name(Some("forwarded.EML"), 1), "forwarded.EML");
        assert_eq!(mail_name(None, 2), "attachment-2.eml");
        let n = mail_name(Some(&"x".repeat(300)), 1);
        assert_eq!(n.len(), 200);
        assert!(n.ends_with(".eml"));
    }
}
