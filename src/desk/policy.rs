//! What `decide` needs to know about the desk: its identity, its settings
//! and the compiled rules, calendar and people. Also the `[desk]` and
//! `[workflow]` settings sections, which the core owns.

use std::path::PathBuf;
use std::time::Duration;

use jiff::tz::TimeZone;
use serde::Deserialize;

use crate::address::Mailbox;
use crate::desk::kb::entry::KbConfig;
use crate::desk::people::{AgentAuthentication, Directory};
use crate::desk::rules::Rules;
use crate::desk::sla::calendar::Calendar;
use crate::desk::sla::config::{PolicyConfig, SlaConfig};
use crate::desk::survey::SurveyConfig;
use crate::desk::ticket::Priority;
use crate::lang::Lang;
use crate::subject::TagFormat;
use crate::thread::IdKey;

/// What decide needs to know about the desk and the mailbox the mail came in.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The name mail is signed with and sent from: the desk's, or the
    /// mailbox's `from-name`.
    pub desk_name: String,
    /// The mailbox's signature, added below every mail (see [`crate::compose`]).
    pub signature: Option<String>,
    /// Our address: From of everything we send.
    pub desk_address: Mailbox,
    /// Domain of our Message-IDs and loop marker.
    pub id_domain: String,
    /// This installation's key for our Message-IDs.
    pub id_key: IdKey,
    pub tag: TagFormat,
    /// The mailbox's language (also the language of notices to agents).
    pub lang: Lang,
    /// Answer in Chinese when the requester clearly writes Chinese.
    pub detect_language: bool,
    pub first_response: Duration,
    pub time_zone: TimeZone,
    pub time_zone_name: String,
    pub directory: Directory,
    pub cc_watchers: bool,
    /// The most watchers a ticket can have.
    pub watchers_per_ticket: usize,
    /// The most watchers one mail can add (its Cc, or an agent's `#cc add` lines).
    pub watchers_per_mail: usize,
    pub agent_authentication: AgentAuthentication,
    pub trusted_authserv_ids: Vec<String>,
    pub confirm_words: Vec<String>,
    pub not_fixed_words: Vec<String>,
    pub auto_close_after: Duration,
    pub reopen_window: Duration,
    pub survey: SurveyConfig,
    /// Categories agents may set; empty = any word.
    pub categories: Vec<String>,
    /// Classification of new tickets.
    pub rules: Rules,
    /// SLA policies and the business calendar they count in.
    pub sla: SlaConfig,
    pub calendar: Calendar,
    /// The knowledge base: drafts on resolution, `#kb` commands.
    pub kb: KbConfig,
    /// Spam, rspamd and backscatter (see [`crate::desk::spam`]).
    pub spam: crate::desk::spam::settings::SpamConfig,
    /// The canned replies `#reply NAME` may use (read with the templates).
    pub canned: crate::desk::canned::Catalog,
    /// `#approval`: approvers by category, reminders, the SLA clock.
    pub approval: crate::desk::approval::settings::ApprovalConfig,
    /// Who the desk serves (see [`crate::desk::scope`]).
    pub scope: crate::desk::scope::settings::Scope,
    /// What the desk does not do (see [`crate::desk::exclusion`]).
    pub exclusions: crate::desk::exclusion::rules::Exclusions,
}

impl Policy {
    /// The SLA policy for a ticket, if one applies.
    pub fn sla_policy(
        &self,
        priority: Option<Priority>,
        category: Option<&str>,
    ) -> Option<&PolicyConfig> {
        self.sla.policy_for(priority?, category)
    }

    /// When a first answer is due for a ticket created at `from_ms`: the SLA
    /// policy's target in its clock, else `desk.first-response` of calendar time.
    pub fn first_response_due(
        &self,
        priority: Option<Priority>,
        category: Option<&str>,
        from_ms: i64,
    ) -> i64 {
        if let Some(p) = self.sla_policy(priority, category)
            && let Some(target) = p.first_response
            && let Ok(due) = p.clock.add(&self.calendar, from_ms, target)
        {
            return due;
        }
        from_ms.saturating_add(self.first_response.as_millis() as i64)
    }
}

