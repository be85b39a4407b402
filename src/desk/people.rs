//! Who is who: agents, teams and tiers, as the `[[agent]]` and `[[team]]`
//! settings describe them, and how agents prove a mail is theirs.
//!
//! Anyone not listed here is a requester (or a watcher of a ticket).

use serde::Deserialize;

use crate::address::{Mailbox, normalise};

/// A person who answers tickets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AgentConfig {
    /// The short name used in commands: `#assign alice`.
    pub name: String,
    /// The name requesters see on relayed replies. Default: `name`.
    pub display_name: Option<String>,
    /// Every address the agent writes from.
    pub addresses: Vec<String>,
    /// The team the agent belongs to.
    pub team: String,
    /// A per-agent secret an agent can put in a command line (`#secret ...`)
    /// when `workflow.agent-authentication = "secret"`: the variable's name.
    pub secret_env: Option<String>,
}

/// A group of agents at one tier, with a lead.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TeamConfig {
    pub name: String,
    /// `L1` for the service desk, `L2` for specialists, and so on.
    #[serde(default = "default_tier")]
    pub tier: String,
    /// Where notifications for the team go (a list address). Without it,
    /// they go to every member.
    pub address: Option<String>,
    /// Agent names of the members, besides agents whose `team` names this team.
    #[serde(default)]
    pub members: Vec<String>,
    /// The agent who leads the team (gets breach and low-rating notices).
    pub lead: Option<String>,
    /// Where notices for the team's manager go.
    pub manager: Option<String>,
    /// New tickets go to this team. Default: the first L1 team, else the first team.
    #[serde(default)]
    pub default: bool,
}

fn default_tier() -> String {
    "L1".into()
}

/// How agents prove that a mail is really theirs. The default is
/// `dkim-or-spf-or-secret`: never `none`, which trusts a forgeable From.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgentAuthentication {
    /// The From address is enough (only for a mailbox that cannot receive forged mail).
    None,
    /// The receiving server's Authentication-Results must show DKIM or SPF pass for the agent's domain.
    DkimOrSpf,
    /// A `#secret WORD` line with the agent's secret.
    Secret,
    /// Either of the two above.
    #[default]
    DkimOrSpfOrSecret,
}

impl AgentAuthentication {
    /// As written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentAuthentication::None => "none",
            AgentAuthentication::DkimOrSpf => "dkim-or-spf",
            AgentAuthentication::Secret => "secret",
            AgentAuthentication::DkimOrSpfOrSecret => "dkim-or-spf-or-secret",
        }
    }

    /// Whether a `#secret` line can prove a mail.
    pub fn uses_secrets(self) -> bool {
        matches!(
            self,
            AgentAuthentication::Secret | AgentAuthentication::DkimOrSpfOrSecret
        )
    }
}

/// A person who answers tickets.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub name: String,
    pub display_name: String,
    /// Normalised addresses; the first is where we write to.
    pub addresses: Vec<String>,
    pub team: String,
    /// The per-agent secret, when configured and set in the environment.
    pub secret: Option<String>,
}

impl Agent {
    pub fn mailbox(&self) -> Mailbox {
        Mailbox::new(Some(&self.display_name), &self.addresses[0])
    }
}

/// A group of agents at one tier.
#[derive(Debug, Clone, PartialEq)]
pub struct Team {
    pub name: String,
    pub tier: String,
    pub address: Option<String>,
    pub members: Vec<String>,
    pub lead: Option<String>,
    pub manager: Option<String>,
    pub default: bool,
}

/// Agents and teams, with the lookups decisions need.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Directory {
    pub agents: Vec<Agent>,
    pub teams: Vec<Team>,
}

