//! The self-contained HTML evidence report for the auditor.

use std::path::Path;

use crate::audit::{CONTROLS, Verdict};

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A self-contained evidence report (no external assets; prints well): the fleet matrix,
/// the catalogue, and each customer's verdicts with every piece of evidence.
pub fn html(out: &Path, results: &[(String, Vec<Verdict>)], problems: &[String]) -> String {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>gitopsc audit</title>\n<style>\n\
         body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#111}\n\
         table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #999;padding:4px 8px;text-align:left;vertical-align:top}\n\
         td.pass{background:#d8f0d8}td.fail{background:#f6d0d0;font-weight:bold}td.excepted{background:#f6ecc8}\n\
         code{font-size:12px}section{break-inside:avoid}@media print{body{margin:0}a{color:inherit}}\n\
         </style></head><body>\n",
    );
    html.push_str(&format!(
        "<h1>gitopsc audit of <code>{}</code></h1>\n<p>Evidence for the SOC 2 controls listed, taken from the committed output of each customer (the manifests Argo CD applies and the Terraform). Not a certification.</p>\n",
        html_escape(&out.display().to_string())
    ));
    html.push_str(&matrix(results));
    for problem in problems {
        html.push_str(&format!(
            "<p><strong>error:</strong> {}</p>\n",
            html_escape(problem)
        ));
    }
    html.push_str(&catalogue());
    for (name, verdicts) in results {
        html.push_str(&customer(out, name, verdicts));
    }
    html.push_str("</body></html>\n");
    html
}

/// The CSS class and the label of a verdict's cell.
fn cell(verdict: &Verdict) -> (&'static str, &'static str) {
    let class = verdict.outcome();
    (class, if class == "fail" { "FAIL" } else { class })
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
fn customer(out: &Path, name: &str, verdicts: &[Verdict]) -> String {
    let mut html = format!(
        "<section><h2>{}</h2>\n<table><tr><th>control</th><th>verdict</th><th>profile</th><th>evidence</th></tr>\n",
        html_escape(name)
    );
    for verdict in verdicts {
        let (class, label) = cell(verdict);
        let mut evidence = String::new();
        for o in &verdict.observations {
            evidence.push_str(&format!(
                "{} <code>{}/{}:{}</code> {}<br>",
                if o.holds { "&#10003;" } else { "&#10007;" },
                html_escape(&out.display().to_string()),
                html_escape(&o.file),
                o.line,
                html_escape(&o.what)
            ));
        }
        if let Some(e) = &verdict.excepted {
            evidence.push_str(&format!(
                "<em>excepted: {} (approved by {}, until {}; {})</em>",
                html_escape(&e.reason),
                html_escape(&e.approver),
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
