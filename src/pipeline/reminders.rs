//! The clock's part of approvals: a reminder to each approver whose answer
//! is overdue ([`crate::desk::approval::reminder`]), in the sweep's
//! transaction, through the same apply path as mail.

use crate::desk::approval;
use crate::desk::policy::Policy;
use crate::store::{StoreError, Tx};

use super::{Engine, Tally, apply_decided};

pub(super) fn sweep(
    tx: &Tx<'_>,
    engine: &Engine,
    policy: &Policy,
    now_ms: i64,
    tally: &mut Tally,
) -> Result<(), StoreError> {
    for p in tx.pending_approvals()? {
        if !approval::reminder_due(policy, &p, now_ms) {
            continue;
        }
        let Some(t) = tx.ticket(p.ticket)? else {
            continue;
        };
        let request = tx.request_text(p.ticket)?;
        let effects = approval::reminder(policy, &t, &p, request.as_deref(), now_ms);
        if !effects.is_empty() {
            apply_decided(tx, engine, policy, effects, now_ms, tally)?;
        }
    }
    Ok(())
}
