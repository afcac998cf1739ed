//! The markdown report: a pull-request job summary.

use std::path::Path;

use crate::audit::{CONTROLS, Verdict};

/// The pull-request job summary: the customers × controls matrix, then the failures and
/// the exceptions. Failure details stop well inside GitHub's 65,536-character comment limit;
/// the JSON or SARIF report has them all.
pub fn markdown(out: &Path, results: &[(String, Vec<Verdict>)], problems: &[String]) -> String {
    const BUDGET: usize = 60_000;
    let mut text = format!(
        "## gitopsc audit of `{}`\n\nEvidence for the controls listed, not a certification.\n\n| control | criteria |",
        out.display()
    );
    for (name, _) in results {
        text.push_str(&format!(" {name} |"));
    }
    text.push_str("\n|---|---|");
    text.push_str(&"---|".repeat(results.len()));
    text.push('\n');
    for (i, control) in CONTROLS.iter().enumerate() {
        text.push_str(&format!(
            "| {} | {} |",
            control.id,
            control.criteria.join(", ")
        ));
        for (_, verdicts) in results {
            let cell = match verdicts[i].outcome() {
                "fail" => "**FAIL**",
                other => other,
            };
            text.push_str(&format!(" {cell} |"));
        }
        text.push('\n');
    }
    let mut details = String::new();
    let mut left_out = 0;
    for (name, verdicts) in results {
        for verdict in verdicts.iter().filter(|v| !v.passed) {
            let line = match &verdict.excepted {
                Some(e) => format!(
                    "- {name} {} excepted: {} (approved by {}, until {})\n",
                    verdict.control, e.reason, e.approver, e.expires
                ),
                None => {
                    let places: Vec<String> = verdict
                        .observations
                        .iter()
                        .filter(|o| !o.holds)
                        .map(|o| format!("`{}/{}:{}` {}", out.display(), o.file, o.line, o.what))
                        .collect();
                    format!("- {name} **{}**: {}\n", verdict.control, places.join("; "))
                }
            };
            if text.len() + details.len() + line.len() > BUDGET {
                left_out += 1;
            } else {
                details.push_str(&line);
            }
        }
    }
    if !details.is_empty() {
        text.push_str(&format!("\n### Failing and excepted\n\n{details}"));
    }
    if left_out > 0 {
        text.push_str(&format!(
            "\n{left_out} more not shown here; `gitopsc audit --format json` lists them all.\n"
        ));
    }
    for problem in problems {
        text.push_str(&format!("\n- error: {problem}\n"));
    }
    text
}
