//! The pure core: what a mail means for a ticket, and what to do about it.
//! Nothing in here does I/O or reads the clock; callers pass `now`. Each
//! module owns the settings type of its config section (`config.rs` only
//! aggregates them); the `imports` test below keeps I/O modules out.
//!
//! - vocabulary: [`ticket`] (the state decide reads), [`effect`] (what it
//!   returns), [`policy`] (the desk's settings, compiled);
//! - deciders: [`decide`] routes a mail to [`automatic`], [`requester`] or
//!   [`agent`] (with [`verify`] for an agent's proof); [`closing`]
//!   (confirmation, auto-close, survey); [`limits`] (the last guard against
//!   loops); [`sla`] (business time, due times, the escalation ladder);
//! - the grammar of what people write: [`commands`], [`quote`]; who they
//!   are: [`people`]; how tickets are sorted: [`rules`]; the knowledge base:
//!   [`kb`]; the mails we write: [`mails`]; the status machine: [`lifecycle`];
//!   times in words: [`when`].

pub mod agent;
pub mod automatic;
pub mod closing;
pub mod commands;
pub mod decide;
pub mod effect;
pub mod kb;
pub mod lifecycle;
pub mod limits;
pub mod mails;
pub mod people;
pub mod policy;
pub mod quote;
pub mod requester;
pub mod rules;
pub mod sla;
pub mod survey;
pub mod ticket;
pub mod verify;
pub mod when;

#[cfg(test)]
mod imports {
    //! The core must stay pure: no file under `src/desk/` may import a
    //! module that does I/O or knows the configuration file. Unit tests
    //! (from `#[cfg(test)]` on, and the `*tests.rs` files) may: they build
    //! their policy from a config text and some drive the whole pipeline.

    const FORBIDDEN: &[&str] = &[
        "config", "store", "pipeline", "source", "outbound", "outbox", "daemon", "compose",
    ];

    fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    #[test]
    fn the_core_imports_no_io() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/desk");
        let mut all = Vec::new();
        files(&root, &mut all);
        assert!(all.len() > 20, "expected the core's files under {root:?}");
        let mut bad = Vec::new();
        for f in &all {
            if f.file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with("tests.rs"))
            {
                continue;
            }
            let text = std::fs::read_to_string(f).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for (i, line) in code.lines().enumerate() {
                for m in FORBIDDEN {
                    let path = format!("crate::{m}");
                    let hit = line.match_indices(&path).any(|(at, _)| {
                        let rest = &line[at + path.len()..];
                        !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_')
                    }) || line.contains(&format!("postdesk::{m}::"));
                    if hit {
                        bad.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
                    }
                }
            }
        }
        assert!(bad.is_empty(), "the core imports I/O:\n{}", bad.join("\n"));
    }
}
