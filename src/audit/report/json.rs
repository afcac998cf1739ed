//! The JSON report: the provenance, the catalogue and every verdict with its evidence
//! (versioned).

use super::Audit;
use crate::audit::CONTROLS;

pub fn json(audit: &Audit) -> String {
    let controls: Vec<serde_json::Value> = CONTROLS
        .iter()
        .map(|c| {
            serde_json::json!({
                "id": c.id,
                "criteria": c.criteria,
                "half": format!("{:?}", c.half).to_lowercase(),
                "statement": c.statement,
                "rationale": c.rationale,
                "anchors": c.anchors,
                "severity": c.severity,
            })
        })
        .collect();
    let customers: Vec<serde_json::Value> = audit
        .results
        .iter()
        .map(|(name, verdicts)| {
            serde_json::json!({
                "name": name,
                "verdicts": verdicts.iter().map(|v| serde_json::json!({
                    "control": v.control,
                    "outcome": v.outcome(),
                    "passed": v.outcome() == "pass",
                    "profile": v.profile,
                    "excepted": v.excepted.as_ref().map(|e| serde_json::json!({
                        "reason": e.reason, "approver": e.approver, "ticket": e.ticket,
                        "approved": e.approved, "expires": e.expires, "at": e.at,
                    })),
                    "evidence": v.observations.iter().map(|o| serde_json::json!({
                        "file": o.file, "line": o.line, "holds": o.holds, "applies": o.applies, "what": o.what,
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let [pass, not_applicable, excepted, fail] = audit.counts();
    serde_json::to_string_pretty(&serde_json::json!({
        "version": 2,
        "provenance": audit.provenance.to_json(),
        "summary": {"pass": pass, "n/a": not_applicable, "excepted": excepted, "fail": fail},
        "controls": controls,
        "customers": customers,
        "exception_problems": audit.problems,
    }))
    .unwrap_or_default()
}

/// The audit could not run (an invalid profile, a malformed exceptions file, unreadable
/// output): the reason, as an object a pipeline can read instead of a report.
pub fn error(problems: &[String]) -> String {
    serde_json::to_string_pretty(&serde_json::json!({
        "version": 2,
        "error": {
            "message": "the audit could not run; no verdict was reached",
            "problems": problems,
        },
    }))
    .unwrap_or_default()
}
