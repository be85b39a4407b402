//! Progress bars for the commands that can take a while (`backup`,
//! `restore`, `import`, `report`, `ticket N export`, `quarantine
//! --retry-all`): drawn on a terminal only, and silent when stderr is a
//! pipe or a file (cron, systemd timers, scripts). The only user of
//! indicatif.

use std::io::IsTerminal;

/// A bar of `total` units, or nothing when not on a terminal.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    /// A bar labelled `what`, shown when stderr is a terminal.
    pub fn new(what: &str) -> Progress {
        Progress::shown(what, std::io::stderr().is_terminal())
    }

    /// A bar that counts `unit`s (`mails`, `messages`), with the rate and
    /// the time left: for work whose units are what the user knows.
    pub fn counting(what: &str, unit: &str) -> Progress {
        let template =
            format!("{{msg}} [{{bar:40}}] {{pos}}/{{len}} {unit}, {{per_sec}}, {{eta}} left");
        Progress::styled(what, &template, std::io::stderr().is_terminal())
    }

    fn shown(what: &str, on_terminal: bool) -> Progress {
        Progress::styled(
            what,
            "{msg} [{bar:40}] {percent:>3}% ({elapsed})",
            on_terminal,
        )
    }

    fn styled(what: &str, template: &str, on_terminal: bool) -> Progress {
        let bar = on_terminal.then(|| {
            let bar = indicatif::ProgressBar::new(0);
            let style = indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style.progress_chars("=> "));
            bar.set_message(what.to_string());
            bar
        });
        Progress { bar }
    }

    /// `done` of `total`.
    pub fn set(&self, done: u64, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(done);
        }
    }

    /// Ends the bar and takes it off the screen (a summary line follows).
    pub fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// Ends the bar (it stays on the screen, complete).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_a_terminal_nothing_is_drawn() {
        let p = Progress::shown("backup", false);
        assert!(p.bar.is_none());
        p.set(1, 2);
        p.finish();
        assert!(Progress::shown("backup", true).bar.is_some());
        let counting = "{msg} [{bar:40}] {pos}/{len} mails, {per_sec}, {eta} left";
        assert!(Progress::styled("importing", counting, true).bar.is_some());
        assert!(Progress::styled("importing", counting, false).bar.is_none());
    }
}
