//! Risk acceptances: a failing control tolerated for named customers until a date.

use std::path::Path;

use super::output::{items, text};
use super::{CONTROLS, Verdict};
use crate::load::Node;

/// The fields an exception has.
const FIELDS: [&str; 7] = [
    "control",
    "customers",
    "reason",
    "approver",
    "ticket",
    "approved",
    "expires",
];
/// The keys of the file: the entries and the policy on their term.
const FILE_KEYS: [&str; 2] = ["exceptions", "maximumTermDays"];
/// How long an accepted risk may run from its approval when the file does not say: half a
/// year, so that every acceptance is renewed, with its reason, within one audit period.
pub const DEFAULT_MAXIMUM_TERM_DAYS: i64 = 180;
/// The longest term the file may set: one year, the usual SOC 2 Type II period.
const LONGEST_TERM_DAYS: i64 = 366;
/// Controls no risk acceptance covers: change management vouches that the output judged
/// is the output reviewed.
const NOT_EXCEPTABLE: [&str; 1] = ["CHG-1"];

/// A risk acceptance: a control that may fail for the customers `customers` (a name or a
/// glob with `*`) from `approved` until `expires`, for `reason`, approved by `approver`
/// under `ticket` (where the decision is recorded).
#[derive(Debug, Clone)]
pub struct Exception {
    pub control: String,
    pub customers: String,
    pub reason: String,
    pub approver: String,
    pub ticket: String,
    /// `YYYY-MM-DD`; the exception holds from that day.
    pub approved: String,
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
        for verdict in verdicts.iter_mut().filter(|v| v.failed()) {
            // The most specific entry that covers it, wherever it is listed: a name before
            // a glob, a longer fixed part before a shorter one.
            let Some(i) = exceptions
                .iter()
                .enumerate()
                .filter(|(_, e)| e.covers(verdict.control, customer))
                .max_by_key(|(i, e)| {
                    (
                        !e.customers.contains('*'),
                        e.customers.replace('*', "").len(),
                        std::cmp::Reverse(*i),
                    )
                })
                .map(|(i, _)| i)
            else {
                continue;
            };
            used[i] = true;
            if exceptions[i].expired(today) {
                problems.push(format!(
                    "{}: the exception for {} on {customer} expired on {}",
                    exceptions[i].at, verdict.control, exceptions[i].expires
                ));
            } else if exceptions[i].approved.as_str() > today {
                problems.push(format!(
                    "{}: the exception for {} on {customer} is approved from {}, after the audit's date {today}",
                    exceptions[i].at, verdict.control, exceptions[i].approved
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
/// `control`, `customers`, `reason`, `approver`, `ticket`, `approved`, `expires`, and an
/// optional `maximumTermDays`. Every problem is reported with its line.
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
    let term = file_policy(path, &root, &mut problems);
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
            ticket: value("ticket"),
            approved: value("approved"),
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
        problems.extend(entry_problems(path, entry, &exception, term));
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

/// The file's own keys: the maximum term (`maximumTermDays`, or the default) and no key
/// besides it and `exceptions`.
fn file_policy(path: &Path, root: &Node, problems: &mut Vec<String>) -> i64 {
    let place = |node: &Node| format!("{}:{}", path.display(), node.location.line);
    if let crate::load::Value::Map(keys) = &root.value {
        for key in keys.iter().filter(|k| !FILE_KEYS.contains(&k.key.as_str())) {
            problems.push(format!(
                "{}:{}: `{}` is not a key of the exceptions file ({})",
                path.display(),
                key.key_location.line,
                key.key,
                FILE_KEYS.join(", ")
            ));
        }
    }
    match root.get("maximumTermDays").map(|n| (n, &n.value)) {
        None => DEFAULT_MAXIMUM_TERM_DAYS,
        Some((_, crate::load::Value::Number(n)))
            if n.as_i64()
                .is_some_and(|d| (1..=LONGEST_TERM_DAYS).contains(&d)) =>
        {
            n.as_i64().unwrap_or(DEFAULT_MAXIMUM_TERM_DAYS)
        }
        Some((node, _)) => {
            problems.push(format!(
                "{}: `maximumTermDays` is a whole number of days from 1 to {LONGEST_TERM_DAYS}",
                place(node)
            ));
            DEFAULT_MAXIMUM_TERM_DAYS
        }
    }
}

/// What is wrong with one complete entry: its dates and term, empty fields, unknown
/// fields, its control.
fn entry_problems(path: &Path, entry: &Node, exception: &Exception, term: i64) -> Vec<String> {
    let place = |node: &Node| format!("{}:{}", path.display(), node.location.line);
    let mut problems = Vec::new();
    let mut day = |name: &str, value: &str| {
        let seconds = (value.len() == 10)
            .then(|| crate::syntax::timestamp_seconds(&format!("{value}T00:00:00Z")))
            .flatten();
        if seconds.is_none() {
            problems.push(format!(
                "{}: `{name}: {value}` is not a date of the calendar (YYYY-MM-DD)",
                place(entry)
            ));
        }
        seconds.map(|s| s / 86_400)
    };
    let approved = day("approved", &exception.approved);
    let expires = day("expires", &exception.expires);
    if let (Some(approved), Some(expires)) = (approved, expires) {
        if expires < approved {
            problems.push(format!(
                "{}: `expires: {}` is before `approved: {}`",
                place(entry),
                exception.expires,
                exception.approved
            ));
        } else if expires - approved > term {
            problems.push(format!(
                "{}: the exception runs {} days from its approval, longer than the {term} days the policy allows (`maximumTermDays`); renew it when it ends instead",
                place(entry),
                expires - approved
            ));
        }
    }
    for (name, value) in [
        ("reason", &exception.reason),
        ("approver", &exception.approver),
        ("ticket", &exception.ticket),
    ] {
        if value.trim().is_empty() {
            problems.push(format!(
                "{}: `{name}` is empty: an accepted risk needs its {name}",
                place(entry)
            ));
        }
    }
    if let crate::load::Value::Map(fields) = &entry.value {
        for field in fields.iter().filter(|f| !FIELDS.contains(&f.key.as_str())) {
            problems.push(format!(
                "{}:{}: `{}` is not a field of an exception ({})",
                path.display(),
                field.key_location.line,
                field.key,
                FIELDS.join(", ")
            ));
        }
    }
    if NOT_EXCEPTABLE.contains(&exception.control.as_str()) {
        problems.push(format!(
                "{}: {} cannot be excepted: it is what makes every other verdict about the reviewed output",
                place(entry),
                exception.control
            ));
    }
    if !CONTROLS.iter().any(|c| c.id == exception.control) {
        problems.push(format!(
            "{}: `{}` is not a control of the catalogue",
            place(entry),
            exception.control
        ));
    }
    problems
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
}
