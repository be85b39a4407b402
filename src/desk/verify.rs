//! Whether a mail from an agent's address is really the agent's: by the
//! receiving server's Authentication-Results (DKIM or SPF pass for the
//! agent's domain, from a trusted authserv-id), by a `#secret` line, or
//! both, as `workflow.agent-authentication` says.

use crate::desk::commands::{Command, CommandBlock};
use crate::desk::people::{Agent, AgentAuthentication};
use crate::desk::policy::Policy;
use crate::inbound::{Inbound, authres};

/// Whether an agent's mail proves it is theirs, per the configured rule.
pub(crate) fn verify_agent(
    policy: &Policy,
    agent: &Agent,
    mail: &Inbound,
    block: &CommandBlock,
) -> Result<(), String> {
    let secret_ok = || {
        let given = block.commands.iter().find_map(|p| match &p.command {
            Command::Secret(s) => Some(s.as_str()),
            _ => None,
        });
        match (&agent.secret, given) {
            (Some(want), Some(got)) if want == got => Ok(()),
            (None, _) => Err(format!("no secret is configured for agent {}", agent.name)),
            (_, None) => Err("no #secret line".to_string()),
            _ => Err("the #secret does not match".to_string()),
        }
    };
    let dkim_ok = || authenticated_domain(policy, agent, mail);
    match policy.agent_authentication {
        AgentAuthentication::None => Ok(()),
        AgentAuthentication::Secret => secret_ok(),
        AgentAuthentication::DkimOrSpf => dkim_ok(),
        AgentAuthentication::DkimOrSpfOrSecret => {
            dkim_ok().or_else(|e1| secret_ok().map_err(|e2| format!("{e1}; {e2}")))
        }
    }
}

/// True when the receiving server's own `Authentication-Results` (the
/// topmost headers, while their authserv-id is trusted) show a DKIM pass
/// signed by, or an SPF pass for an envelope sender at, a domain aligned
/// with the agent's From address. Reply-To never stands in for From here.
fn authenticated_domain(policy: &Policy, agent: &Agent, mail: &Inbound) -> Result<(), String> {
    let Some(from) = mail.from.as_ref().map(|m| m.address.as_str()) else {
        return Err("the mail has no From header".into());
    };
    if !agent.addresses.iter().any(|a| a == from) {
        return Err("sender is not the agent's address".into());
    }
    let domain = from.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    let trusted = authres::trusted_results(&mail.auth_results, &policy.trusted_authserv_ids);
    if trusted
        .iter()
        .flat_map(|r| r.results.iter())
        .any(|r| authres::passes_for(r, domain))
    {
        return Ok(());
    }
    Err(format!(
        "no trusted Authentication-Results shows DKIM or SPF pass for {domain}"
    ))
}
