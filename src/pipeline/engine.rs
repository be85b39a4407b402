//! The engine: the configuration turned, once, into what the pipeline
//! needs: the templates and the core's policy.

use std::sync::Arc;

use crate::address::Mailbox;
use crate::config::{Config, MailboxConfig};
use crate::desk::people::Directory;
use crate::desk::policy::Policy;
use crate::desk::sla::Calendar;
use crate::desk::when;
use crate::outbound::{OutboundError, Renderer};
use crate::rspamd::Rspamd;
use crate::store::{Store, StoreError};
use crate::subject::TagFormat;
use crate::thread::IdKey;

/// Why the engine could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Templates(#[from] OutboundError),
    #[error("desk.time-zone: {0}")]
    TimeZone(String),
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// For the commands that only read (`tickets`, `ticket N`): the policy
/// (for SLA states) and the database opened read-only, with nothing
/// written, so they work on a full disk ([`Store::open_read_only`]); no
/// templates are loaded, which they do not need.
pub fn for_reading(config: &Config) -> Result<(Policy, Store), EngineError> {
    let store = Store::open_read_only(&config.resolve(&config.storage.database))?;
    // Reading signs nothing; a database that never made its key (it never
    // processed mail) gets a throwaway one rather than a write.
    let id_key = match store.stored_id_key()? {
        Some(k) => k,
        None => IdKey::generate().map_err(EngineError::Config)?,
    };
    Ok((policy_from_config(config, id_key)?, store))
}

/// Config turned into what the pipeline needs, built once.
pub struct Engine {
    pub config: Arc<Config>,
    renderer: Renderer,
    /// Mailboxes with templates of their own (`mailbox.templates`).
    mailbox_renderers: std::collections::BTreeMap<String, Renderer>,
    policy: Policy,
    /// rspamd, when `[spam]` names it.
    rspamd: Option<Rspamd>,
}

/// The decision policy a config describes, with this installation's
/// Message-ID key (from the database: `Store::id_key`).
pub fn policy_from_config(config: &Config, id_key: IdKey) -> Result<Policy, EngineError> {
    let desk = &config.desk;
    Ok(Policy {
        desk_name: desk.name.clone(),
        signature: None,
        desk_address: Mailbox::new(Some(&desk.name), &desk.address),
        id_domain: desk.id_domain().to_string(),
        id_key,
        tag: TagFormat::new(&desk.tag_prefix),
        lang: desk.language,
        detect_language: desk.detect_language,
        first_response: desk.first_response,
        time_zone: when::zone(&desk.time_zone).map_err(EngineError::TimeZone)?,
        time_zone_name: desk.time_zone.clone(),
        directory: Directory::from_config(&config.agents, &config.teams, |var| {
            std::env::var(var).ok()
        }),
        cc_watchers: config.workflow.cc_watchers,
        watchers_per_ticket: config.workflow.watchers_per_ticket,
        watchers_per_mail: config.workflow.watchers_per_mail,
        agent_authentication: config.workflow.agent_authentication,
        trusted_authserv_ids: config.workflow.trusted_authserv_ids.clone(),
        confirm_words: config.workflow.confirm_words.clone(),
        not_fixed_words: config.workflow.not_fixed_words.clone(),
        auto_close_after: config.workflow.auto_close_after,
        reopen_window: config.workflow.reopen_window,
        survey: config.survey.clone(),
        categories: config.workflow.categories.clone(),
        rules: config.compiled_rules().map_err(EngineError::Config)?,
        sla: config.sla.clone(),
        calendar: Calendar::from_config(&config.sla.calendar).map_err(EngineError::Config)?,
        kb: config.kb.clone(),
        spam: config.spam.clone(),
        canned: crate::desk::canned::Catalog::default(),
        approval: config.approval.clone(),
        exclusions: crate::desk::exclusion::rules::Exclusions::new(&config.exclusions)
            .map_err(EngineError::Config)?,
        scope: crate::desk::scope::settings::Scope::new(
            &desk.serve,
            desk.outside,
            desk.refusal_window,
        ),
    })
}

