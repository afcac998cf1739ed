//! The committed files of one customer, parsed with their lines, and what controls read
//! of them.

use std::path::Path;

use crate::load::{Node, Value};

/// What a check saw at one place of the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub file: String,
    pub line: usize,
    pub holds: bool,
    /// `false`: the control's subject is absent here (`not_applicable`); `what` says why
    /// and whose duty it is instead.
    pub applies: bool,
    pub what: String,
}

/// The committed files of one customer, parsed with their lines.
pub struct Output {
    pub customer: String,
    /// Path inside `out/` (`acme/app/deployment-app.yaml`) and the parsed document.
    pub documents: Vec<(String, Node)>,
    /// Files of the folder (paths inside `out/`) that are not what the profiles compile to:
    /// edited, added or missing (`render --check`'s findings), the customer's Application
    /// and project in `_argocd/` and the fleet's shared files there included.
    pub drift: Vec<String>,
    /// Whether `_argocd/` was compared: only an audit of the whole fleet compiles it.
    pub argocd_compared: bool,
}

/// Reads `out/<customer>/` into parsed documents; unreadable or unparsable files are
/// observations of their own (a control that needs them then fails).
pub fn read(
    out: &Path,
    customer: &str,
    drift: Vec<String>,
    argocd_compared: bool,
) -> std::io::Result<Output> {
    let mut documents = Vec::new();
    let mut paths = Vec::new();
    collect(&out.join(customer), &mut paths)?;
    paths.sort();
    for path in paths {
        let name = path.to_string_lossy();
        if !(name.ends_with(".yaml") || name.ends_with(".tf.json")) {
            continue;
        }
        let relative = path
            .strip_prefix(out)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        let mut diagnostics = Vec::new();
        let (_, node) = crate::load::load_file(&path, &mut diagnostics);
        if let Some(node) = node {
            documents.push((relative, node));
        }
    }
    Ok(Output {
        customer: customer.to_string(),
        documents,
        drift,
        argocd_compared,
    })
}

/// A compiled folder, not yet written, parsed as `read` parses the committed one (for
/// `validate`'s warnings: what the audit would say of this output).
pub fn of_folder(folder: &crate::package::Folder) -> Output {
    let mut documents = Vec::new();
    for (path, text) in &folder.files {
        if !(path.ends_with(".yaml") || path.ends_with(".tf.json")) {
            continue;
        }
        let relative = format!("{}/{path}", folder.name);
        let mut diagnostics = Vec::new();
        let (_, node) = crate::load::parse_bytes(
            relative.clone().into(),
            text.as_bytes().to_vec(),
            &mut diagnostics,
        );
        if let Some(node) = node {
            documents.push((relative, node));
        }
    }
    Output {
        customer: folder.name.clone(),
        documents,
        // The compilation itself: nothing committed to differ from.
        drift: Vec::new(),
        argocd_compared: true,
    }
}

fn collect(dir: &Path, into: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, into)?;
        } else {
            into.push(path);
        }
    }
    Ok(())
}

pub fn at<'a>(node: &'a Node, path: &[&str]) -> Option<&'a Node> {
    path.iter().try_fold(node, |node, key| node.get(key))
}

pub fn text<'a>(node: &'a Node, path: &[&str]) -> Option<&'a str> {
    at(node, path).and_then(Node::as_str)
}

pub fn items(node: Option<&Node>) -> &[Node] {
    match node.map(|n| &n.value) {
        Some(Value::Seq(items)) => items,
        _ => &[],
    }
}

pub fn is_true(node: Option<&Node>) -> bool {
    matches!(node.map(|n| &n.value), Some(Value::Bool(true)))
}

pub fn observe(file: &str, node: &Node, holds: bool, what: impl Into<String>) -> Observation {
    Observation {
        file: file.to_string(),
        line: node.location.line,
        holds,
        applies: true,
        what: what.into(),
    }
}

/// The control's subject is absent at `node` (no entry point, no rule, a network the
/// customer owns): evidence of its absence, neither holding nor failing.
pub fn not_applicable(file: &str, node: &Node, what: impl Into<String>) -> Observation {
    Observation {
        applies: false,
        ..observe(file, node, true, what)
    }
}

/// The Kubernetes objects of the output, with their files.
pub fn objects<'a>(output: &'a Output, kind: &'a str) -> impl Iterator<Item = (&'a str, &'a Node)> {
    output
        .documents
        .iter()
        .filter(move |(path, node)| path.ends_with(".yaml") && text(node, &["kind"]) == Some(kind))
        .map(|(path, node)| (path.as_str(), node))
}

/// Terraform resources of one type: (file, resource body).
pub fn resources<'a>(output: &'a Output, kind: &'a str) -> Vec<(&'a str, &'a Node)> {
    blocks(output, "resource", kind)
}

/// Terraform data sources of one type (what the Terraform reads, not owns): (file, body).
pub fn data_sources<'a>(output: &'a Output, kind: &'a str) -> Vec<(&'a str, &'a Node)> {
    blocks(output, "data", kind)
}

/// Terraform resources of one type with their names: (file, name, body).
pub fn named_resources<'a>(output: &'a Output, kind: &str) -> Vec<(&'a str, &'a str, &'a Node)> {
    let mut found = Vec::new();
    for (path, node) in &output.documents {
        if !path.ends_with(".tf.json") {
            continue;
        }
        if let Some(Value::Map(entries)) = at(node, &["resource", kind]).map(|n| &n.value) {
            found.extend(
                entries
                    .iter()
                    .map(|e| (path.as_str(), e.key.as_str(), &e.value)),
            );
        }
    }
    found
}

fn blocks<'a>(output: &'a Output, mode: &str, kind: &'a str) -> Vec<(&'a str, &'a Node)> {
    let mut found = Vec::new();
    for (path, node) in &output.documents {
        if !path.ends_with(".tf.json") {
            continue;
        }
        if let Some(Value::Map(entries)) = at(node, &[mode, kind]).map(|n| &n.value) {
            found.extend(entries.iter().map(|e| (path.as_str(), &e.value)));
        }
    }
    found
}

pub fn pod_spec(node: &Node) -> Option<&Node> {
    match text(node, &["kind"])? {
        "Deployment" | "StatefulSet" => at(node, &["spec", "template", "spec"]),
        "CronJob" => at(node, &["spec", "jobTemplate", "spec", "template", "spec"]),
        _ => None,
    }
}

pub fn workloads(output: &Output) -> Vec<(&str, &Node)> {
    ["Deployment", "StatefulSet", "CronJob"]
        .iter()
        .flat_map(|kind| objects(output, kind))
        .collect()
}

/// The last value `patroni.yml` gives a PostgreSQL setting (`name: value`, unquoted), as
/// Patroni passes it on: a later line wins.
pub fn patroni_setting<'a>(patroni: &'a str, name: &str) -> Option<&'a str> {
    patroni
        .lines()
        .filter_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':'))
        .map(|v| v.trim().trim_matches('"').trim_matches('\''))
        .next_back()
}

/// The customer's kustomization: the list of every manifest Argo CD applies, where the
/// absence of a kind is seen.
pub fn kustomization(output: &Output) -> Option<(&str, &Node)> {
    let path = format!("{}/kustomization.yaml", output.customer);
    output
        .documents
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(p, node)| (p.as_str(), node))
}
