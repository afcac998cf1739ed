//! Risk acceptances: a failing control tolerated for named customers until a date.

use std::path::Path;

use super::output::{items, text};
use super::{CONTROLS, Verdict};
use crate::load::Node;

/// A risk acceptance: a control that may fail for the customers `customers` (a name or a
/// glob with `*`) until `expires`, for `reason`, approved by `approver`.
#[derive(Debug, Clone)]
pub struct Exception {
    pub control: String,
    pub customers: String,
    pub reason: String,
    pub approver: String,
    /// `YYYY-MM-DD`; the exception holds through that day.
    pub expires: String,
    /// Where the exception is written: `file:line`.
    pub at: String,
}

impl Exception {
    pub fn covers(&self, control: &str, customer: &str) -> bool {
        self.control == control && glob(&self.customers, customer)
    }

    pub fn expired(&self, today: &str) -> bool {
        self.expires.as_str() < today
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            name.starts_with(head)
                && (0..=name.len() - head.len().min(name.len())).any(|i| {
                    name.get(head.len() + i..)
                        .is_some_and(|rest| glob(tail, rest))
                })
        }
    }
}

/// Applies the exceptions to the verdicts: a failing control covered by a current exception
/// is excepted. Returns the problems: an expired exception (its controls stay failed) and an
/// exception that covers no failing control (a stale acceptance hides the next failure).
pub fn apply_exceptions(
    results: &mut [(String, Vec<Verdict>)],
    exceptions: &[Exception],
    today: &str,
) -> Vec<String> {
    let mut used = vec![false; exceptions.len()];
    let mut problems = Vec::new();
    for (customer, verdicts) in results.iter_mut() {
        for verdict in verdicts.iter_mut().filter(|v| !v.passed) {
            let Some(i) = exceptions
                .iter()
                .position(|e| e.covers(verdict.control, customer))
            else {
                continue;
            };
            used[i] = true;
            if exceptions[i].expired(today) {
                problems.push(format!(
                    "{}: the exception for {} on {customer} expired on {}",
                    exceptions[i].at, verdict.control, exceptions[i].expires
                ));
            } else {
                verdict.excepted = Some(exceptions[i].clone());
            }
        }
    }
    for (exception, used) in exceptions.iter().zip(used) {
        if !used {
            problems.push(format!(
                "{}: the exception for {} on `{}` covers no failing control; remove it",
                exception.at, exception.control, exception.customers
            ));
        }
    }
    problems
}

/// Reads the exceptions file: a mapping with `exceptions:`, a list of entries with
/// `control`, `customers`, `reason`, `approver`, `expires`. Every problem is reported with
/// its line.
pub fn read_exceptions(path: &Path) -> Result<Vec<Exception>, Vec<String>> {
    let mut diagnostics = Vec::new();
    let (_, root) = crate::load::load_file(path, &mut diagnostics);
    let mut problems: Vec<String> = diagnostics
        .iter()
        .map(|d| match &d.location {
            Some(at) => format!("{}:{}: {}", path.display(), at.line, d.message),
            None => d.message.clone(),
        })
        .collect();
    let Some(root) = root else {
        return Err(problems);
    };
    let place = |node: &Node| format!("{}:{}", path.display(), node.location.line);
    let mut exceptions = Vec::new();
    for entry in items(root.get("exceptions")) {
        let field = |name: &str| text(entry, &[name]).map(str::to_string);
        let mut missing = Vec::new();
        let mut value = |name: &'static str| {
            field(name).unwrap_or_else(|| {
                missing.push(name);
                String::new()
            })
        };
        let exception = Exception {
            control: value("control"),
            customers: value("customers"),
            reason: value("reason"),
            approver: value("approver"),
            expires: value("expires"),
            at: place(entry),
        };
        if !missing.is_empty() {
            problems.push(format!(
                "{}: the exception needs {}",
                place(entry),
                missing.join(", ")
            ));
            continue;
        }
        let date_ok = exception.expires.len() == 10
            && exception.expires.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        if !date_ok {
            problems.push(format!(
                "{}: `expires` is not a date (YYYY-MM-DD)",
                place(entry)
            ));
        }
        if !CONTROLS.iter().any(|c| c.id == exception.control) {
            problems.push(format!(
                "{}: `{}` is not a control of the catalogue",
                place(entry),
                exception.control
            ));
        }
        exceptions.push(exception);
    }
    if root.get("exceptions").is_none() {
        problems.push(format!(
            "{}: expected a mapping with `exceptions:`",
            place(&root)
        ));
    }
    if problems.is_empty() {
        Ok(exceptions)
    } else {
        Err(problems)
    }
}

/// Today's date in UTC as `YYYY-MM-DD` (days since the epoch to the civil calendar).
pub fn today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    let (year, month, day) = crate::syntax::civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("acme", "acme"));
        assert!(glob("staging-*", "staging-eu"));
        assert!(glob("*-eu", "staging-eu"));
        assert!(glob("*", "anything"));
        assert!(!glob("staging-*", "prod-eu"));
        assert!(!glob("acme", "acme2"));
    }

    #[test]
    fn today_is_a_date() {
        let today = today();
        assert_eq!(today.len(), 10);
        assert!(today.as_str() > "2024-01-01", "{today}");
    }
}
