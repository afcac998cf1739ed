//! The JSON report: the catalogue and every verdict with its evidence (versioned).

use crate::audit::{CONTROLS, Verdict};

pub fn json(results: &[(String, Vec<Verdict>)], problems: &[String]) -> String {
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
            })
        })
        .collect();
    let customers: Vec<serde_json::Value> = results
        .iter()
        .map(|(name, verdicts)| {
            serde_json::json!({
                "name": name,
                "verdicts": verdicts.iter().map(|v| serde_json::json!({
                    "control": v.control,
                    "passed": v.passed,
                    "profile": v.profile,
                    "excepted": v.excepted.as_ref().map(|e| serde_json::json!({
                        "reason": e.reason, "approver": e.approver, "expires": e.expires, "at": e.at,
                    })),
                    "evidence": v.observations.iter().map(|o| serde_json::json!({
                        "file": o.file, "line": o.line, "holds": o.holds, "what": o.what,
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({
        "version": 1,
        "controls": controls,
        "customers": customers,
        "exception_problems": problems,
    }))
    .unwrap_or_default()
}
