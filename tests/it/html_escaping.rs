//! What users wrote is escaped in every HTML mail the desk sends, through
//! the lab Postfix and Dovecot: the acknowledgement, an agent's answer, the
//! resolution and the survey, read back from the requester's mailbox (the
//! unit test `every_html_template_escapes_what_users_wrote` renders the
//! templates alone).

use std::time::Duration;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(60);

/// The HTML part of `mail` holds `user_text` escaped and none of it raw.
#[track_caller]
fn assert_escaped(what: &str, mail: &[u8], raw: &[&str], escaped: &str) {
    let html = parsed(mail)
        .html
        .unwrap_or_else(|| panic!("{what}: no HTML part"));
    for r in raw {
        assert!(!html.contains(r), "{what} lets {r:?} through:\n{html}");
    }
    assert!(
        html.contains(escaped),
        "{what} does not show {escaped:?} (so this checks nothing):\n{html}"
    );
}

/// A requester whose name, subject and words are markup, and an agent who
/// writes markup too: the four HTML mails Ann gets show it all as text.
#[test]
fn every_html_mail_escapes_what_users_wrote_on_real_servers() {
    let desk = TestDesk::builder("html").team_with_alice().build();
    let ann = desk.env().unique_user("ann");
    let mut daemon = desk.start();

    let request = MailBuilder::new(&format!("\"<b>Ann</b>\" <{ann}>"), &desk.address)
        .subject("<script>s1</script> printer jams")
        .body(b"<img src=x onerror=alert(1)> it jams on page 2\n")
        .build();
    desk.send(&ann, &request);
    let ack = wait_for_messages(desk.env(), &ann, 1, WAIT).remove(0);
    assert_escaped(
        "the acknowledgement",
        &ack,
        &["<script>", "<img src=x", "<b>Ann"],
        "&lt;script&gt;s1",
    );

    let notice = wait_for_messages(desk.env(), desk.team(), 1, WAIT).remove(0);
    let answer = reply_to(
        desk.alice(),
        &desk.address,
        &notice,
        "#take\n<script>s2</script> Which tray do you use?",
    );
    desk.send(desk.alice(), &answer);
    let got = wait_for_messages(desk.env(), &ann, 2, WAIT);
    assert_escaped("Alice's answer", &got[1], &["<script>"], "&lt;script&gt;s2");

    let resolve = reply_to(
        desk.alice(),
        &desk.address,
        &notice,
        "#resolve\n<script>s3</script> The roller was worn; replaced.",
    );
    desk.send(desk.alice(), &resolve);
    desk.wait_status(1000, "resolved", &daemon);
    let got = wait_for_messages(desk.env(), &ann, 3, WAIT);
    assert_escaped("the resolution", &got[2], &["<script>"], "&lt;script&gt;s3");

    desk.send(
        &ann,
        &reply_to(&ann, &desk.address, &got[2], "confirm, thank you"),
    );
    desk.wait_status(1000, "closed", &daemon);
    let got = wait_for_messages(desk.env(), &ann, 4, WAIT);
    assert_escaped("the survey", &got[3], &["<script>"], "&lt;script&gt;s1");
    daemon.stop();
}
