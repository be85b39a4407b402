//! Tickets: status, priority and the lifecycle between statuses.

use std::fmt;
use std::str::FromStr;

/// Where a ticket is in its life.
///
/// `new` → `open` (an agent touched it) → `pending` (waiting on the requester)
/// → `resolved` (the agent says it is fixed) → `closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    New,
    Open,
    Pending,
    Resolved,
    Closed,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::New,
        Status::Open,
        Status::Pending,
        Status::Resolved,
        Status::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Open => "open",
            Status::Pending => "pending",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
        }
    }

    /// True while the desk still owes the requester something.
    pub fn is_active(self) -> bool {
        matches!(self, Status::New | Status::Open | Status::Pending)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Status, String> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown status `{s}`: expected one of new, open, pending, resolved, closed"
                )
            })
    }
}

/// How urgent a ticket is: P1 is the most urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    P1,
    P2,
    P3,
    P4,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Priority::P1, Priority::P2, Priority::P3, Priority::P4];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::P1 => "P1",
            Priority::P2 => "P2",
            Priority::P3 => "P3",
            Priority::P4 => "P4",
        }
    }

    /// The word for it: critical, high, normal, low.
    pub fn word(self) -> &'static str {
        match self {
            Priority::P1 => "critical",
            Priority::P2 => "high",
            Priority::P3 => "normal",
            Priority::P4 => "low",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Priority {
    type Err = String;
    /// Accepts `P1`…`P4`, `1`…`4` and the words agents use, in English and Chinese.
    fn from_str(s: &str) -> Result<Priority, String> {
        let v = s.trim().to_lowercase();
        let p = match v.as_str() {
            "p1" | "1" | "critical" | "urgent" | "紧急" | "严重" | "最高" => Priority::P1,
            "p2" | "2" | "high" | "高" => Priority::P2,
            "p3" | "3" | "normal" | "medium" | "中" | "普通" | "一般" => Priority::P3,
            "p4" | "4" | "low" | "低" => Priority::P4,
            _ => {
                return Err(format!(
                    "unknown priority `{s}`: expected P1-P4 or critical, high, normal, low"
                ));
            }
        };
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
        }
        assert!("done".parse::<Status>().is_err());
    }

    #[test]
    fn priority_words() {
        assert_eq!("urgent".parse::<Priority>().unwrap(), Priority::P1);
        assert_eq!("高".parse::<Priority>().unwrap(), Priority::P2);
        assert_eq!(" p3 ".parse::<Priority>().unwrap(), Priority::P3);
        assert_eq!("low".parse::<Priority>().unwrap(), Priority::P4);
        assert!("p5".parse::<Priority>().is_err());
    }
}
