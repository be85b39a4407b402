//! Agents who answer outside the desk: "Reply all" in Outlook puts the
//! customer in To and the desk in Cc. The mail is still the agent's answer
//! (recorded, first response counted, status and commands as for any
//! answer), but the customer already has it: the desk relays it only to
//! the ticket's people who were not recipients of the agent's own mail.
//!
//! What we cannot see: an agent who writes to the desk with the customer in
//! Bcc. Bcc is not in the headers that reach us, so the desk relays that
//! answer as usual and the customer gets it twice (README, "Agents who
//! answer outside the desk").

use crate::desk::effect::OutMail;
use crate::inbound::Inbound;

/// Everyone the agent's mail went to directly (To and Cc), normalised.
pub(crate) fn direct_recipients(mail: &Inbound) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in mail.to.iter().chain(mail.cc.iter()) {
        if !out.contains(&m.address) {
            out.push(m.address.clone());
        }
    }
    out
}

/// Takes out of `relays` every recipient who already got the agent's mail,
/// drops relays left with nobody, and returns who was taken out (for the
/// timeline), in the order they were found.
pub(crate) fn skip_direct_recipients(relays: &mut Vec<OutMail>, mail: &Inbound) -> Vec<String> {
    let direct = direct_recipients(mail);
    let mut skipped: Vec<String> = Vec::new();
    for relay in relays.iter_mut() {
        relay.to.retain(|m| {
            if direct.contains(&m.address) {
                if !skipped.contains(&m.address) {
                    skipped.push(m.address.clone());
                }
                false
            } else {
                true
            }
        });
    }
    relays.retain(|r| !r.to.is_empty());
    skipped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Mailbox;
    use crate::inbound::parse;

    fn relay(to: &[&str]) -> OutMail {
        OutMail {
            ticket: 7,
            template: "reply",
            lang: crate::lang::Lang::En,
            from_name: None,
            to: to.iter().map(|a| Mailbox::new(None, a)).collect(),
            subject: "[#7] x".into(),
            in_reply_to: None,
            references: vec![],
            auto_submitted: None,
            vars: serde_json::Value::Null,
        }
    }

    fn mail(to: &str, cc: &str) -> Inbound {
        parse(
            format!("From: alice@corp.test\r\nTo: {to}\r\nCc: {cc}\r\nSubject: x\r\n\r\nhi\r\n")
                .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn recipients_of_the_agents_mail_are_not_sent_it_again() {
        let m = mail(
            "Ann <ANN@corp.test>",
            "helpdesk@example.test, bob@corp.test",
        );
        let mut relays = vec![
            relay(&["ann@corp.test", "bob@corp.test"]),
            relay(&["eve@x.test"]),
        ];
        let skipped = skip_direct_recipients(&mut relays, &m);
        assert_eq!(skipped, vec!["ann@corp.test", "bob@corp.test"]);
        assert_eq!(relays.len(), 1, "the empty relay is dropped");
        assert_eq!(relays[0].to[0].address, "eve@x.test");
    }

    #[test]
    fn a_mail_to_the_desk_alone_relays_to_everyone() {
        let m = mail("helpdesk@example.test", "");
        let mut relays = vec![relay(&["ann@corp.test", "bob@corp.test"])];
        assert!(skip_direct_recipients(&mut relays, &m).is_empty());
        assert_eq!(relays[0].to.len(), 2);
    }
}
