//! The markdown report: a pull-request job summary.

use super::{Audit, OUTCOMES};
use crate::audit::CONTROLS;

/// Everything stays well inside GitHub's 65,536-character limit for a comment or a job
/// summary; the JSON or SARIF report has it all.
const BUDGET: usize = 60_000;
/// The customers × controls matrix while it fits this share of the budget; a larger fleet
/// gets one row per control with its counts and its failing customers.
const MATRIX_BUDGET: usize = 24_000;

/// The pull-request job summary: the provenance, the matrix (or its summary), then the
/// failures and the exceptions.
pub fn markdown(audit: &Audit) -> String {
    let provenance = audit.provenance;
    let mut text = format!(
        "## gitopsc audit of `{}`\n\nEvidence for the controls listed, not a certification. Commit `{}`, gitopsc {} (`{}`), generated {}, as of {}, scope: {}.\n\n",
        provenance.out,
        provenance.commit(),
        provenance.compiler,
        provenance.compiler_commit,
        provenance.generated_at,
        provenance.as_of,
        provenance.scope(),
    );
    let matrix = matrix(audit);
    if matrix.len() <= MATRIX_BUDGET {
        text.push_str(&matrix);
    } else {
        text.push_str(&summary(audit));
    }
    let [pass, not_applicable, excepted, fail] = audit.counts();
    text.push_str(&format!(
        "\n{pass} pass, {not_applicable} not applicable, {excepted} excepted, {fail} fail.\n"
    ));
    let mut details = String::new();
    let mut left_out = 0;
    for (name, verdicts) in audit.results {
        for verdict in verdicts.iter().filter(|v| v.failed()) {
            let line = match &verdict.excepted {
                Some(e) => format!(
                    "- {name} {} excepted: {} (approved by {} on {} under {}, until {})\n",
                    verdict.control, e.reason, e.approver, e.approved, e.ticket, e.expires
                ),
                None => {
                    let places: Vec<String> = verdict
                        .observations
                        .iter()
                        .filter(|o| o.applies && !o.holds)
                        .map(|o| format!("`{}` {}", audit.place(&o.file, o.line), o.what))
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
    let mut shown = 0;
    for problem in audit.problems {
        if text.len() + problem.len() + 64 > BUDGET + 4_000 {
            break;
        }
        text.push_str(&format!("\n- error: {problem}\n"));
        shown += 1;
    }
    if shown < audit.problems.len() {
        text.push_str(&format!(
            "\n{} more exception problems; the text report lists them all.\n",
            audit.problems.len() - shown
        ));
    }
    text
}

/// One column per customer, one row per control.
fn matrix(audit: &Audit) -> String {
    let mut text = String::from("| control | criteria |");
    for (name, _) in audit.results {
        text.push_str(&format!(" {name} |"));
    }
    text.push_str("\n|---|---|");
    text.push_str(&"---|".repeat(audit.results.len()));
    text.push('\n');
    for (i, control) in CONTROLS.iter().enumerate() {
        text.push_str(&format!(
            "| {} | {} |",
            control.id,
            control.criteria.join(", ")
        ));
        for (_, verdicts) in audit.results {
            let cell = match verdicts[i].outcome() {
                "fail" => "**FAIL**",
                other => other,
            };
            text.push_str(&format!(" {cell} |"));
        }
        text.push('\n');
    }
    text
}

/// One row per control: how many customers have each outcome, and the first failing ones.
fn summary(audit: &Audit) -> String {
    const NAMED: usize = 10;
    let mut text = format!(
        "{} customers: the matrix is summarised per control.\n\n| control | criteria | pass | n/a | excepted | fail | failing |\n|---|---|---|---|---|---|---|\n",
        audit.results.len()
    );
    for (i, control) in CONTROLS.iter().enumerate() {
        let mut counts = [0; 4];
        let mut failing = Vec::new();
        for (name, verdicts) in audit.results {
            let outcome = verdicts[i].outcome();
            counts[OUTCOMES.iter().position(|o| *o == outcome).unwrap_or(3)] += 1;
            if outcome == "fail" {
                failing.push(name.as_str());
            }
        }
        let mut named = failing
            .iter()
            .take(NAMED)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if failing.len() > NAMED {
            named.push_str(&format!(" and {} more", failing.len() - NAMED));
        }
        text.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {named} |\n",
            control.id,
            control.criteria.join(", "),
            counts[0],
            counts[1],
            counts[2],
            if counts[3] > 0 {
                format!("**{}**", counts[3])
            } else {
                "0".into()
            },
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use crate::audit::{CONTROLS, Judgement, Observation, Provenance, Verdict};

    /// A fleet where every control fails for every customer, with long evidence.
    fn failing_fleet(customers: usize) -> Vec<(String, Vec<Verdict>)> {
        (0..customers)
            .map(|i| {
                let name = format!("customer-with-a-long-name-{i:04}");
                let verdicts = CONTROLS
                    .iter()
                    .map(|c| Verdict {
                        control: c.id,
                        judgement: Judgement::Fail,
                        observations: vec![Observation {
                            file: format!("{name}/terraform/cluster.tf.json"),
                            line: 12,
                            holds: false,
                            applies: true,
                            what: "x".repeat(120),
                        }],
                        excepted: None,
                        profile: None,
                    })
                    .collect();
                (name, verdicts)
            })
            .collect()
    }

    #[test]
    fn stays_under_githubs_limit_at_any_fleet_size() {
        let provenance = Provenance {
            out: "out".into(),
            ..Provenance::default()
        };
        let problems: Vec<String> = (0..2_000)
            .map(|i| format!("exceptions.yaml:{i}: the exception covers no failing control"))
            .collect();
        for customers in [1, 3, 40, 403, 2_000] {
            let results = failing_fleet(customers);
            let audit = super::Audit {
                results: &results,
                problems: &problems,
                provenance: &provenance,
            };
            let markdown = super::markdown(&audit);
            assert!(markdown.len() < 65_536, "{customers}: {}", markdown.len());
            // Every control's row is there, as a matrix or as its summary.
            for control in CONTROLS {
                assert!(
                    markdown.contains(&format!("| {} |", control.id)),
                    "{customers}"
                );
            }
            let summarised = markdown.contains("the matrix is summarised per control");
            if customers <= 40 || customers >= 403 {
                assert_eq!(summarised, customers >= 403, "{customers}");
            }
            if summarised {
                assert!(
                    markdown.contains(&format!(
                        "| **{customers}** | customer-with-a-long-name-0000"
                    )),
                    "{customers}"
                );
            }
        }
    }
}
