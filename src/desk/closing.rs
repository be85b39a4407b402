//! Closing a ticket: the requester's confirmation, the auto-close of a
//! resolved ticket nobody confirmed, and when the satisfaction survey goes
//! out (its settings and answers: [`crate::desk::survey`]).

use crate::desk::effect::{Effect, event, set_status};
use crate::desk::lifecycle::Trigger;
use crate::desk::mails;
use crate::desk::policy::Policy;
use crate::desk::ticket::{Status, TicketState};

/// "ok", "confirm", "确认"… at the start of the answer, and no "not fixed" words.
pub(crate) fn is_confirmation(policy: &Policy, text: &str) -> bool {
    const CONFIRM: &[&str] = &[
        "confirm",
        "confirmed",
        "ok",
        "okay",
        "yes",
        "solved",
        "fixed",
        "resolved",
        "works",
        "it works",
        "thanks",
        "thank you",
        "确认",
        "好的",
        "好",
        "已解决",
        "解决了",
        "可以了",
        "没问题",
        "谢谢",
        "是的",
    ];
    const NOT_FIXED: &[&str] = &[
        "not fixed",
        "not solved",
        "not resolved",
        "still",
        "doesn't",
        "does not",
        "didn't",
        "not working",
        "no ",
        "没有解决",
        "未解决",
        "没解决",
        "还是",
        "仍然",
        "不行",
        "没好",
    ];
    let first = crate::desk::quote::first_line(text);
    let not_fixed = NOT_FIXED
        .iter()
        .map(|w| w.to_string())
        .chain(policy.not_fixed_words.iter().map(|w| w.to_lowercase()))
        .any(|w| first.contains(w.as_str()));
    if not_fixed {
        return false;
    }
    CONFIRM
        .iter()
        .map(|w| w.to_string())
        .chain(policy.confirm_words.iter().map(|w| w.to_lowercase()))
        .any(|w| {
            first == w
                || first.strip_prefix(w.as_str()).is_some_and(|rest| {
                    rest.chars().next().is_some_and(|c| !c.is_alphanumeric())
                        || w.chars().all(|c| !c.is_ascii())
                })
        })
}

/// The survey mail, when enabled and not sent before, respecting the quiet period.
pub(crate) fn survey(policy: &Policy, t: &TicketState, now_ms: i64) -> Option<Effect> {
    if !policy.survey.enabled || t.survey_sent {
        return None;
    }
    let quiet = policy.survey.quiet_period.as_millis() as i64;
    if t.requester_last_survey_at
        .is_some_and(|at| now_ms - at < quiet)
    {
        return Some(event(
            t.number,
            "postdesk",
            "no-survey",
            Some("the requester had a survey recently".into()),
        ));
    }
    Some(Effect::Send(mails::survey(policy, t)))
}

/// The clock's decisions for a ticket: close a resolved ticket nobody
/// confirmed in time (and send its survey).
pub fn sweep(policy: &Policy, t: &TicketState, now_ms: i64) -> Vec<Effect> {
    let mut effects = Vec::new();
    if t.status() == Status::Resolved
        && let Some(at) = t.resolved_at
        && now_ms - at >= policy.auto_close_after.as_millis() as i64
    {
        let mut closed = t.clone();
        let detail = Some("closed without confirmation".to_string());
        set_status(
            &mut closed,
            Trigger::ConfirmationTimeout,
            "postdesk",
            detail,
            &mut effects,
        )
        .ok();
        effects.extend(survey(policy, &closed, now_ms));
    }
    effects
}
