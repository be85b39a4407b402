//! The `postdesk` command: parse arguments, set up logging, call the library.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use postdesk::config::Config;
use postdesk::desk::commands::Changes;
use postdesk::desk::sla::status as escalation;
use postdesk::desk::sla::status::DueFilter;
use postdesk::desk::ticket::{Priority, Status};
use postdesk::desk::timelog;
use postdesk::desk::when::iso;
use postdesk::pipeline::Retried;
use postdesk::pipeline::{self, Engine, Incoming};
use postdesk::source::now_ms;
use postdesk::store::{KbReview, Store, TicketFilter};
use postdesk::terminal::line as shown;

// `println!`, `print!` and `eprintln!` that do not panic when the other end
// is gone. std's panic when a write fails, and a closed pipe
// (`postdesk tickets --json | head`) is such a failure: Rust ignores SIGPIPE,
// so where a C program would just be stopped, the write returns EPIPE and
// std panics with "failed printing to stdout". Shadowing the macros keeps
// every call site as it is.
macro_rules! println {
    () => { crate::write_stdout(format_args!("\n")) };
    ($($arg:tt)*) => { crate::write_stdout(format_args!("{}\n", format_args!($($arg)*))) };
}
macro_rules! print {
    ($($arg:tt)*) => { crate::write_stdout(format_args!($($arg)*)) };
}
macro_rules! eprintln {
    ($($arg:tt)*) => { crate::write_stderr(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Writes to stdout. When the reader has closed the pipe it wanted no more:
/// the process ends at once and quietly, with success, as `head` expects
/// (a C program would have been stopped by SIGPIPE at this point too). Any
/// other failure (a full disk behind a redirect) is said on stderr and ends
/// the process with failure, since the output is incomplete.
fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        write_stderr(format_args!("postdesk: writing the output: {e}\n"));
        std::process::exit(1);
    }
}

/// Writes to stderr; if even that fails there is no one left to tell.
fn write_stderr(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// A service desk that lives in e-mail.
#[derive(Parser)]
#[command(name = "postdesk", version, about)]
struct Cli {
    /// The config file. Without one, the built-in defaults are used: a Maildir
    /// in DATA/inbox, answers written to DATA/outbox, the database in DATA.
    #[arg(long, short, global = true, env = "POSTDESK_CONFIG")]
    config: Option<PathBuf>,
    /// The data folder for the built-in defaults (ignored with --config).
    #[arg(
        long,
        global = true,
        default_value = "postdesk-data",
        env = "POSTDESK_DATA"
    )]
    data: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct TicketsArgs {
    /// Only tickets in this status: new, open, pending, resolved, closed, spam.
    #[arg(long)]
    status: Option<String>,
    /// Only spam (which no other listing shows): the same as `--status spam`.
    #[arg(long, conflicts_with = "status")]
    spam: bool,
    /// Only this priority: P1..P4 (or critical, high, normal, low).
    #[arg(long)]
    priority: Option<String>,
    #[arg(long)]
    category: Option<String>,
    #[arg(long)]
    team: Option<String>,
    /// Only tickets assigned to this agent (name).
    #[arg(long)]
    assignee: Option<String>,
    /// Words in the subject, the requester's address or any message.
    #[arg(long)]
    search: Option<String>,
    /// Only tickets past an SLA due time.
    #[arg(long)]
    overdue: bool,
    /// Only tickets with an SLA due time within this span, e.g. 2h.
    #[arg(long, value_name = "DURATION")]
    due_within: Option<String>,
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum AuthCommand {
    /// Sign in and store the tokens: device code (a URL and a code, with a
    /// countdown), installed app (a URL; the browser returns to 127.0.0.1),
    /// or, for app-only flows, fetch a token to check the settings.
    Login {
        /// A mailbox's name, or `outbox`.
        name: String,
    },
    /// Each OAuth2 mailbox and the outbox: flow, token expiry, failing or not.
    Status,
    /// Revoke the refresh token at the provider (when it has a revocation
    /// endpoint: Google does, Microsoft does not) and delete the stored
    /// tokens of a mailbox or the outbox.
    Logout {
        name: String,
        /// Delete the tokens without telling the provider.
        #[arg(long)]
        local: bool,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: watch the mailboxes, answer, send. Stops cleanly on Ctrl-C or SIGTERM.
    Run,
    /// Validate config and templates, then try to log in to IMAP and SMTP.
    Check,
    /// OAuth2 sign-in of a mailbox or the outbox (`auth = "oauth2"`).
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Process messages from files, or one from stdin (`-`), e.g. piped from an MTA.
    /// Exits 0 when recorded, 75 on a temporary failure (the MTA retries).
    Ingest {
        /// Record the mail as received by this mailbox (default: the first configured).
        #[arg(long)]
        mailbox: Option<String>,
        /// Message files; `-` or nothing reads one message from stdin.
        files: Vec<PathBuf>,
    },
    /// Record a mailbox's old mail as history: closed tickets with their
    /// threads, nothing sent, no SLA, not in reviews. Resumable: run it again
    /// after a crash or Ctrl-C and it goes on where it stopped.
    Import(ImportArgs),
    /// List tickets, newest first, with filters.
    Tickets(TicketsArgs),
    /// Show one ticket with its messages and timeline; change it (`set`) or
    /// export its mail (`export`).
    Ticket {
        number: i64,
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        action: Option<TicketAction>,
    },
    /// Show mail waiting to be sent (and why), and recent failures.
    Outbox {
        /// Also list mail already sent.
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Write a consistent copy of the database to FILE, also while the
    /// daemon runs (SQLite's online backup).
    Backup { file: PathBuf },
    /// Replace the database with the backup FILE; refused while a daemon
    /// uses the database (stop it first).
    Restore { file: PathBuf },
    /// List messages that could not be processed; retry one, or all, after a fix.
    Quarantine {
        /// Process this quarantined message again.
        #[arg(long, conflicts_with = "retry_all")]
        retry: Option<i64>,
        /// Process every held message again, oldest first (with a progress
        /// bar on a terminal).
        #[arg(long)]
        retry_all: bool,
    },
    /// The knowledge base: list, show, publish, skip, edit, add and search entries.
    #[command(subcommand)]
    Kb(KbCommand),
    /// The review of a period (default: last calendar month, in the desk's
    /// time zone): volumes, times against the SLA, backlog, satisfaction,
    /// recurring problems, per agent and team.
    Report(ReportArgs),
    /// The canned replies an agent can send with `#reply NAME` (`#回复 NAME`):
    /// built in and under the templates folder's replies/LANG/NAME.txt.
    Replies,
}

#[derive(clap::Args)]
struct ImportArgs {
    /// The `[[mailbox]]` to import into (its name).
    #[arg(long)]
    mailbox: String,
    /// Only mail of this day or later, YYYY-MM-DD (IMAP: the day the server
    /// received it; Maildir: the mail's Date).
    #[arg(long, value_name = "DATE")]
    since: Option<String>,
    /// Another folder of the account (IMAP), or a Maildir++ subfolder
    /// (`.Archive`); default: the mailbox's own folder, up to where the
    /// desk started.
    #[arg(long)]
    folder: Option<String>,
}

#[derive(clap::Args)]
struct ReportArgs {
    /// First day, YYYY-MM-DD (with --to).
    #[arg(long, requires = "to", conflicts_with_all = ["quarter", "month"])]
    from: Option<String>,
    /// Last day, YYYY-MM-DD, included.
    #[arg(long, requires = "from")]
    to: Option<String>,
    /// A quarter, like 2026Q3.
    #[arg(long, conflicts_with = "month")]
    quarter: Option<String>,
    /// A month, like 2026-11.
    #[arg(long)]
    month: Option<String>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    format: ReportFormat,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ReportFormat {
    Text,
    Markdown,
    Csv,
    Json,
    Html,
}

#[derive(Subcommand)]
enum TicketAction {
    /// Change status, priority, category, assignee or team, with the same
    /// rules, events and mails as the agents' commands. Nothing changes when
    /// one change is refused.
    Set {
        /// new, open, pending, resolved, closed (resolved asks the requester
        /// to confirm; closed sends the survey).
        #[arg(long)]
        status: Option<String>,
        /// P1..P4 or critical, high, normal, low.
        #[arg(long)]
        priority: Option<String>,
        #[arg(long)]
        category: Option<String>,
        /// An agent's name or address.
        #[arg(long)]
        assignee: Option<String>,
        /// A team or a tier (like #escalate: the team is told, the assignee cleared).
        #[arg(long)]
        team: Option<String>,
        /// Who to record in the timeline.
        #[arg(long, default_value = "admin (cli)")]
        actor: String,
    },
    /// Write the ticket's mail, in and out, as .eml files or one mbox.
    Export {
        /// A folder for one .eml file per message.
        #[arg(long, conflicts_with = "mbox", required_unless_present = "mbox")]
        eml: Option<PathBuf>,
        /// An mbox file (mboxrd).
        #[arg(long)]
        mbox: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum KbCommand {
    /// List entries, newest first.
    List {
        /// Only entries in this state: draft, published, skipped.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Show one entry.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Publish an entry: it becomes searchable and is suggested to requesters.
    Publish { id: i64 },
    /// Keep an entry out of the knowledge base.
    Skip { id: i64 },
    /// Change an entry's title, problem or solution.
    Edit {
        id: i64,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        problem: Option<String>,
        #[arg(long)]
        solution: Option<String>,
    },
    /// Write a new entry by hand (published unless --draft).
    Add {
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        problem: String,
        #[arg(long)]
        solution: String,
        #[arg(long)]
        category: Option<String>,
        /// Language of the entry: en or zh-CN.
        #[arg(long, default_value = "en")]
        lang: String,
        #[arg(long)]
        draft: bool,
    },
    /// Find entries with every word (Chinese words inside sentences too).
    Search {
        #[arg(required = true)]
        words: Vec<String>,
        /// Also drafts and skipped entries.
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// What an acknowledgement would suggest for a request, with scores
    /// (all scores with --min-score 0: to tune kb.min-score).
    Suggest {
        #[arg(long, default_value = "")]
        subject: String,
        /// The request's text.
        text: Vec<String>,
        #[arg(long)]
        min_score: Option<f64>,
    },
}

/// sysexits: a temporary failure the caller should retry.
const EX_TEMPFAIL: u8 = 75;
/// sysexits: a configuration error.
const EX_CONFIG: u8 = 78;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match load_config(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("postdesk: {e:#}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    init_logging(config.log_format);
    let result = match cli.command {
        Command::Run => run(config),
        Command::Check => check(config),
        Command::Auth(c) => auth(&config, c),
        Command::Ingest { mailbox, files } => return ingest(config, mailbox, files),
        Command::Import(args) => import(config, args),
        Command::Tickets(args) => tickets(config, args),
        Command::Ticket {
            number,
            json,
            action: None,
        } => ticket(config, number, json),
        Command::Ticket {
            number,
            action: Some(action),
            ..
        } => ticket_action(config, number, action),
        Command::Outbox { all, limit, json } => outbox(&config, all, limit, json),
        Command::Quarantine { retry, retry_all } => quarantine(config, retry, retry_all),
        Command::Kb(c) => kb(&config, c),
        Command::Backup { file } => backup(&config, &file),
        Command::Restore { file } => restore(&config, &file),
        Command::Report(a) => report(config, a),
        Command::Replies => replies(&config),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("postdesk: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Protocol traces of the mail crates write credentials: async-imap logs the
/// `LOGIN` line (password included) at trace, lettre every SMTP command
/// (`AUTH` with the base64 credentials) at debug. They are capped below
/// those levels whatever `POSTDESK_LOG` asks, so no setting puts a password
/// in a log (tests/it/spine.rs runs the daemon and `check` at trace).
const CREDENTIAL_SAFE: &str = "async_imap=debug,lettre=info";

/// Logs to stderr as `log-format` says (`POSTDESK_LOG_FORMAT=json` or
/// `text` overrides it), at the level of `POSTDESK_LOG`.
fn init_logging(format: postdesk::config::LogFormat) {
    let asked = std::env::var("POSTDESK_LOG").unwrap_or_else(|_| "info".into());
    let filter = tracing_subscriber::EnvFilter::try_new(format!("{asked},{CREDENTIAL_SAFE}"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("info,{CREDENTIAL_SAFE}")));
    let json = match std::env::var("POSTDESK_LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("text") => false,
        _ => format == postdesk::config::LogFormat::Json,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().with_ansi(false).init();
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
}

fn load_config(cli: &Cli) -> Result<Config> {
    match &cli.config {
        Some(p) => Ok(Config::load(p)?),
        None => Ok(Config::embedded(&cli.data)),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn run(config: Config) -> Result<ExitCode> {
    if config.source.is_none() {
        describe_embedded(&config);
    }
    runtime()?.block_on(async {
        let (to, reloads) = tokio::sync::mpsc::channel(1);
        // The built-in defaults have no file to read again.
        if let Some(path) = config.source.clone() {
            tokio::spawn(postdesk::daemon::reload_on_sighup(path, to));
        }
        postdesk::daemon::run_reloading(config, postdesk::daemon::shutdown_signal(), reloads).await
    })?;
    Ok(ExitCode::SUCCESS)
}

fn backup(config: &Config, file: &Path) -> Result<ExitCode> {
    let store = open_store(config)?;
    let bar = postdesk::progress::Progress::new("backup");
    store
        .backup_to(file, |done, total| bar.set(done, total))
        .with_context(|| {
            format!(
                "backing up {} to {}",
                store.path().display(),
                file.display()
            )
        })?;
    bar.finish();
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    println!(
        "backed up {} to {} ({size} bytes)",
        store.path().display(),
        file.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn restore(config: &Config, file: &Path) -> Result<ExitCode> {
    let db = config.resolve(&config.storage.database);
    // Held while restoring, so a daemon cannot start on a half-written file.
    let _lock = postdesk::store::DaemonLock::take(&db).map_err(|e| {
        anyhow::anyhow!("{e}; stop it first (systemctl stop postdesk), then restore")
    })?;
    let bar = postdesk::progress::Progress::new("restore");
    postdesk::store::restore(file, &db, |done, total| bar.set(done, total))
        .with_context(|| format!("restoring {} from {}", db.display(), file.display()))?;
    bar.finish();
    println!("restored {} from {}", db.display(), file.display());
    Ok(ExitCode::SUCCESS)
}

/// Tells a first-time user where to drop mail and where answers appear.
fn describe_embedded(config: &Config) {
    let inbox = config.resolve(Path::new("inbox"));
    let _ = postdesk::source::maildir::ensure(&inbox);
    let outbox = config.resolve(&config.outbox.dir);
    eprintln!("postdesk is running on its built-in defaults (no --config):");
    eprintln!(
        "  drop a message (an .eml file) into  {}/new/",
        inbox.display()
    );
    eprintln!(
        "  acknowledgements appear in          {}/",
        outbox.display()
    );
    eprintln!(
        "  database                            {}",
        config.resolve(&config.storage.database).display()
    );
    eprintln!("  list tickets with                   postdesk tickets");
    eprintln!("Stop with Ctrl-C.");
}

fn open_store(config: &Config) -> Result<Store> {
    let path = config.resolve(&config.storage.database);
    Store::open(&path).with_context(|| format!("opening {}", path.display()))
}

fn check(config: Config) -> Result<ExitCode> {
    let mut ok = true;
    runtime()?.block_on(postdesk::check::each(&config, |f| {
        ok &= !f.failed();
        println!("{f}");
    }));
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn oauth_accounts(config: &Config) -> Result<Vec<postdesk::oauth::signin::Account>> {
    let mailboxes = config.mailboxes.iter().map(|m| {
        (
            m.name.clone(),
            m.auth,
            m.mechanism,
            m.username.as_deref().unwrap_or(""),
            m.oauth.as_ref(),
        )
    });
    let o = &config.outbox;
    let outbox = (
        "outbox".to_string(),
        o.auth,
        o.mechanism,
        o.username.as_deref().unwrap_or(""),
        o.oauth.as_ref(),
    );
    postdesk::oauth::signin::accounts(mailboxes.chain([outbox]), &config.base_dir)
        .map_err(anyhow::Error::msg)
}

fn auth(config: &Config, c: AuthCommand) -> Result<ExitCode> {
    use postdesk::oauth::signin;
    let accounts = oauth_accounts(config)?;
    let find = |name: &str| {
        accounts
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
                anyhow::anyhow!(
                    "no mailbox or outbox named {name:?} signs in with auth = \"oauth2\" (those that do: {})",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                )
            })
    };
    match c {
        AuthCommand::Login { name } => {
            let a = find(&name)?;
            runtime()?
                .block_on(signin::login(&a.source, &mut |line| println!("{line}")))
                .map_err(anyhow::Error::msg)?;
        }
        AuthCommand::Status => {
            if accounts.is_empty() {
                println!("no mailbox or outbox signs in with auth = \"oauth2\"");
            }
            for a in &accounts {
                println!("{}", signin::status_line(a));
            }
        }
        AuthCommand::Logout { name, local } => {
            let a = find(&name)?;
            let said = runtime()?
                .block_on(signin::logout(&a.source, local))
                .map_err(anyhow::Error::msg)?;
            println!("{said}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn ingest(config: Config, mailbox: Option<String>, files: Vec<PathBuf>) -> ExitCode {
    match try_ingest(config, mailbox, files) {
        Ok(summary) => {
            eprintln!("postdesk: {summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            // Anything that goes wrong here is worth a retry by the MTA: the
            // mail was not recorded, so nothing is lost by trying again.
            eprintln!("postdesk: temporary failure, message not recorded: {e:#}");
            ExitCode::from(EX_TEMPFAIL)
        }
    }
}

fn try_ingest(config: Config, mailbox: Option<String>, files: Vec<PathBuf>) -> Result<String> {
    let chosen = mailbox.is_some();
    let mailbox = mailbox
        .or_else(|| config.mailboxes.first().map(|m| m.name.clone()))
        .unwrap_or_else(|| "ingest".into());
    let mut items = Vec::new();
    if files.is_empty() || files.iter().any(|f| f.as_os_str() == "-") {
        let mut raw = Vec::new();
        std::io::stdin()
            .read_to_end(&mut raw)
            .context("reading stdin")?;
        items.push(Incoming { raw, uid: None });
    }
    for f in files.iter().filter(|f| f.as_os_str() != "-") {
        let raw = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        items.push(Incoming { raw, uid: None });
    }
    // A running daemon with an LMTP socket records the mail on its open
    // database; this process then opens nothing (1.4 M instructions
    // instead of 5.3 M, callgrind, one request). The daemon records under
    // its `lmtp.mailbox`, so another `--mailbox` is recorded here.
    let mut handed = String::new();
    if let Some(socket) = &config.lmtp.socket
        && (!chosen
            || mailbox
                == config
                    .lmtp
                    .mailbox_name(config.mailboxes.first().map(|m| m.name.as_str())))
    {
        let path = config.resolve(socket);
        let mails: Vec<&[u8]> = items.iter().map(|i| i.raw.as_slice()).collect();
        if let Some(out) = postdesk::source::lmtp::client::hand_over(&path, &mails) {
            match out.failure {
                None => {
                    return Ok(format!(
                        "{} (recorded by the running daemon)",
                        summary(&out.tally)
                    ));
                }
                // What the daemon did not answer for is recorded here; one it
                // committed without answering is then a duplicate.
                Some(why) => {
                    eprintln!(
                        "postdesk: the running daemon did not take the mail ({why}); recording it here"
                    );
                    items.drain(..out.recorded);
                    if out.recorded > 0 {
                        handed = format!("; {} by the running daemon", summary(&out.tally));
                    }
                }
            }
        }
    }
    let (engine, mut store) = Engine::open(config)?;
    store.durable_commits()?;
    let t = pipeline::process_batch(&mut store, &engine, &mailbox, &items, None, now_ms())?;
    Ok(format!("{}{handed}", summary(&t)))
}

fn summary(t: &pipeline::Tally) -> String {
    format!(
        "{} new ticket(s), {} reply(ies), {} duplicate(s), {} quarantined, {} mail(s) queued",
        t.created, t.attached, t.duplicates, t.quarantined, t.queued
    )
}

/// The indexed SLA schedule can narrow an overdue / due-soon listing when
/// it was computed with these rules (else every active ticket is read).
fn sla_narrowing(
    store: &Store,
    policy: &postdesk::desk::policy::Policy,
    due: DueFilter,
    now: i64,
) -> Result<Option<postdesk::store::SlaDue>> {
    if !due.is_active() || store.sla_schedule_basis()? != Some(pipeline::sla_basis(policy)) {
        return Ok(None);
    }
    let within = due.within.map_or(0, |w| w.as_millis() as i64);
    Ok(Some(postdesk::store::SlaDue {
        now,
        due_by: now.saturating_add(within),
        running_only: due.within.is_none(),
    }))
}

fn import(config: Config, a: ImportArgs) -> Result<ExitCode> {
    use postdesk::config::SourceKind;
    use postdesk::source::import;
    let since = match &a.since {
        Some(d) => Some(
            d.parse::<jiff::civil::Date>()
                .with_context(|| format!("--since {d}: expected a day like 2026-01-31"))?,
        ),
        None => None,
    };
    let Some(m) = config.mailboxes.iter().find(|m| m.name == a.mailbox) else {
        let names: Vec<&str> = config.mailboxes.iter().map(|m| m.name.as_str()).collect();
        bail!(
            "--mailbox {}: no such [[mailbox]] (configured: {})",
            a.mailbox,
            names.join(", ")
        );
    };
    let mut m = m.clone();
    m.ca_file = m.ca_file.as_deref().map(|p| config.resolve(p));
    let engine = std::sync::Arc::new(Engine::new(config.clone())?);
    let store = std::sync::Arc::new(std::sync::Mutex::new(engine.open_store()?));
    let bar = postdesk::progress::Progress::counting("importing", "mails");
    let mut progress = |p: import::Progress| bar.set(p.done, p.total);
    let cancel = tokio_util::sync::CancellationToken::new();
    let rt = runtime()?;
    let stop = cancel.clone();
    rt.spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    let out = rt.block_on(async {
        match m.kind {
            SourceKind::Imap => {
                postdesk::tls::init();
                // As the daemon signs in: a password, or an OAuth2 token.
                let login = postdesk::source::imap::Login::of(&m, &config.base_dir)
                    .map_err(anyhow::Error::msg)?;
                let mut session = postdesk::source::imap::connect_as(&m, &login).await?;
                let folder = a.folder.clone().unwrap_or_else(|| m.folder.clone());
                let job = import::Job {
                    cfg: &m,
                    folder: &folder,
                    since,
                    started_by: import::BY_COMMAND,
                };
                let out = import::imap_folder(
                    &mut session,
                    &store,
                    &engine,
                    &job,
                    &cancel,
                    &mut progress,
                )
                .await;
                let _ =
                    tokio::time::timeout(std::time::Duration::from_secs(5), session.logout()).await;
                Ok::<_, anyhow::Error>(out?)
            }
            SourceKind::Maildir => {
                let root = config.resolve(m.path.as_deref().unwrap_or(Path::new("maildir")));
                let dir = match &a.folder {
                    Some(f) => root.join(f),
                    None => root,
                };
                let files = import::maildir_files(&dir, false)
                    .with_context(|| format!("listing {}", dir.display()))?;
                let job = import::MaildirJob {
                    mailbox: m.name.clone(),
                    folder: dir.display().to_string(),
                    started_by: import::BY_COMMAND,
                    batch_size: m.batch_size,
                    batch_bytes: m.batch_bytes,
                    since,
                };
                import::maildir_files_import(&store, &engine, &job, &files, &cancel, &mut progress)
                    .await
                    .map_err(anyhow::Error::msg)
            }
        }
    })?;
    bar.clear();
    let t = out.tally;
    let resumed = out
        .resumed_after
        .map(|u| format!(" (resumed after UID {u})"))
        .unwrap_or_default();
    eprintln!(
        "postdesk: {} {}: read {} mail(s){resumed}: {} ticket(s) recorded as history, {} joined their thread, {} already recorded, {} not about a ticket, {} quarantined; nothing was sent",
        if out.finished {
            "imported"
        } else {
            "stopped importing"
        },
        out.folder,
        out.read,
        t.created,
        t.attached,
        t.duplicates,
        t.ignored,
        t.quarantined
    );
    if !out.finished {
        eprintln!("postdesk: run the same command again to go on where it stopped");
        return Ok(ExitCode::from(EX_TEMPFAIL));
    }
    Ok(ExitCode::SUCCESS)
}

fn tickets(config: Config, a: TicketsArgs) -> Result<ExitCode> {
    if let Some(s) = &a.status {
        s.parse::<Status>().map_err(anyhow::Error::msg)?;
    }
    let priority = match &a.priority {
        Some(p) => Some(
            p.parse::<Priority>()
                .map_err(anyhow::Error::msg)?
                .to_string(),
        ),
        None => None,
    };
    let due = DueFilter {
        overdue: a.overdue,
        within: match &a.due_within {
            Some(d) => Some(postdesk::units::parse_duration(d).map_err(anyhow::Error::msg)?),
            None => None,
        },
    };
    let filter = TicketFilter {
        status: if a.spam {
            Some(Status::Spam.as_str().to_string())
        } else {
            a.status.clone()
        },
        priority,
        category: a.category.clone(),
        team: a.team.clone(),
        assignee: a.assignee.clone(),
        text: a.search.clone(),
        active_only: due.is_active(),
        sla_due: None,
    };
    let (policy, store) = pipeline::for_reading(&config)?;
    let now = now_ms();
    let filter = TicketFilter {
        sla_due: sla_narrowing(&store, &policy, due, now)?,
        ..filter
    };
    // An SLA filter sees every active ticket before it knows the first `limit`.
    let listed = store.tickets_with_sla(&filter, (!due.is_active()).then_some(a.limit))?;
    let rows = escalation::select(&policy, listed, due, now, a.limit);
    if a.json {
        let out: Vec<serde_json::Value> = rows
            .iter()
            .map(|(t, due)| {
                let mut v = serde_json::to_value(t).unwrap_or_default();
                v["next_due"] = serde_json::json!(due);
                v
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("no tickets");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:>7}  {:<9} {:<3} {:<14} {:<10} {:<20}  {:<28}  subject",
        "ticket", "status", "pri", "team", "assignee", "next due", "requester"
    );
    for (t, due) in rows {
        let due = due
            .map(|d| postdesk::desk::sla::describe_remaining(d - now))
            .unwrap_or_default();
        println!(
            "{:>7}  {:<9} {:<3} {:<14} {:<10} {:<20}  {:<28}  {}",
            t.number,
            t.status,
            t.priority.as_deref().unwrap_or("-"),
            truncate(&shown(t.team.as_deref().unwrap_or("-")), 14),
            truncate(&shown(t.assignee.as_deref().unwrap_or("-")), 10),
            due,
            truncate(&shown(&t.requester), 28),
            truncate(&shown(&t.subject), 60)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn replies(config: &Config) -> Result<ExitCode> {
    let dir = config.templates_dir();
    let renderer =
        postdesk::outbound::Renderer::new(dir.as_deref()).context("reading the templates")?;
    let catalog = renderer.canned_catalog();
    for (name, langs) in catalog.entries() {
        let langs: Vec<&str> = langs.iter().map(|l| l.code()).collect();
        println!("{name:<24} {}", langs.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

fn ticket(config: Config, number: i64, json: bool) -> Result<ExitCode> {
    let (policy, store) = pipeline::for_reading(&config)?;
    let Some(d) = store.ticket_detail(number)? else {
        bail!("no ticket {number}");
    };
    if json {
        let mut v = serde_json::to_value(&d)?;
        v["time_worked"] = serde_json::to_value(store.time_worked(number)?)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    // Everything from mail is printed through `shown`: a subject or a name
    // may carry terminal escape sequences and control characters.
    let t = &d.ticket;
    println!("Ticket {}: {}", t.number, shown(&t.subject));
    println!("  status     {}", t.status);
    if let Some(since) = d.paused_since {
        println!(
            "  paused     no mail is sent about it since {} (a mail loop is likely; see the timeline)",
            iso(since)
        );
    }
    let who = match &t.requester_name {
        Some(n) => format!("{n} <{}>", t.requester),
        None => t.requester.clone(),
    };
    println!("  requester  {}", shown(&who));
    println!("  mailbox    {}   language {}", shown(&t.mailbox), t.lang);
    println!(
        "  created    {}   updated {}",
        iso(t.created_at),
        iso(t.updated_at)
    );
    println!(
        "  priority   {}   category {}   team {}   assignee {}",
        t.priority.as_deref().unwrap_or("-"),
        shown(t.category.as_deref().unwrap_or("-")),
        shown(t.team.as_deref().unwrap_or("-")),
        shown(t.assignee.as_deref().unwrap_or("-"))
    );
    if let Some(rb) = t.reply_by {
        println!("  promised   first answer by {}", iso(rb));
    }
    let now = now_ms();
    if let Some(state) = store.ticket_state(number)?
        && let Some(sla) = escalation::status(&policy, &state, now)
    {
        println!("  SLA ({})", sla.priority);
        for x in &sla.targets {
            println!("    {:<15} {}", x.target.as_str(), x.describe(now));
        }
    }
    let time = store.time_worked(number)?;
    if !time.is_empty() {
        let total: i64 = time.iter().map(|t| t.minutes).sum();
        let each: Vec<String> = time
            .iter()
            .map(|t| format!("{} {}", shown(&t.agent), timelog::format_minutes(t.minutes)))
            .collect();
        println!(
            "  time       {} in total ({})",
            timelog::format_minutes(total),
            each.join(", ")
        );
    }
    println!("\nTimeline:");
    let mut lines: Vec<(i64, String)> = Vec::new();
    for m in &d.messages {
        let arrow = if m.direction == "in" { "<-" } else { "->" };
        let who = if m.direction == "in" {
            m.from_addr.clone().unwrap_or_default()
        } else {
            m.to_addrs.clone()
        };
        let state = m
            .delivery
            .as_deref()
            .map(|s| format!(" [{s}]"))
            .unwrap_or_default();
        let mut s = format!(
            "{arrow} {} {}: {}{}",
            m.kind,
            shown(&who),
            shown(&m.subject),
            shown(&state)
        );
        for (name, size) in &m.attachments {
            let name = shown(name);
            s.push_str(&format!("\n      attachment {name} ({size} bytes)"));
        }
        let body: Vec<&str> = m
            .body
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(4)
            .collect();
        for l in body {
            s.push_str(&format!("\n      | {}", truncate(&shown(l), 100)));
        }
        lines.push((m.at, s));
    }
    for e in &d.events {
        let mut s = format!("*  {} by {}", e.kind, shown(&e.actor));
        match (&e.old, &e.new) {
            (Some(o), Some(n)) => s.push_str(&format!(": {} -> {}", shown(o), shown(n))),
            (None, Some(n)) => s.push_str(&format!(": {}", shown(n))),
            _ => {}
        }
        if let Some(detail) = &e.detail {
            s.push_str(&format!(" ({})", shown(detail)));
        }
        lines.push((e.at, s));
    }
    lines.sort_by_key(|(at, _)| *at);
    for (at, s) in lines {
        println!("  {}  {s}", iso(at));
    }
    Ok(ExitCode::SUCCESS)
}

fn outbox(config: &Config, all: bool, limit: usize, json: bool) -> Result<ExitCode> {
    let store = open_store(config)?;
    let rows = store.outbox(all, limit)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    let (queued, sent, failed) = store.outbox_counts()?;
    println!("outbox: {queued} waiting, {failed} failed, {sent} sent");
    for r in rows {
        let when = match r.state.as_str() {
            "queued" => format!("next try {}", iso(r.next_attempt_at)),
            "sent" => format!("sent {}", r.sent_at.map(iso).unwrap_or_default()),
            _ => "gave up".into(),
        };
        println!(
            "{:>6}  {:<7} ticket {:<6} to {:<30} attempts {:<3} {when}  {}",
            r.id,
            r.state,
            r.ticket
                .map(|t| t.to_string())
                .unwrap_or_else(|| "-".into()),
            truncate(&shown(&r.rcpt), 30),
            r.attempts,
            truncate(&shown(&r.subject), 50)
        );
        if let Some(e) = r.last_error.filter(|_| r.state != "sent") {
            println!("        why: {}", shown(&e));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn quarantine(config: Config, retry: Option<i64>, retry_all: bool) -> Result<ExitCode> {
    let engine = Engine::new(config)?;
    let mut store = engine.open_store()?;
    if retry_all {
        return retry_all_quarantined(&mut store, &engine);
    }
    if let Some(id) = retry {
        return Ok(
            match pipeline::retry_quarantined(&mut store, &engine, id, now_ms())? {
                Retried::NotWaiting => bail!("no quarantined message {id} waiting for a retry"),
                Retried::StillFailing => {
                    println!(
                        "message {id} still cannot be processed; it stays in quarantine (see the newest entry)"
                    );
                    ExitCode::FAILURE
                }
                Retried::Processed(t) => {
                    println!(
                        "message {id} processed: {} new ticket(s), {} reply(ies), {} duplicate(s)",
                        t.created, t.attached, t.duplicates
                    );
                    ExitCode::SUCCESS
                }
            },
        );
    }
    let rows = store.quarantined(100)?;
    if rows.is_empty() {
        println!("quarantine is empty");
    }
    for r in rows {
        let state = if r.released_at.is_some() {
            "released"
        } else {
            "held"
        };
        println!(
            "{:>5}  {:<8} {}  mailbox {} uid {}  {} bytes\n       {}",
            r.id,
            state,
            iso(r.at),
            r.mailbox,
            r.uid.map(|u| u.to_string()).unwrap_or_else(|| "-".into()),
            r.size,
            shown(&r.error)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `quarantine --retry-all`: each held message once, oldest first; exit 1
/// when any still fails.
fn retry_all_quarantined(store: &mut Store, engine: &Engine) -> Result<ExitCode> {
    let ids = store.held_quarantine_ids()?;
    let bar = postdesk::progress::Progress::counting("retrying", "messages");
    let (mut processed, mut failing, mut gone) = (0, Vec::new(), 0);
    for (i, &id) in ids.iter().enumerate() {
        match pipeline::retry_quarantined(store, engine, id, now_ms())? {
            Retried::Processed(_) => processed += 1,
            Retried::StillFailing => failing.push(id),
            // Released meanwhile (a daemon, another retry).
            Retried::NotWaiting => gone += 1,
        }
        bar.set(i as u64 + 1, ids.len() as u64);
    }
    bar.clear();
    println!(
        "retried {} quarantined message(s): {processed} processed, {} still failing{}",
        ids.len(),
        failing.len(),
        if gone > 0 {
            format!(", {gone} released meanwhile")
        } else {
            String::new()
        }
    );
    if failing.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let shown: Vec<String> = failing.iter().take(20).map(|id| id.to_string()).collect();
    println!(
        "still held: {}{} (`postdesk quarantine` shows why)",
        shown.join(", "),
        if failing.len() > 20 { ", ..." } else { "" }
    );
    Ok(ExitCode::FAILURE)
}

fn ticket_action(config: Config, number: i64, action: TicketAction) -> Result<ExitCode> {
    let engine = Engine::new(config)?;
    let mut store = engine.open_store()?;
    match action {
        TicketAction::Set {
            status,
            priority,
            category,
            assignee,
            team,
            actor,
        } => {
            let cmds = Changes {
                status,
                priority,
                category,
                assignee,
                team,
            }
            .commands()
            .map_err(anyhow::Error::msg)?;
            let out = pipeline::admin(&mut store, &engine, number, &cmds, &actor, now_ms())?;
            if !out.found {
                bail!("no ticket {number}");
            }
            if !out.refused.is_empty() {
                for (line, why) in &out.refused {
                    eprintln!("refused {line}: {why}");
                }
                bail!("nothing changed on ticket {number}");
            }
            for a in &out.applied {
                println!("ticket {number}: {a}");
            }
            if out.tally.queued > 0 {
                println!(
                    "{} mail(s) queued; a running daemon sends them",
                    out.tally.queued
                );
            }
        }
        TicketAction::Export { eml, mbox } => {
            if store.ticket_detail(number)?.is_none() {
                bail!("no ticket {number}");
            }
            let messages = store.ticket_raw(number)?;
            if let Some(dir) = eml {
                let bar = postdesk::progress::Progress::counting("exporting", "messages");
                postdesk::export::write_eml_files(&dir, number, &messages, &mut |d, t| {
                    bar.set(d, t)
                })?;
                bar.clear();
                println!("{} message(s) written to {}", messages.len(), dir.display());
            } else if let Some(file) = mbox {
                postdesk::export::write_mbox(&file, &messages)?;
                println!(
                    "{} message(s) written to {}",
                    messages.len(),
                    file.display()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn report(config: Config, a: ReportArgs) -> Result<ExitCode> {
    use postdesk::report::{self, Format, period};
    let engine = Engine::new(config)?;
    let store = engine.open_store()?;
    let policy = engine.policy();
    let p = period::choose(
        a.from.as_deref(),
        a.to.as_deref(),
        a.quarter.as_deref(),
        a.month.as_deref(),
        now_ms(),
        &policy.time_zone,
    )
    .map_err(anyhow::Error::msg)?;
    let bar = postdesk::progress::Progress::new("reading the review's tickets");
    let rows = store.report_rows_showing(p.from_ms, p.to_ms, &mut |d, t| bar.set(d, t))?;
    bar.clear();
    let r = report::compute(&rows, &p, &report::Settings::from_policy(policy));
    let format = match a.format {
        ReportFormat::Text => Format::Text,
        ReportFormat::Markdown => Format::Markdown,
        ReportFormat::Csv => Format::Csv,
        ReportFormat::Json => Format::Json,
        ReportFormat::Html => Format::Html,
    };
    let out = report::render(&r, format)?;
    match a.output {
        Some(path) => {
            std::fs::write(&path, out).with_context(|| format!("writing {}", path.display()))?
        }
        None => print!("{out}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn kb(config: &Config, c: KbCommand) -> Result<ExitCode> {
    use postdesk::desk::kb::{EntryStatus, entry_ref};
    let mut store = open_store(config)?;
    const ADMIN: &str = "admin (cli)";
    let print_list = |rows: Vec<(postdesk::store::KbEntry, Option<f64>)>| {
        if rows.is_empty() {
            println!("no entries");
        }
        for (e, score) in rows {
            let score = score.map(|s| format!("{s:6.2}  ")).unwrap_or_default();
            println!(
                "{:>7}  {score}{:<9}  {:<8}  {:<10}  {}",
                entry_ref(e.id),
                e.status,
                e.ticket
                    .map(|t| format!("#{t}"))
                    .unwrap_or_else(|| "-".into()),
                truncate(&shown(e.category.as_deref().unwrap_or("-")), 10),
                truncate(&shown(&e.title), 70)
            );
        }
    };
    let no_entry = |id: i64| format!("no knowledge-base entry {id} (see postdesk kb list)");
    let id_of = |store: &Store, id: i64| -> Result<postdesk::store::KbEntry> {
        store.kb_entry(id)?.with_context(|| no_entry(id))
    };
    match c {
        KbCommand::List {
            status,
            limit,
            json,
        } => {
            if let Some(s) = &status
                && EntryStatus::parse(s).is_none()
            {
                bail!("unknown status `{s}`: expected draft, published or skipped");
            }
            let rows = store.kb_entries(status.as_deref(), limit)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                print_list(rows.into_iter().map(|e| (e, None)).collect());
            }
        }
        KbCommand::Show { id, json } => {
            let e = id_of(&store, id)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&e)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!("{}: {}", entry_ref(e.id), shown(&e.title));
            println!("  status    {}", e.status);
            if let Some(t) = e.ticket {
                println!("  ticket    #{t}   (postdesk ticket {t})");
            }
            println!(
                "  category  {}   language {}   by {}",
                e.category.as_deref().unwrap_or("-"),
                e.lang,
                e.author.as_deref().unwrap_or("-")
            );
            println!(
                "  created   {}   updated {}{}",
                iso(e.created_at),
                iso(e.updated_at),
                e.published_at
                    .map(|p| format!("   published {}", iso(p)))
                    .unwrap_or_default()
            );
            println!(
                "\nProblem:\n{}\n\nSolution:\n{}",
                postdesk::terminal::text(&e.problem),
                postdesk::terminal::text(&e.solution)
            );
        }
        KbCommand::Publish { id } | KbCommand::Skip { id } => {
            let status = if matches!(c, KbCommand::Publish { .. }) {
                EntryStatus::Published
            } else {
                EntryStatus::Skipped
            };
            match store.kb_review(id, status, ADMIN, now_ms())? {
                KbReview::NoEntry => bail!(no_entry(id)),
                KbReview::Already => println!("{} is already {}", entry_ref(id), status.as_str()),
                KbReview::Changed => println!("{} is now {}", entry_ref(id), status.as_str()),
                KbReview::NeedsSolution => bail!(
                    "{} has no solution text; add it first: postdesk kb edit {id} --solution \"...\"",
                    entry_ref(id)
                ),
            }
        }
        KbCommand::Edit {
            id,
            title,
            problem,
            solution,
        } => {
            if title.is_none() && problem.is_none() && solution.is_none() {
                bail!("nothing to change: give --title, --problem or --solution");
            }
            if !store.kb_edit(
                id,
                title.as_deref(),
                problem.as_deref(),
                solution.as_deref(),
                now_ms(),
            )? {
                bail!(no_entry(id));
            }
            println!("{} changed", entry_ref(id));
        }
        KbCommand::Add {
            title,
            problem,
            solution,
            category,
            lang,
            draft,
        } => {
            postdesk::lang::Lang::parse(&lang)
                .with_context(|| format!("unknown language `{lang}`: expected en or zh-CN"))?;
            let id = store.kb_add(
                &postdesk::store::NewEntry {
                    title: &title,
                    problem: &problem,
                    solution: &solution,
                    category: category.as_deref(),
                    lang: &lang,
                    publish: !draft,
                    author: ADMIN,
                },
                now_ms(),
            )?;
            let e = id_of(&store, id)?;
            println!("{} added ({})", entry_ref(id), e.status);
        }
        KbCommand::Search {
            words,
            all,
            limit,
            json,
        } => {
            let hits = store.kb_search(&words.join(" "), !all, limit)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&hits)?);
            } else {
                print_list(hits.into_iter().map(|h| (h.entry, Some(h.score))).collect());
            }
        }
        KbCommand::Suggest {
            subject,
            text,
            min_score,
        } => {
            let min = min_score.unwrap_or(config.kb.min_score);
            let found = store.kb_suggest(&subject, &text.join(" "), 20, min)?;
            if found.is_empty() {
                println!("nothing scores {min} or more");
            }
            for s in found {
                println!(
                    "{:>7}  {:.2}  {}",
                    entry_ref(s.id),
                    s.score,
                    truncate(&shown(&s.title), 70)
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}
