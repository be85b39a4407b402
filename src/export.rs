//! A ticket's mail as files: one `.eml` per message, or one mbox (mboxrd).
//!
//! The bytes are the stored raw messages, exactly as received or sent.
//! Like the database, the files hold people's mail: they are made readable
//! by their owner only ([`write_private`]), and a folder made for them too.

use std::path::{Path, PathBuf};

use jiff::Timestamp;

/// One stored message of a ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct RawMessage {
    pub at: i64,
    /// `in` or `out`.
    pub direction: String,
    pub kind: String,
    pub from_addr: Option<String>,
    pub raw: Vec<u8>,
}

/// A file of the export could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{doing} {}", path.display())]
pub struct WriteError {
    doing: &'static str,
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    write_private(path, bytes).map_err(|source| WriteError {
        doing: "writing",
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `bytes` to `path`, readable and writable by this user only
/// (0600), whether the file is new or was there (then it is narrowed
/// before the new bytes go in).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        (&file).write_all(bytes)
    }
    #[cfg(not(unix))]
    options.open(path)?.write_all(bytes)
}

/// Writes one `.eml` file per message into `dir` (created if missing,
/// for this user only), named by [`eml_name`]; `progress(done, total)`
/// after each.
pub fn write_eml_files(
    dir: &Path,
    ticket: i64,
    messages: &[RawMessage],
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), WriteError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| WriteError {
        doing: "creating",
        path: dir.to_path_buf(),
        source,
    })?;
    for (i, m) in messages.iter().enumerate() {
        write(&dir.join(eml_name(ticket, i + 1, m)), &m.raw)?;
        progress(i as u64 + 1, messages.len() as u64);
    }
    Ok(())
}

/// Writes the messages as one [`mbox`] file.
pub fn write_mbox(file: &Path, messages: &[RawMessage]) -> Result<(), WriteError> {
    write(file, &mbox(messages))
}

/// A file name that sorts in conversation order: `1042-003-in-reply.eml`.
pub fn eml_name(ticket: i64, seq: usize, m: &RawMessage) -> String {
    let kind: String = m
        .kind
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{ticket}-{seq:03}-{}-{kind}.eml", m.direction)
}

/// The messages as one mboxrd file: each starts with a `From ` line
/// (sender and date), line ends are LF, and body lines that start with
/// `From ` (after any `>`) get one more `>`, so readers can undo it.
pub fn mbox(messages: &[RawMessage]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        let sender = m
            .from_addr
            .as_deref()
            .filter(|a| !a.is_empty() && !a.contains(char::is_whitespace))
            .unwrap_or("MAILER-DAEMON");
        let date = Timestamp::from_millisecond(m.at)
            .map(|t| t.strftime("%a %b %e %H:%M:%S %Y").to_string())
            .unwrap_or_else(|_| "Thu Jan  1 00:00:00 1970".into());
        out.extend_from_slice(format!("From {sender} {date}\n").as_bytes());
        let text = m.raw.strip_suffix(b"\r\n").unwrap_or(&m.raw);
        for line in text.split(|b| *b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let unquoted = line
                .iter()
                .position(|b| *b != b'>')
                .map_or(&[][..], |i| &line[i..]);
            if unquoted.starts_with(b"From ") {
                out.push(b'>');
            }
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: &str, raw: &str) -> RawMessage {
        RawMessage {
            at: 1_796_004_000_000,
            direction: "in".into(),
            kind: kind.into(),
            from_addr: Some("ann@corp.test".into()),
            raw: raw.as_bytes().to_vec(),
        }
    }

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[cfg(unix)]
    #[test]
    fn exported_files_are_the_owners_only() {
        let dir = tempfile::tempdir().unwrap();
        let eml = dir.path().join("export/t7");
        let mut said = Vec::new();
        let two = [
            msg("request", "Subject: a\r\n\r\nhi\r\n"),
            msg("reply", "Subject: Re: a\r\n\r\nok\r\n"),
        ];
        write_eml_files(&eml, 7, &two, &mut |d, t| said.push((d, t))).unwrap();
        assert_eq!(said, [(1, 2), (2, 2)], "progress after each file");
        assert_eq!(mode(&eml.join("7-001-in-request.eml")), 0o600);
        assert_eq!(mode(&eml), 0o700, "a folder made for the export");
        // Over a file that was there, readable by all.
        let file = dir.path().join("t7.mbox");
        std::fs::write(&file, "old").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_mbox(&file, &[msg("request", "Subject: a\r\n\r\nhi\r\n")]).unwrap();
        assert_eq!(mode(&file), 0o600);
        assert!(
            std::fs::read_to_string(&file)
                .unwrap()
                .contains("Subject: a")
        );
    }

    #[test]
    fn names_sort_in_order_and_are_safe() {
        assert_eq!(
            eml_name(7, 3, &msg("agent-reply", "")),
            "7-003-in-agent-reply.eml"
        );
        assert_eq!(eml_name(7, 12, &msg("../x", "")), "7-012-in-___x.eml");
    }

    #[test]
    fn mboxrd_quotes_from_lines_and_uses_lf() {
        let a = msg(
            "request",
            "Subject: a\r\n\r\nFrom here on\r\n>From there\r\nok\r\n",
        );
        let b = msg("reply", "Subject: b\r\n\r\nbye\r\n");
        let out = String::from_utf8(mbox(&[a, b])).unwrap();
        assert_eq!(
            out,
            "From ann@corp.test Mon Nov 30 02:00:00 2026\nSubject: a\n\n>From here on\n>>From there\nok\n\n\
             From ann@corp.test Mon Nov 30 02:00:00 2026\nSubject: b\n\nbye\n\n"
        );
    }
}
