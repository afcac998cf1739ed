//! The text report: the customers × controls matrix, every failure and every exception.

use std::path::Path;

use crate::audit::{CONTROLS, Verdict};
use crate::diag::plural;

pub fn text(out: &Path, results: &[(String, Vec<Verdict>)], problems: &[String]) -> String {
    let width = results
        .iter()
        .map(|(n, _)| n.len())
        .max()
        .unwrap_or(0)
        .max(4);
    let mut text = format!(
        "audit of {}: {}, {} (evidence for the controls listed, not a certification)\n\n{:<12}",
        out.display(),
        plural(CONTROLS.len(), "control"),
        plural(results.len(), "customer"),
        "control"
    );
    for (name, _) in results {
        text.push_str(&format!(" {name:<width$}"));
    }
    text.push('\n');
    for (i, control) in CONTROLS.iter().enumerate() {
        text.push_str(&format!("{:<12}", control.id));
        for (_, verdicts) in results {
            let verdict = match verdicts[i].outcome() {
                "fail" => "FAIL",
                other => other,
            };
            text.push_str(&format!(" {verdict:<width$}"));
        }
        text.push('\n');
    }
    let excepted = excepted(results);
    let failures = failures(out, results);
    let total = results.iter().map(|(_, v)| v.len()).sum::<usize>();
    let passed = results
        .iter()
        .flat_map(|(_, v)| v)
        .filter(|v| v.passed)
        .count();
    if !failures.is_empty() {
        text.push_str(&format!("\nfailures:\n{failures}"));
    }
    if !excepted.is_empty() {
        text.push_str(&format!(
            "\nexcepted (risk accepted, not passed):\n{excepted}"
        ));
    }
    for problem in problems {
        text.push_str(&format!("\nerror: {problem}\n"));
    }
    text.push_str(&format!("\n{passed} of {total} verdicts pass\n"));
    text
}

/// One line per excepted verdict: who accepted the risk, why, until when.
fn excepted(results: &[(String, Vec<Verdict>)]) -> String {
    let mut excepted = String::new();
    for (name, verdicts) in results {
        for verdict in verdicts {
            if let Some(e) = &verdict.excepted {
                excepted.push_str(&format!(
                    "  {name} {}: {} (approved by {}, until {}; {})\n",
                    verdict.control, e.reason, e.approver, e.expires, e.at
                ));
            }
        }
    }
    excepted
}

/// Each failing verdict with the evidence that fails.
fn failures(out: &Path, results: &[(String, Vec<Verdict>)]) -> String {
    let mut failures = String::new();
    for (name, verdicts) in results {
        for verdict in verdicts
            .iter()
            .filter(|v| !v.passed && v.excepted.is_none())
        {
            failures.push_str(&format!(
                "{name} {} (profile: {}):\n",
                verdict.control,
                verdict.profile.as_deref().unwrap_or("?")
            ));
            if verdict.observations.is_empty() {
                failures.push_str("  nothing in the output shows it\n");
            }
            for o in verdict.observations.iter().filter(|o| !o.holds) {
                failures.push_str(&format!(
                    "  {}/{}:{}: {}\n",
                    out.display(),
                    o.file,
                    o.line,
                    o.what
                ));
            }
            if let Some(control) = CONTROLS.iter().find(|c| c.id == verdict.control) {
                failures.push_str(&format!("  fix: {}\n", control.fix));
            }
        }
    }
    failures
}
