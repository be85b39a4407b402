use std::sync::Mutex;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};

use super::*;

/// Keeps what it is given; fails while `fail` is set.
#[derive(Default)]
struct Kept {
    mails: Mutex<Vec<Vec<u8>>>,
    fail: std::sync::atomic::AtomicBool,
}

impl Record for Kept {
    async fn record(&self, raw: Vec<u8>) -> Result<Tally, String> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err("the database is locked\nfor now".into());
        }
        self.mails.lock().unwrap().push(raw);
        Ok(Tally {
            created: 1,
            queued: 1,
            ..Tally::default()
        })
    }
}

/// Runs a session on `input` (all of it sent at once, as a pipelining
/// client may) and returns everything the server said.
async fn session(input: &[u8], kept: &Kept) -> String {
    let (mut client, server) = tokio::io::duplex(1 << 20);
    let (sr, sw) = tokio::io::split(server);
    client.write_all(input).await.unwrap();
    client.shutdown().await.unwrap();
    serve(BufReader::new(sr), sw, kept).await.unwrap();
    let mut said = String::new();
    client.read_to_string(&mut said).await.unwrap();
    said
}

#[tokio::test]
async fn a_mail_is_recorded_once_with_one_answer_per_recipient() {
    let kept = Kept::default();
    let said = session(
        b"LHLO mx.corp.test\r\nMAIL FROM:<ann@corp.test> SIZE=40\r\nRCPT TO:<help@corp.test>\r\nRCPT TO:<it@corp.test>\r\nDATA\r\nSubject: dots\r\n\r\n..hidden\r\n.\r\nQUIT\r\n",
        &kept,
    )
    .await;
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(lines[0], "220 postdesk LMTP ready");
    assert!(lines.contains(&"250-PIPELINING"), "{said}");
    assert!(
        lines.contains(&format!("250 SIZE {MAX_MESSAGE}").as_str()),
        "{said}"
    );
    let done: Vec<&&str> = lines.iter().filter(|l| l.contains("recorded:")).collect();
    assert_eq!(
        done,
        [
            &"250 2.0.0 recorded: created=1 attached=0 duplicates=0 quarantined=0 queued=1 <help@corp.test>",
            &"250 2.0.0 recorded: created=1 attached=0 duplicates=0 quarantined=0 queued=1 <it@corp.test>",
        ]
    );
    assert_eq!(lines.last(), Some(&"221 2.0.0 Bye"));
    assert_eq!(
        *kept.mails.lock().unwrap(),
        [b"Subject: dots\r\n\r\n.hidden\r\n".to_vec()],
        "one copy, the dot-stuffing undone"
    );
}

