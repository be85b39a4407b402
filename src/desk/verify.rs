//! Whether a mail from an agent's address is really the agent's: by the
//! receiving server's Authentication-Results (DKIM or SPF pass for the
//! agent's domain, from a trusted authserv-id), by a `#secret` line, or
//! both, as `workflow.agent-authentication` says.

use crate::desk::commands::{Command, CommandBlock};
use crate::desk::people::{Agent, AgentAuthentication};
use crate::desk::policy::Policy;
use crate::inbound::Inbound;

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

/// True when a trusted `Authentication-Results` header shows DKIM or SPF pass
/// for the domain of the agent's address.
fn authenticated_domain(policy: &Policy, agent: &Agent, mail: &Inbound) -> Result<(), String> {
    let from = mail.sender_address();
    if !agent.addresses.contains(&from) {
        return Err("sender is not the agent's address".into());
    }
    let domain = from
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or("")
        .to_string();
    for header in &mail.auth_results {
        let authserv = header.split(';').next().unwrap_or("").trim();
        let authserv = authserv.split_whitespace().next().unwrap_or("");
        if !policy
            .trusted_authserv_ids
            .iter()
            .any(|t| t.eq_ignore_ascii_case(authserv))
        {
            continue;
        }
        for clause in header.split(';').skip(1) {
            let c = clause.trim().to_ascii_lowercase();
            let passes = c.starts_with("dkim=pass") || c.starts_with("spf=pass");
            let about_domain = c.split_whitespace().any(|kv| {
                let v = kv.split_once('=').map(|(_, v)| v).unwrap_or("");
                let v = v.trim_matches(|ch| ch == '"' || ch == '@');
                v == domain || v.ends_with(&format!("@{domain}"))
            });
            if passes && about_domain {
                return Ok(());
            }
        }
    }
    Err(format!(
        "no trusted Authentication-Results shows DKIM or SPF pass for {domain}"
    ))
}