/// Who the desk is and how it talks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Desk {
    pub name: String,
    pub address: String,
    pub message_id_domain: Option<String>,
    pub tag_prefix: String,
    pub language: Lang,
    #[serde(deserialize_with = "crate::units::de_duration")]
    pub first_response: Duration,
    pub time_zone: String,
    pub templates: Option<PathBuf>,
    pub first_ticket_number: i64,
    /// Also follow the requester's language when their mail is clearly Chinese.
    pub detect_language: bool,
    /// Who gets the operational alerts (a mailbox failing, the outbox
    /// stuck, the disk filling): see `crate::alerts`. Empty: no alerts.
    pub admin: Vec<String>,
    /// Who the desk serves: addresses and `@domains`; empty: everyone.
    pub serve: Vec<String>,
    /// What a new request from outside `serve` gets.
    pub outside: crate::desk::scope::settings::Outside,
    /// A sender outside the scope is refused at most once in this span.
    #[serde(deserialize_with = "crate::units::de_duration")]
    pub refusal_window: Duration,
}

impl Default for Desk {
    fn default() -> Desk {
        Desk {
            name: "Service Desk".into(),
            address: "helpdesk@localhost".into(),
            message_id_domain: None,
            tag_prefix: "#".into(),
            language: Lang::En,
            first_response: Duration::from_secs(8 * 3600),
            time_zone: "UTC".into(),
            templates: None,
            first_ticket_number: 1,
            detect_language: true,
            admin: Vec::new(),
            serve: Vec::new(),
            outside: crate::desk::scope::settings::Outside::Ticket,
            refusal_window: Duration::from_secs(24 * 3600),
        }
    }
}

impl Desk {
    /// Checks what the types alone cannot.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(a) = self.admin.iter().find(|a| !a.contains('@')) {
            return Err(format!(
                "desk.admin: expected e-mail addresses like [\"it-ops@example.com\"], got \"{a}\""
            ));
        }
        if !self.address.contains('@') {
            return Err(format!(
                "desk.address: expected an e-mail address like \"helpdesk@example.com\", got \"{}\"",
                self.address
            ));
        }
        if self.time_zone != "UTC" && crate::desk::when::zone(&self.time_zone).is_err() {
            return Err(format!(
                "desk.time-zone: unknown time zone \"{}\": expected an IANA name like \"Asia/Shanghai\"",
                self.time_zone
            ));
        }
        crate::desk::scope::settings::Scope::validate(&self.serve)?;
        Ok(())
    }

    /// The domain our Message-IDs end in.
    pub fn id_domain(&self) -> &str {
        match &self.message_id_domain {
            Some(d) => d,
            None => self
                .address
                .rsplit_once('@')
                .map(|(_, d)| d)
                .unwrap_or("localhost"),
        }
    }
}

/// The ticket lifecycle's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Workflow {
    /// People in Cc of a request become watchers and receive public updates.
    pub cc_watchers: bool,
    /// The most watchers a ticket can have: each one gets every public
    /// update, so a stranger's Cc list must not turn the desk into an amplifier.
    pub watchers_per_ticket: usize,
    /// The most watchers one mail can add (the Cc of a request, an agent's
    /// `#cc add` lines).
    pub watchers_per_mail: usize,
    pub agent_authentication: AgentAuthentication,
    /// `Authentication-Results` headers count only from these servers (authserv-id).
    pub trusted_authserv_ids: Vec<String>,
    /// Words (besides the built-in ones) with which a requester confirms a resolution.
    pub confirm_words: Vec<String>,
    /// Words (besides the built-in ones) with which a requester says it is not fixed.
    pub not_fixed_words: Vec<String>,
    /// A resolved ticket without an answer closes after this long.
    #[serde(deserialize_with = "crate::units::de_duration")]
    pub auto_close_after: Duration,
    /// A reply to a ticket closed longer ago than this opens a new ticket.
    #[serde(deserialize_with = "crate::units::de_duration")]
    pub reopen_window: Duration,
    /// How often the daemon looks for tickets to close and SLAs to escalate.
    #[serde(deserialize_with = "crate::units::de_duration")]
    pub sweep_interval: Duration,
    /// The categories agents may set with `#category`; empty allows any word.
    pub categories: Vec<String>,
}

impl Default for Workflow {
    fn default() -> Workflow {
        Workflow {
            cc_watchers: true,
            watchers_per_ticket: 20,
            watchers_per_mail: 10,
            agent_authentication: AgentAuthentication::default(),
            trusted_authserv_ids: Vec::new(),
            confirm_words: Vec::new(),
            not_fixed_words: Vec::new(),
            auto_close_after: Duration::from_secs(5 * 86400),
            reopen_window: Duration::from_secs(14 * 86400),
            sweep_interval: Duration::from_secs(60),
            categories: ["hardware", "software", "network", "account", "other"]
                .map(String::from)
                .to_vec(),
        }
    }
}