impl Engine {
    pub fn new(config: Config) -> Result<Engine, EngineError> {
        Engine::open(config).map(|(engine, _store)| engine)
    }

    /// The engine and the configured database, opened once for both: the
    /// engine's Message-ID key lives in it. A one-mail `ingest` opened it
    /// twice, once here and once to write.
    pub fn open(config: Config) -> Result<(Engine, Store), EngineError> {
        let desk_templates = config.templates_dir();
        let renderer = Renderer::new(desk_templates.as_deref())?;
        let mut mailbox_renderers = std::collections::BTreeMap::new();
        for m in &config.mailboxes {
            if let Some(own) = &m.templates {
                let own = config.resolve(own);
                let dirs = desk_templates.iter().chain(std::iter::once(&own));
                let r = Renderer::layered(dirs.map(|p| p.as_path()))?;
                mailbox_renderers.insert(m.name.clone(), r);
            }
        }
        // The key lives in the database, made at its first open.
        let store = Store::open(&config.resolve(&config.storage.database))?;
        let id_key = store.id_key()?;
        let mut policy = policy_from_config(&config, id_key)?;
        policy.canned = renderer.canned_catalog();
        let rspamd = Rspamd::from_config(&config.spam).map_err(EngineError::Config)?;
        let engine = Engine {
            config: Arc::new(config),
            renderer,
            mailbox_renderers,
            policy,
            rspamd,
        };
        Ok((engine, store))
    }

    /// Compiles every template of the desk and of each mailbox now (they
    /// are compiled on first use otherwise), so a broken one stops the
    /// daemon's start rather than a mail later.
    pub fn compile_templates(&self) -> Result<(), EngineError> {
        self.renderer.compile_all()?;
        for r in self.mailbox_renderers.values() {
            r.compile_all()?;
        }
        Ok(())
    }

    /// The rspamd client, when one is configured.
    pub fn rspamd(&self) -> Option<&Rspamd> {
        self.rspamd.as_ref()
    }

    pub fn renderer(&self) -> &Renderer {
        &self.renderer
    }

    /// The templates for mail about tickets that came in through `mailbox`.
    pub fn renderer_for(&self, mailbox: &str) -> &Renderer {
        self.mailbox_renderers
            .get(mailbox)
            .unwrap_or(&self.renderer)
    }

    /// The desk's decision policy (before per-mailbox adjustments).
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The policy for mail that came in through `mailbox`, and for every
    /// mail about a ticket that came in there: the mailbox's identity (From
    /// address and name, signature, language) over the desk's.
    pub fn policy_for(&self, mailbox: &str) -> Policy {
        let mut p = self.policy.clone();
        if let Some(m) = self.mailbox(mailbox) {
            if let Some(lang) = m.language {
                p.lang = lang;
            }
            if let Some(name) = &m.from_name {
                p.desk_name = name.clone();
            }
            let addr = m.address.as_deref().unwrap_or(&self.config.desk.address);
            p.desk_address = Mailbox::new(Some(&p.desk_name), addr);
            p.signature = m.signature.clone();
        }
        p
    }

    /// The language mail to `mailbox` is known to be written in, for
    /// reading raw 8-bit text the mail does not label: the mailbox's own
    /// `language`, else the desk's when it is not the default English (an
    /// English default says nothing about what arrives).
    pub fn mail_language(&self, mailbox: &str) -> Option<crate::lang::Lang> {
        self.mailbox(mailbox)
            .and_then(|m| m.language)
            .or(Some(self.config.desk.language).filter(|l| *l != crate::lang::Lang::En))
    }

    fn mailbox(&self, name: &str) -> Option<&MailboxConfig> {
        self.config.mailboxes.iter().find(|m| m.name == name)
    }

    /// Opens the configured database.
    pub fn open_store(&self) -> Result<Store, StoreError> {
        Store::open(&self.config.resolve(&self.config.storage.database))
    }

    /// Where the database is.
    pub fn database_path(&self) -> std::path::PathBuf {
        self.config.resolve(&self.config.storage.database)
    }
}