impl Directory {
    /// Builds the directory; `env` reads per-agent secrets (the environment in
    /// the daemon, a map in tests).
    pub fn from_config(
        agents: &[AgentConfig],
        teams: &[TeamConfig],
        env: impl Fn(&str) -> Option<String>,
    ) -> Directory {
        let agents = agents
            .iter()
            .map(|a| Agent {
                name: a.name.clone(),
                display_name: a.display_name.clone().unwrap_or_else(|| a.name.clone()),
                addresses: a.addresses.iter().map(|x| normalise(x)).collect(),
                team: a.team.clone(),
                secret: a
                    .secret_env
                    .as_deref()
                    .and_then(&env)
                    .filter(|s| !s.is_empty()),
            })
            .collect();
        let teams = teams
            .iter()
            .map(|t| Team {
                name: t.name.clone(),
                tier: t.tier.clone(),
                address: t.address.as_deref().map(normalise),
                members: t.members.clone(),
                lead: t.lead.clone(),
                manager: t.manager.as_deref().map(normalise),
                default: t.default,
            })
            .collect();
        Directory { agents, teams }
    }

    pub fn agent_by_address(&self, address: &str) -> Option<&Agent> {
        let a = normalise(address);
        self.agents.iter().find(|ag| ag.addresses.contains(&a))
    }

    /// An agent by name (case-insensitive) or by any of their addresses.
    pub fn agent(&self, name_or_address: &str) -> Option<&Agent> {
        let n = name_or_address.trim();
        self.agents
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(n))
            .or_else(|| self.agent_by_address(n))
    }

    pub fn team(&self, name: &str) -> Option<&Team> {
        self.teams
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name.trim()))
    }

    /// Where new tickets go: the team marked default, else the first L1 team, else the first team.
    pub fn default_team(&self) -> Option<&Team> {
        self.teams
            .iter()
            .find(|t| t.default)
            .or_else(|| {
                self.teams
                    .iter()
                    .find(|t| t.tier.eq_ignore_ascii_case("L1"))
            })
            .or_else(|| self.teams.first())
    }

    /// Everyone who gets a team's notifications: its list address, or its members.
    pub fn team_recipients(&self, team: &str) -> Vec<Mailbox> {
        let Some(t) = self.team(team) else {
            return Vec::new();
        };
        if let Some(addr) = &t.address {
            return vec![Mailbox::new(Some(&t.name), addr)];
        }
        let mut out: Vec<Mailbox> = self
            .agents
            .iter()
            .filter(|a| {
                a.team.eq_ignore_ascii_case(&t.name)
                    || t.members.iter().any(|m| m.eq_ignore_ascii_case(&a.name))
            })
            .map(Agent::mailbox)
            .collect();
        out.dedup_by(|a, b| a.address == b.address);
        out
    }

    /// The team lead's mailbox.
    pub fn lead_of(&self, team: &str) -> Option<Mailbox> {
        let lead = self.team(team)?.lead.as_deref()?;
        self.agent(lead).map(Agent::mailbox)
    }

    /// The team a ticket moves to on `#escalate ARG`: a team name, or a tier
    /// (`L2`: the first team of that tier).
    pub fn escalation_target(&self, arg: &str) -> Result<&Team, String> {
        if let Some(t) = self.team(arg) {
            return Ok(t);
        }
        self.teams
            .iter()
            .find(|t| t.tier.eq_ignore_ascii_case(arg.trim()))
            .ok_or_else(|| {
                let names: Vec<String> = self
                    .teams
                    .iter()
                    .map(|t| format!("{} ({})", t.name, t.tier))
                    .collect();
                format!(
                    "no team or tier `{arg}`; expected one of: {}",
                    names.join(", ")
                )
            })
    }

    /// The first team of the next tier up (L1 → L2), if there is one.
    pub fn next_tier_team(&self, current_tier: &str) -> Option<&Team> {
        let level = tier_level(current_tier)?;
        self.teams
            .iter()
            .filter_map(|t| Some((tier_level(&t.tier)?, t)))
            .filter(|(l, _)| *l > level)
            .min_by_key(|(l, _)| *l)
            .map(|(_, t)| t)
    }
}

/// `L2` → 2.
fn tier_level(tier: &str) -> Option<u32> {
    tier.trim().trim_start_matches(['L', 'l']).parse().ok()
}

