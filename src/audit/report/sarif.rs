//! SARIF 2.1.0 for code scanning.

use std::path::Path;

use crate::audit::{CONTROLS, Verdict};

/// SARIF 2.1.0: one rule per control, one result per failing or excepted verdict at its
/// first failing piece of evidence (repo-relative), with a fingerprint that stays the same
/// while the control, the customer and the file do.
pub fn sarif(out: &Path, results: &[(String, Vec<Verdict>)]) -> String {
    let rules: Vec<serde_json::Value> = CONTROLS
        .iter()
        .map(|c| {
            serde_json::json!({
                "id": c.id,
                "name": c.id.replace('-', ""),
                "shortDescription": {"text": c.statement},
                "fullDescription": {"text": c.rationale},
                "help": {"text": format!(
                    "{} Supports SOC 2 {}. Related: {}. See docs/audit.md.",
                    c.statement,
                    c.criteria.join(", "),
                    if c.anchors.is_empty() { "none".to_string() } else { c.anchors.join(", ") }
                )},
                "properties": {"tags": c.criteria},
            })
        })
        .collect();
    let mut findings = Vec::new();
    for (name, verdicts) in results {
        for (index, verdict) in verdicts.iter().enumerate().filter(|(_, v)| !v.passed) {
            let evidence = verdict.observations.iter().find(|o| !o.holds);
            let (file, line, what) = match evidence {
                Some(o) => (o.file.clone(), o.line, o.what.clone()),
                None => (
                    format!("{name}/{}", crate::package::LOCK),
                    1,
                    "nothing in the output shows it".to_string(),
                ),
            };
            let uri = out.join(&file).to_string_lossy().into_owned();
            let mut result = serde_json::json!({
                "ruleId": verdict.control,
                "ruleIndex": index,
                "level": "error",
                "message": {"text": format!("{name}: {what}")},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": uri},
                    "region": {"startLine": line.max(1)}
                }}],
                "partialFingerprints": {"gitopsc/v1": format!("{}/{name}/{file}", verdict.control)},
            });
            if let Some(e) = &verdict.excepted {
                result["suppressions"] = serde_json::json!([{
                    "kind": "external",
                    "justification": format!("{} (approved by {}, until {}; {})", e.reason, e.approver, e.expires, e.at),
                }]);
            }
            findings.push(result);
        }
    }
    serde_json::to_string_pretty(&serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "gitopsc",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/vendor/gitopsc/blob/main/docs/audit.md",
                "rules": rules,
            }},
            "results": findings,
        }],
    }))
    .unwrap_or_default()
}
