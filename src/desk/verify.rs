//! Whether a mail from an agent's address is really the agent's: by the
//! receiving server's Authentication-Results (DKIM or SPF pass for the
//! agent's domain, from a trusted authserv-id), by a `#secret` line, or
//! both, as `workflow.agent-authentication` says.

use crate::desk::commands::{Command, CommandBlock};
use crate::desk::people::{Agent, AgentAuthentication, AgentConfig};
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
pub(crate) fn authenticated_domain(
    policy: &Policy,
    agent: &Agent,
    mail: &Inbound,
) -> Result<(), String> {
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

/// What is wrong with how agents prove their mail, before any mail comes:
/// `errors` mean some agent's commands can never count (or anyone's can),
/// `warnings` that anyone can forge an agent's commands. `env` reads the
/// agents' secret variables; pass `None` to check only the file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Setup {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

/// Reads an environment variable (the process's, or a map in tests).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn setup(
    mode: AgentAuthentication,
    trusted_authserv_ids: &[String],
    agents: &[AgentConfig],
    env: Option<Env<'_>>,
) -> Setup {
    let mut s = Setup::default();
    if agents.is_empty() {
        return s;
    }
    let no_ids = trusted_authserv_ids.is_empty();
    match mode {
        AgentAuthentication::None => s.warnings.push(
            "workflow.agent-authentication = \"none\": anyone who writes with an agent's From address can run that agent's commands; use \"dkim-or-spf\" with trusted-authserv-ids, or \"secret\"".into(),
        ),
        AgentAuthentication::DkimOrSpf if no_ids => s.errors.push(
            "workflow.agent-authentication = \"dkim-or-spf\" needs trusted-authserv-ids = [\"mx.example.com\"] (the receiving server's authserv-id): without it no agent's mail can be verified".into(),
        ),
        _ => {}
    }
    let secrets_needed = match mode {
        AgentAuthentication::Secret => true,
        AgentAuthentication::DkimOrSpfOrSecret => no_ids,
        _ => false,
    };
    for a in agents {
        match (&a.secret_env, env) {
            (None, _) if secrets_needed => s.errors.push(format!(
                "agent \"{}\" cannot prove a mail is theirs: set secret-env = \"VARIABLE\" for agent-authentication = \"{}\"{}",
                a.name,
                mode.as_str(),
                if no_ids && mode != AgentAuthentication::Secret {
                    ", or list the receiving server in trusted-authserv-ids"
                } else {
                    ""
                }
            )),
            (Some(var), Some(env)) if mode.uses_secrets() && env(var).is_none_or(|v| v.is_empty()) => {
                s.errors.push(format!(
                    "agent \"{}\": secret-env names {var}, which is not set",
                    a.name
                ))
            }
            _ => {}
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(name: &str, secret_env: Option<&str>) -> AgentConfig {
        AgentConfig {
            name: name.into(),
            display_name: None,
            addresses: vec![format!("{name}@corp.test")],
            team: "desk".into(),
            secret_env: secret_env.map(String::from),
        }
    }

    #[test]
    fn an_unverifiable_agent_is_an_error_and_none_a_loud_warning() {
        use AgentAuthentication as A;
        let ids = vec!["mx.corp.test".to_string()];
        let agents = [agent("alice", Some("ALICE_SECRET")), agent("bob", None)];
        assert_eq!(setup(A::DkimOrSpf, &ids, &agents, None), Setup::default());
        assert_eq!(
            setup(A::DkimOrSpfOrSecret, &ids, &agents, None),
            Setup::default()
        );
        let e = setup(A::DkimOrSpf, &[], &agents, None).errors;
        assert!(e[0].contains("needs trusted-authserv-ids"), "{e:?}");
        let e = setup(A::Secret, &ids, &agents, None).errors;
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("agent \"bob\" cannot prove"), "{e:?}");
        let e = setup(A::DkimOrSpfOrSecret, &[], &agents, None).errors;
        assert!(e[0].contains("or list the receiving server"), "{e:?}");
        let unset = |_: &str| None;
        let e = setup(A::Secret, &ids, &agents[..1], Some(&unset)).errors;
        assert_eq!(
            e,
            ["agent \"alice\": secret-env names ALICE_SECRET, which is not set"]
        );
        let set = |_: &str| Some("x".to_string());
        assert!(
            setup(A::Secret, &ids, &agents[..1], Some(&set))
                .errors
                .is_empty()
        );
        let w = setup(A::None, &[], &agents, None);
        assert!(w.errors.is_empty());
        assert!(w.warnings[0].contains("anyone who writes"), "{w:?}");
        // No agents, nothing to prove.
        assert_eq!(setup(A::DkimOrSpf, &[], &[], None), Setup::default());
    }

    #[test]
    fn the_default_is_not_none() {
        assert_eq!(
            AgentAuthentication::default(),
            AgentAuthentication::DkimOrSpfOrSecret
        );
    }
}