#[tokio::test]
async fn commands_out_of_order_are_refused_and_the_session_goes_on() {
    let kept = Kept::default();
    let said = session(
        b"MAIL FROM:<a@b>\r\nEHLO x\r\nLHLO x\r\nRCPT TO:<a@b>\r\nDATA\r\nMAIL FROM:<>\r\nMAIL FROM:<>\r\nBDAT 10\r\nRSET\r\nDATA\r\nNOOP\r\n",
        &kept,
    )
    .await;
    let codes: Vec<&str> = said
        .lines()
        .filter(|l| !l.starts_with("250-"))
        .map(|l| &l[..3])
        .collect();
    assert_eq!(
        codes,
        [
            "220", "503", "500", "250", "503", "503", "250", "503", "500", "250", "503", "250"
        ],
        "{said}"
    );
    assert!(kept.mails.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_mail_that_cannot_be_recorded_is_a_temporary_failure() {
    let kept = Kept::default();
    kept.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let said = session(
        b"LHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<help@corp.test>\r\nDATA\r\nSubject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n",
        &kept,
    )
    .await;
    assert!(
        said.contains(
            "451 4.3.0 not recorded, try again later: the database is locked for now <help@corp.test>\r\n"
        ),
        "{said}"
    );
    assert!(said.ends_with("221 2.0.0 Bye\r\n"), "{said}");
}

#[tokio::test]
async fn a_client_that_leaves_inside_data_records_nothing() {
    let kept = Kept::default();
    let (mut client, server) = tokio::io::duplex(1 << 16);
    let (sr, sw) = tokio::io::split(server);
    client
        .write_all(b"LHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<h@c>\r\nDATA\r\nSubject: half\r\n")
        .await
        .unwrap();
    client.shutdown().await.unwrap();
    let r = serve(BufReader::new(sr), sw, &kept).await;
    assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
    assert!(kept.mails.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_overlong_command_line_is_refused_whole() {
    let kept = Kept::default();
    let mut input = b"LHLO ".to_vec();
    input.extend(std::iter::repeat_n(b'x', MAX_LINE * 3));
    input.extend_from_slice(b"\r\nNOOP\r\n");
    let said = session(&input, &kept).await;
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(
        lines,
        [
            "220 postdesk LMTP ready",
            "500 5.5.6 Line too long",
            "250 2.0.0 Ok"
        ]
    );
}

#[test]
fn mode_is_read_as_octal_and_checked() {
    let ok: LmtpConfig = toml::from_str("socket = \"l\"\nmode = \"0620\"").unwrap();
    assert_eq!(ok.mode(), 0o620);
    let default: LmtpConfig = toml::from_str("socket = \"l\"").unwrap();
    assert_eq!(default.mode(), 0o660);
    let bad = toml::from_str::<LmtpConfig>("mode = \"rw-rw----\"").unwrap_err();
    assert!(
        bad.to_string()
            .contains("expected octal permissions like \"0660\""),
        "{bad}"
    );
}

/// The client against the server on a real Unix socket: every byte of
/// each mail arrives, leading dots and a missing last line end included.
#[test]
fn ingest_hands_mail_over_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lmtp");
    let kept = Arc::new(Kept::default());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = {
        let _g = rt.enter();
        bind(&path, 0o600).unwrap()
    };
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let served = kept.clone();
    let server = std::thread::spawn(move || {
        rt.block_on(async move {
            for _ in 0..3 {
                let (s, _) = listener.accept().await.unwrap();
                let (r, w) = s.into_split();
                // The first is `bind`'s check, gone before the greeting.
                let _ = serve(BufReader::new(r), w, &*served).await;
            }
        })
    });
    // A second daemon on the same socket is refused (its check connects:
    // the first of the three sessions).
    let second = bind(&path, 0o600).unwrap_err();
    assert!(second.contains("another process is listening"), "{second}");
    let mails: Vec<&[u8]> = vec![
        b"Subject: one\r\n\r\n.starts with a dot\r\n..two\r\n",
        b"Subject: two\n\nno line end at the end",
    ];
    let out = client::hand_over(&path, &mails).expect("the socket answers");
    assert_eq!(out.failure, None);
    assert_eq!(
        (out.recorded, out.tally.created, out.tally.queued),
        (2, 2, 2)
    );
    kept.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let failed = client::hand_over(&path, &mails[..1]).unwrap();
    assert_eq!(failed.recorded, 0);
    assert!(
        failed
            .failure
            .as_deref()
            .unwrap_or("")
            .contains("451 4.3.0"),
        "{failed:?}"
    );
    server.join().unwrap();
    let got = kept.mails.lock().unwrap().clone();
    assert_eq!(got[0], mails[0]);
    assert_eq!(got[1], b"Subject: two\n\nno line end at the end\r\n");
    // The server is gone and its socket file left: nothing answers there,
    // and a new daemon takes the place.
    assert!(client::hand_over(&path, &mails).is_none());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _g = rt.enter();
    bind(&path, 0o600).expect("a stale socket is replaced");
    assert!(bind(&dir.path().join("missing/lmtp"), 0o600).is_err());
}
