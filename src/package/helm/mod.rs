//! `render --format helm`: one chart per customer, whose values are the few settings a
//! customer who installs the chart may tune (`values.rs`), and whose templates put them
//! exactly where the compiler does (`template.rs`). With its default values the chart gives
//! the objects `render` writes, byte for byte.
//!
//! Objects no value reaches stay files (`objects/…`) emitted through `.Files.Get`: Helm never
//! parses their text, so the Go-template braces in our content (alert annotations such as
//! `{{ $labels.instance }}`, dashboards) come out as they are. Objects a value reaches are
//! templates under `templates/`, their text escaped and the values' places filled in.

use std::collections::BTreeMap;

use super::{Folder, Format, KUSTOMIZATION, LOCK, PREREQUISITES, locked};
use crate::model::Customer;

mod checks;
mod template;
pub mod values;

/// The template that emits the files no value reaches.
const OBJECTS: &str = r#"{{- /* Written by gitopsc: the compiled objects no value reaches, as they are. */ -}}
{{- range $path, $_ := .Files.Glob "objects/**.yaml" }}
---
{{ $.Files.Get $path }}
{{- end }}
"#;

/// The chart for a customer, from its model and its kustomize folder.
pub fn chart(customer: &Customer, folder: &Folder, input_digest: &str) -> Folder {
    let tunables = values::Tunables::of(customer);
    let templated = template::templates(customer, folder, &tunables);
    let mut files = BTreeMap::new();
    for (path, text) in &folder.files {
        if path == PREREQUISITES || path.starts_with(crate::terraform::FOLDER) {
            files.insert(path.clone(), text.clone());
        } else if let Some(template) = templated.get(path) {
            files.insert(format!("templates/{path}"), template.clone());
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
    files.insert("templates/objects.yaml".into(), OBJECTS.into());
    files.insert("templates/_helpers.tpl".into(), template::HELPERS.into());
    files.insert("templates/checks.yaml".into(), checks::checks(customer));
    files.insert("values.yaml".into(), tunables.values_yaml(customer));
    files.insert(
        "values.schema.json".into(),
        format!(
            "{}\n",
            serde_json::to_string_pretty(&tunables.schema(customer)).unwrap_or_default()
        ),
    );
    files.insert(
        ".helmignore".into(),
        "# Only Chart.yaml, values, templates/ and objects/ belong to the chart.\ngitopsc.lock\nPREREQUISITES.md\nterraform/\n".into(),
    );
    locked(customer.name.clone(), Format::Helm, input_digest, files)
}
