//! The text report: the provenance, the customers × controls matrix, every failure and
//! every exception.

use super::Audit;
use crate::audit::{CONTROLS, Verdict};
use crate::diag::plural;

pub fn text(audit: &Audit) -> String {
    let results = audit.results;
    let width = results
        .iter()
        .map(|(n, _)| n.len())
        .max()
        .unwrap_or(0)
        .max(4);
    let mut text = format!(
        "audit of {}: {}, {} (evidence for the controls listed, not a certification)\n{}\n\n{:<12}",
        audit.provenance.out,
        plural(CONTROLS.len(), "control"),
        plural(results.len(), "customer"),
        audit.provenance.summary(),
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
    let failures = failures(audit);
    if !failures.is_empty() {
        text.push_str(&format!("\nfailures:\n{failures}"));
    }
    if !excepted.is_empty() {
        text.push_str(&format!(
            "\nexcepted (risk accepted, not passed):\n{excepted}"
        ));
    }
    for problem in audit.problems {
        text.push_str(&format!("\nerror: {problem}\n"));
    }
    let [pass, not_applicable, excepted, fail] = audit.counts();
    text.push_str(&format!(
        "\n{pass} pass, {not_applicable} not applicable, {excepted} excepted, {fail} fail\n"
    ));
    text
}

/// One line per excepted verdict: who accepted the risk, why, under which ticket, until
/// when.
fn excepted(results: &[(String, Vec<Verdict>)]) -> String {
    let mut excepted = String::new();
    for (name, verdicts) in results {
        for verdict in verdicts {
            if let Some(e) = &verdict.excepted {
                excepted.push_str(&format!(
                    "  {name} {}: {} (approved by {} on {} under {}, until {}; {})\n",
                    verdict.control, e.reason, e.approver, e.approved, e.ticket, e.expires, e.at
                ));
            }
        }
    }
    excepted
}

/// Each failing verdict with the evidence that fails.
fn failures(audit: &Audit) -> String {
    let mut failures = String::new();
    for (name, verdicts) in audit.results {
        for verdict in verdicts
            .iter()
            .filter(|v| v.failed() && v.excepted.is_none())
        {
            failures.push_str(&format!(
                "{name} {} (profile: {}):\n",
                verdict.control,
                verdict.profile.as_deref().unwrap_or("?")
            ));
            if verdict.observations.iter().all(|o| !o.applies) {
                failures.push_str("  nothing in the output shows it\n");
            }
            for o in verdict
                .observations
                .iter()
                .filter(|o| o.applies && !o.holds)
            {
                failures.push_str(&format!("  {}: {}\n", audit.place(&o.file, o.line), o.what));
            }
            if let Some(control) = CONTROLS.iter().find(|c| c.id == verdict.control) {
                failures.push_str(&format!("  fix: {}\n", control.fix));
            }
        }
    }
    failures
}