/// Checks the `[[agent]]` and `[[team]]` sections together: names and
/// addresses unique, every agent's team and every member and lead defined,
/// at most one default team.
pub fn validate(agents: &[AgentConfig], teams_list: &[TeamConfig]) -> Result<(), String> {
    let mut teams = std::collections::BTreeSet::new();
    for t in teams_list {
        if !teams.insert(t.name.to_lowercase()) {
            return Err(format!("team \"{}\" is defined twice", t.name));
        }
    }
    let mut names = std::collections::BTreeSet::new();
    let mut addresses = std::collections::BTreeMap::new();
    for a in agents {
        if !names.insert(a.name.to_lowercase()) {
            return Err(format!("agent \"{}\" is defined twice", a.name));
        }
        if a.addresses.is_empty() {
            return Err(format!(
                "agent \"{}\": addresses = [\"...\"] is empty",
                a.name
            ));
        }
        for addr in &a.addresses {
            let addr = crate::address::normalise(addr);
            if !addr.contains('@') {
                return Err(format!(
                    "agent \"{}\": \"{addr}\" is not an e-mail address",
                    a.name
                ));
            }
            if let Some(other) = addresses.insert(addr.clone(), a.name.clone()) {
                return Err(format!(
                    "address {addr} belongs to agents \"{other}\" and \"{}\"",
                    a.name
                ));
            }
        }
        if !teams.contains(&a.team.to_lowercase()) {
            return Err(format!(
                "agent \"{}\": team \"{}\" is not defined; expected one of: {}",
                a.name,
                a.team,
                teams_list
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    for t in teams_list {
        for m in t.members.iter().chain(t.lead.iter()) {
            if !names.contains(&m.to_lowercase()) {
                return Err(format!(
                    "team \"{}\": \"{m}\" is not a defined agent",
                    t.name
                ));
            }
        }
    }
    if teams_list.iter().filter(|t| t.default).count() > 1 {
        return Err("more than one team has default = true".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    pub(crate) fn directory() -> Directory {
        let cfg = Config::from_toml(
            r#"
[workflow]
agent-authentication = "none"
[[team]]
name = "service-desk"
tier = "L1"
address = "desk-team@corp.test"
lead = "carol"
[[team]]
name = "network"
tier = "L2"
members = ["nina"]
lead = "nina"
[[agent]]
name = "alice"
display-name = "Alice Wang"
addresses = ["Alice@corp.test", "alice.wang@corp.test"]
team = "service-desk"
secret-env = "ALICE_SECRET"
[[agent]]
name = "carol"
addresses = ["carol@corp.test"]
team = "service-desk"
[[agent]]
name = "nina"
addresses = ["nina@corp.test"]
team = "network"
"#,
            Path::new("t.toml"),
            Path::new("."),
        )
        .unwrap();
        Directory::from_config(&cfg.agents, &cfg.teams, |v| {
            (v == "ALICE_SECRET").then(|| "s3cret".to_string())
        })
    }

    #[test]
    fn lookups() {
        let d = directory();
        assert_eq!(
            d.agent_by_address("ALICE.WANG@corp.test").unwrap().name,
            "alice"
        );
        assert_eq!(d.agent("Alice").unwrap().secret.as_deref(), Some("s3cret"));
        assert!(d.agent("bob").is_none());
        assert_eq!(d.default_team().unwrap().name, "service-desk");
        assert_eq!(
            d.team_recipients("service-desk")[0].address,
            "desk-team@corp.test"
        );
        assert_eq!(d.team_recipients("network")[0].address, "nina@corp.test");
        assert_eq!(
            d.lead_of("service-desk").unwrap().address,
            "carol@corp.test"
        );
    }

    #[test]
    fn escalation_by_tier_or_name() {
        let d = directory();
        assert_eq!(d.escalation_target("L2").unwrap().name, "network");
        assert_eq!(d.escalation_target("Network").unwrap().name, "network");
        let err = d.escalation_target("L3").unwrap_err();
        assert!(err.contains("network (L2)"), "{err}");
        assert_eq!(d.next_tier_team("L1").unwrap().name, "network");
        assert!(d.next_tier_team("L2").is_none());
    }
}
