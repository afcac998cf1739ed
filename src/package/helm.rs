//! `render --format helm`: one chart per customer carrying the compiled objects unchanged.
//!
//! The objects are chart files (`objects/…`), not templates, and the one template emits them
//! through `.Files.Get`. Helm never parses their text as a template, so the Go-template
//! braces in our content (alert annotations such as `{{ $labels.instance }}`, dashboards,
//! the ApplicationSet) come out byte for byte, with no escaping to get wrong.

use std::collections::BTreeMap;

use super::{Folder, Format, KUSTOMIZATION, LOCK, PREREQUISITES, locked};

/// The chart's only template.
const TEMPLATE: &str = r#"{{- /* Written by gitopsc: the compiled objects, emitted as they are. */ -}}
{{- range $path, $_ := .Files.Glob "objects/**.yaml" }}
---
{{ $.Files.Get $path }}
{{- end }}
"#;

/// The chart for a customer, from its kustomize folder (same objects, same bytes).
pub fn chart(customer: &Folder, input_digest: &str) -> Folder {
    let mut files = BTreeMap::new();
    for (path, text) in &customer.files {
        if path == PREREQUISITES || path.starts_with(crate::terraform::FOLDER) {
            files.insert(path.clone(), text.clone());
        } else if path != KUSTOMIZATION && path != LOCK {
            files.insert(format!("objects/{path}"), text.clone());
        }
    }
    // SemVer: the compiler's version, with the profile digest as build metadata, so a
    // profile change is a new chart version and the same profile is the same version.
    let hex = input_digest.trim_start_matches("sha256:");
    let version = format!(
        "{}+{}",
        env!("CARGO_PKG_VERSION"),
        &hex[..hex.len().min(12)]
    );
    let chart = serde_json::json!({
        "apiVersion": "v2",
        "name": customer.name,
        "description": format!("The gitopsc-compiled stack of customer {}", customer.name),
        "type": "application",
        "version": version,
    });
    files.insert("Chart.yaml".into(), crate::serialize::to_yaml(&chart));
    files.insert("templates/objects.yaml".into(), TEMPLATE.into());
    files.insert(
        "values.yaml".into(),
        "# No values: the chart carries objects compiled from the customer's profile.\n# Change the profile, not the chart.\n".into(),
    );
    files.insert(
        ".helmignore".into(),
        "# Only Chart.yaml, templates/ and objects/ belong to the chart.\ngitopsc.lock\nPREREQUISITES.md\nterraform/\n".into(),
    );
    locked(customer.name.clone(), Format::Helm, input_digest, files)
}
