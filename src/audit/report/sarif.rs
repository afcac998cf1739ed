//! SARIF 2.1.0 for code scanning, in GitHub's conventions: locations relative to the
//! repository root (`uriBaseId` `%SRCROOT%`), `security-severity` and tags on each rule,
//! one result per failing observation.

use super::Audit;
use crate::audit::CONTROLS;

/// The base every location is relative to: the repository's root, where code scanning
/// resolves it.
const SOURCE_ROOT: &str = "%SRCROOT%";

/// SARIF 2.1.0: one rule per control, one result per failing piece of evidence of a failing
/// or excepted verdict (or one at the customer's lock when nothing shows the control), with
/// a fingerprint that stays the same while the control, the customer and the file do.
pub fn sarif(audit: &Audit) -> String {
    let run = serde_json::json!({
        "tool": driver(rules()),
        "originalUriBaseIds": {SOURCE_ROOT: {"description": {"text": "The root of the fleet's repository."}}},
        "invocations": [{
            "executionSuccessful": true,
            "toolExecutionNotifications": audit.problems.iter().map(|p| serde_json::json!({
                "level": "error", "message": {"text": p},
            })).collect::<Vec<_>>(),
        }],
        "results": results(audit),
        "properties": {"provenance": audit.provenance.to_json()},
    });
    document(run)
}

/// One rule per control, with GitHub's `security-severity` and tags.
fn rules() -> Vec<serde_json::Value> {
    CONTROLS
        .iter()
        .map(|c| {
            let mut tags = vec!["security".to_string(), "soc2".to_string()];
            tags.extend(c.criteria.iter().map(|c| format!("soc2/{c}")));
            serde_json::json!({
                "id": c.id,
                "name": c.id.replace('-', ""),
                "shortDescription": {"text": c.statement},
                "fullDescription": {"text": c.rationale},
                "help": {"text": format!(
                    "{} Supports SOC 2 {}. Related: {}. Fix: {}. See docs/audit.md.",
                    c.statement,
                    c.criteria.join(", "),
                    if c.anchors.is_empty() { "none".to_string() } else { c.anchors.join(", ") },
                    c.fix
                )},
                "defaultConfiguration": {"level": "error"},
                "properties": {
                    "tags": tags,
                    "security-severity": format!("{:.1}", c.severity),
                    "precision": "very-high",
                },
            })
        })
        .collect()
}

/// One result per failing observation of a failing or excepted verdict.
fn results(audit: &Audit) -> Vec<serde_json::Value> {
    let mut findings = Vec::new();
    for (name, verdicts) in audit.results {
        for (index, verdict) in verdicts.iter().enumerate().filter(|(_, v)| v.failed()) {
            let failing: Vec<(String, usize, String)> = verdict
                .observations
                .iter()
                .filter(|o| o.applies && !o.holds)
                .map(|o| (o.file.clone(), o.line, o.what.clone()))
                .collect();
            let failing = if failing.is_empty() {
                vec![(
                    format!("{name}/{}", crate::package::LOCK),
                    1,
                    "nothing in the output shows the property".to_string(),
                )]
            } else {
                failing
            };
            let mut seen_in: Vec<&str> = Vec::new();
            for (file, line, what) in &failing {
                // Several findings in one file: the n-th keeps its own fingerprint.
                let nth = seen_in.iter().filter(|f| **f == file.as_str()).count();
                seen_in.push(file);
                let fingerprint = match nth {
                    0 => format!("{}/{name}/{file}", verdict.control),
                    n => format!("{}/{name}/{file}#{n}", verdict.control),
                };
                let mut result = serde_json::json!({
                    "ruleId": verdict.control,
                    "ruleIndex": index,
                    "level": "error",
                    "message": {"text": format!("{name}: {what}")},
                    "locations": [{"physicalLocation": {
                        "artifactLocation": {
                            "uri": format!("{}/{file}", audit.provenance.out),
                            "uriBaseId": SOURCE_ROOT,
                        },
                        "region": {"startLine": (*line).max(1)}
                    }}],
                    "partialFingerprints": {"gitopsc/v1": fingerprint},
                });
                if let Some(e) = &verdict.excepted {
                    result["suppressions"] = serde_json::json!([{
                        "kind": "external",
                        "status": "accepted",
                        "justification": format!(
                            "{} (approved by {} on {} under {}, until {}; {})",
                            e.reason, e.approver, e.approved, e.ticket, e.expires, e.at
                        ),
                    }]);
                }
                findings.push(result);
            }
        }
    }
    findings
}

/// The audit could not run: a run without results whose invocation failed, with the
/// reasons, so that code scanning shows the failure instead of an empty, clean analysis.
pub fn error(problems: &[String]) -> String {
    let rules: Vec<serde_json::Value> = Vec::new();
    document(serde_json::json!({
        "tool": driver(rules),
        "invocations": [{
            "executionSuccessful": false,
            "toolExecutionNotifications": problems.iter().map(|p| serde_json::json!({
                "level": "error", "message": {"text": p},
            })).collect::<Vec<_>>(),
        }],
        "results": [],
    }))
}

fn driver(rules: Vec<serde_json::Value>) -> serde_json::Value {
    serde_json::json!({"driver": {
        "name": "gitopsc",
        "version": env!("CARGO_PKG_VERSION"),
        "semanticVersion": env!("CARGO_PKG_VERSION"),
        "informationUri": "https://github.com/vendor/gitopsc/blob/main/docs/audit.md",
        "rules": rules,
    }})
}

fn document(run: serde_json::Value) -> String {
    serde_json::to_string_pretty(&serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [run],
    }))
    .unwrap_or_default()
}
