//! Approvals: `#approval boss@example.com reason` (`#审批`).

use crate::desk::effect::Effect;
use crate::desk::people::Agent;
use crate::desk::policy::Policy;
use crate::desk::ticket::TicketState;

pub(crate) fn request(
    _policy: &Policy,
    _t: &mut TicketState,
    _agent: &Agent,
    _approver: &str,
    _reason: &str,
    _now_ms: i64,
    _effects: &mut [Effect],
) -> Result<String, String> {
    Err("approvals are not available yet".into())
}
