//! SLA escalation end to end on real Dovecot and Postfix: a P1 ticket under a
//! policy with targets of seconds tells the manager at half time, moves from
//! L1 to L2 at the target, the L2 team's mailbox gets the notice, and a
//! restart sends neither again (counted in the mailboxes that got them).

use std::time::Duration;

use crate::support::*;

#[test]
fn p1_ticket_escalates_to_l2_once_across_restarts() {
    let env = MailEnv::load();
    let l1 = env.unique_user("l1-sla");
    let l2 = env.unique_user("l2-sla");
    let ann = env.unique_user("ann-sla");
    let mgr = env.unique_user("mgr-sla");
    let sections = format!(
        r#"
[workflow]
sweep-interval = "1s"

[[rule]]
name = "outages"
keywords = ["outage", "宕机"]
priority = "P1"
category = "network"

[sla.calendar]
time-zone = "Asia/Shanghai"
hours = {{ mon = "00:00-24:00", tue = "00:00-24:00", wed = "00:00-24:00", thu = "00:00-24:00", fri = "00:00-24:00", sat = "00:00-24:00", sun = "00:00-24:00" }}

[[sla.policy]]
priority = "P1"
first-response = "3s"
resolution = "1h"
[[sla.policy.escalate]]
target = "first-response"
at = "50%"
action = "notify-manager"
[[sla.policy.escalate]]
target = "first-response"
at = "100%"
action = "move-to-next-tier"

[[team]]
name = "service-desk"
tier = "L1"
address = "{l1}"
manager = "{mgr}"
[[team]]
name = "network"
tier = "L2"
address = "{l2}"
manager = "{mgr}"
"#
    );
    let test_desk = TestDesk::builder("sla").section(&sections).build();
    let desk = test_desk.address.clone();
    let config = test_desk.config.clone();
    let store = || test_desk.store();

    let mut daemon = Daemon::start(&config);
    daemon.wait_for_log("IMAP connected", WAIT);
    smtp_send(
        &env,
        &ann,
        &[&desk],
        &build_mail(
            &ann,
            &desk,
            "Core switch outage in building B",
            "Nothing works.\n",
        ),
    )
    .unwrap();

    // The L1 team hears of the new ticket, then L2 of the escalation.
    let l1_mail = wait_for_messages(&env, &l1, 1, WAIT);
    assert!(
        postdesk::inbound::parse(&l1_mail[0])
            .unwrap()
            .text
            .contains("Priority: P1")
    );
    let to_manager = wait_for_messages(&env, &mgr, 1, WAIT);
    let warning = postdesk::inbound::parse(&to_manager[0]).unwrap();
    assert!(
        warning.text.contains("first response 50%"),
        "{}",
        warning.text
    );
    let l2_mail = wait_for_messages(&env, &l2, 1, WAIT);
    let notice = postdesk::inbound::parse(&l2_mail[0]).unwrap();
    assert_eq!(notice.subject, "[#1000] Core switch outage in building B");
    assert!(
        notice.text.contains("escalated to network"),
        "{}",
        notice.text
    );
    assert!(
        notice.text.contains("first response 100%"),
        "{}",
        notice.text
    );

    let t = store().ticket_detail(1000).unwrap().unwrap();
    assert_eq!(t.ticket.team.as_deref(), Some("network"));
    assert_eq!(t.ticket.priority.as_deref(), Some("P1"));
    let state = store().ticket_state(1000).unwrap().unwrap();
    assert_eq!(state.tier.as_deref(), Some("L2"));
    assert!(
        t.events
            .iter()
            .any(|e| e.kind == "escalation" && e.new.as_deref() == Some("first-response 100%"))
    );
    daemon.stop();

    // A restart sweeps again and must not fire either level twice: both
    // levels mail, so a level fired again is a second mail in a mailbox.
    let mut again = Daemon::start(&config);
    again.wait_for_log("IMAP connected", WAIT);
    // Enough sweeps (one a second) to have fired anything due, and the
    // outbox emptied before counting what arrived.
    std::thread::sleep(Duration::from_secs(4));
    assert_eventually(WAIT, "the outbox is empty", || {
        store().outbox_counts().unwrap().0 == 0
    });
    env.wait_postfix_idle(WAIT);
    for (who, what) in [(&l2, "escalation notice"), (&mgr, "manager notice")] {
        let mut imap = Imap::login(&env, who);
        imap.select("INBOX");
        assert_eq!(imap.uid_search_all().len(), 1, "one {what} only");
    }
    let escalations = store()
        .ticket_detail(1000)
        .unwrap()
        .unwrap()
        .events
        .iter()
        .filter(|e| e.kind == "escalation")
        .count();
    assert_eq!(escalations, 2, "two levels, each once");
    again.stop();
}
