//! The self-contained HTML evidence report for the auditor.

use super::Audit;
use crate::audit::{CONTROLS, Verdict};

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A self-contained evidence report (no external assets; prints well): the fleet matrix,
/// the catalogue, and each customer's verdicts with every piece of evidence.
pub fn html(audit: &Audit) -> String {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>gitopsc audit</title>\n<style>\n\
         body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#111}\n\
         table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #999;padding:4px 8px;text-align:left;vertical-align:top}\n\
         td.pass{background:#d8f0d8}td.fail{background:#f6d0d0;font-weight:bold}td.excepted{background:#f6ecc8}td.na{background:#e4e4ee;color:#444}\n\
         dl{display:grid;grid-template-columns:max-content auto;gap:2px 1em}dt{font-weight:bold}dd{margin:0}\n\
         code{font-size:12px}section{break-inside:avoid}@media print{body{margin:0}a{color:inherit}}\n\
         </style></head><body>\n",
    );
    html.push_str(&format!(
        "<h1>gitopsc audit of <code>{}</code></h1>\n<p>Evidence for the SOC 2 controls listed, taken from the committed output of each customer (the manifests Argo CD applies and the Terraform). Not a certification.</p>\n",
        html_escape(&audit.provenance.out)
    ));
    html.push_str(&header(audit));
    html.push_str(&matrix(audit.results));
    for problem in audit.problems {
        html.push_str(&format!(
            "<p><strong>error:</strong> {}</p>\n",
            html_escape(problem)
        ));
    }
    html.push_str(&catalogue());
    for (name, verdicts) in audit.results {
        html.push_str(&customer(audit, name, verdicts));
    }
    html.push_str("</body></html>\n");
    html
}

/// What the report is evidence of: the commit, the compiler, when, as of which day, the
/// scope, the outcome counts and the digests of the locks and the exceptions file.
fn header(audit: &Audit) -> String {
    let p = audit.provenance;
    let [pass, not_applicable, excepted, fail] = audit.counts();
    let mut rows = vec![
        ("Commit", p.commit()),
        (
            "Compiler",
            format!("gitopsc {} ({})", p.compiler, p.compiler_commit),
        ),
        ("Generated", p.generated_at.clone()),
        ("As of", p.as_of.clone()),
        (
            "Scope",
            format!("{}; {} customers", p.scope(), audit.results.len()),
        ),
        (
            "Outcomes",
            format!(
                "{pass} pass, {not_applicable} not applicable, {excepted} excepted, {fail} fail"
            ),
        ),
        (
            "Exceptions",
            p.exceptions
                .as_ref()
                .map_or("none".to_string(), |(file, digest)| {
                    format!("{file} {digest}")
                }),
        ),
    ];
    rows.extend(
        p.locks
            .iter()
            .map(|(file, digest)| ("Lock", format!("{file} {digest}"))),
    );
    let mut html = String::from("<dl id=\"provenance\">\n");
    for (term, value) in rows {
        html.push_str(&format!(
            "<dt>{term}</dt><dd><code>{}</code></dd>\n",
            html_escape(&value)
        ));
    }
    html.push_str("</dl>\n");
    html
}

/// The CSS class and the label of a verdict's cell.
fn cell(verdict: &Verdict) -> (&'static str, &'static str) {
    match verdict.outcome() {
        "fail" => ("fail", "FAIL"),
        "n/a" => ("na", "n/a"),
        other => (other, other),
    }
}

/// The customers × controls matrix.
fn matrix(results: &[(String, Vec<Verdict>)]) -> String {
    let mut html =
        String::from("<h2>Fleet</h2>\n<table id=\"matrix\"><tr><th>control</th><th>criteria</th>");
    for (name, _) in results {
        html.push_str(&format!("<th>{}</th>", html_escape(name)));
    }
    html.push_str("</tr>\n");
    for (i, control) in CONTROLS.iter().enumerate() {
        html.push_str(&format!(
            "<tr><td><a href=\"#{id}\">{id}</a></td><td>{}</td>",
            control.criteria.join(", "),
            id = control.id
        ));
        for (_, verdicts) in results {
            let (class, label) = cell(&verdicts[i]);
            html.push_str(&format!("<td class=\"{class}\">{label}</td>"));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
    html
}

/// The catalogue: each control's criteria, statement, rationale and anchors.
fn catalogue() -> String {
    let mut html = String::from(
        "<h2>Controls</h2>\n<table><tr><th>control</th><th>criteria</th><th>statement</th><th>rationale</th><th>related</th></tr>\n",
    );
    for control in CONTROLS {
        html.push_str(&format!(
            "<tr id=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            control.id,
            control.id,
            control.criteria.join(", "),
            html_escape(control.statement),
            html_escape(control.rationale),
            html_escape(&control.anchors.join(", "))
        ));
    }
    html.push_str("</table>\n");
    html
}

/// One customer's verdicts with every piece of evidence.
fn customer(audit: &Audit, name: &str, verdicts: &[Verdict]) -> String {
    let mut html = format!(
        "<section><h2>{}</h2>\n<table><tr><th>control</th><th>verdict</th><th>profile</th><th>evidence</th></tr>\n",
        html_escape(name)
    );
    for verdict in verdicts {
        let (class, label) = cell(verdict);
        let mut evidence = String::new();
        for o in &verdict.observations {
            let mark = match (o.applies, o.holds) {
                (false, _) => "&#8212;",
                (true, true) => "&#10003;",
                (true, false) => "&#10007;",
            };
            evidence.push_str(&format!(
                "{mark} <code>{}</code> {}<br>",
                html_escape(&audit.place(&o.file, o.line)),
                html_escape(&o.what)
            ));
        }
        if let Some(e) = &verdict.excepted {
            evidence.push_str(&format!(
                "<em>excepted: {} (approved by {} on {} under {}, until {}; {})</em>",
                html_escape(&e.reason),
                html_escape(&e.approver),
                html_escape(&e.approved),
                html_escape(&e.ticket),
                html_escape(&e.expires),
                html_escape(&e.at)
            ));
        }
        html.push_str(&format!(
            "<tr><td>{}</td><td class=\"{class}\">{label}</td><td><code>{}</code></td><td>{evidence}</td></tr>\n",
            verdict.control,
            html_escape(verdict.profile.as_deref().unwrap_or(""))
        ));
    }
    html.push_str("</table></section>\n");
    html
}
