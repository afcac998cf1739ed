//! `gitopsc diff`: what a render would change, per folder and per object, down to the field
//! (docs/delivery.md). Compares the compiled folders with what is on disk; writes nothing.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

use serde_json::Value;

use crate::package::{Folder, KUSTOMIZATION, LOCK, PREREQUISITES};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    Removed,
    Changed,
}

impl Change {
    fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Changed => "changed",
        }
    }

    fn sign(self) -> &'static str {
        match self {
            Change::Added => "+",
            Change::Removed => "-",
            Change::Changed => "~",
        }
    }
}

/// One changed field: its path, and its value before and after (`None`: absent).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObjectDiff {
    pub change: Change,
    pub file: String,
    pub kind: String,
    pub name: String,
    pub fields: Vec<FieldChange>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FolderDiff {
    pub name: String,
    pub objects: Vec<ObjectDiff>,
}

impl FolderDiff {
    fn count(&self, change: Change) -> usize {
        self.objects.iter().filter(|o| o.change == change).count()
    }
}

/// Every folder that would change, in name order; empty when nothing would.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    pub folders: Vec<FolderDiff>,
}

impl Report {
    pub fn is_empty(&self) -> bool {
        self.folders.is_empty()
    }
}

/// Object files of a folder: YAML, not the kustomization or the lock.
fn is_object(path: &str) -> bool {
    path.ends_with(".yaml")
        && path != KUSTOMIZATION
        && path != LOCK
        && !path.ends_with("/kustomization.yaml")
}

fn parse(path: &str, bytes: &[u8]) -> Value {
    let mut diagnostics = Vec::new();
    let (_, node) = crate::load::parse_bytes(path.into(), bytes.to_vec(), &mut diagnostics);
    node.map_or(Value::Null, |n| n.to_json())
}

/// How one compiled folder differs from its copy under `out`.
pub fn folder(out: &Path, folder: &Folder) -> io::Result<FolderDiff> {
    let on_disk = crate::write::current(out, &folder.name)?;
    Ok(folder_diff(&folder.name, &on_disk, &folder.files))
}

/// The report of the compared folders and the `stale` ones (on disk, produced by no profile
/// any more: every object removed), in name order.
pub fn report(
    out: &Path,
    compared: Vec<io::Result<FolderDiff>>,
    stale: &[String],
) -> io::Result<Report> {
    let mut report = Report::default();
    for folder in compared {
        report.folders.push(folder?);
    }
    for name in stale {
        let on_disk = crate::write::current(out, name)?;
        report
            .folders
            .push(folder_diff(name, &on_disk, &BTreeMap::new()));
    }
    report.folders.retain(|f| !f.objects.is_empty());
    report.folders.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(report)
}

fn folder_diff(
    name: &str,
    on_disk: &BTreeMap<String, Vec<u8>>,
    compiled: &BTreeMap<String, String>,
) -> FolderDiff {
    let mut paths: Vec<&String> = on_disk
        .keys()
        .chain(compiled.keys())
        .filter(|p| is_object(p))
        .collect();
    paths.sort();
    paths.dedup();
    let mut objects = Vec::new();
    for path in paths {
        // Identical bytes are an identical object: no need to parse either side.
        if let (Some(old), Some(new)) = (on_disk.get(path), compiled.get(path))
            && old.as_slice() == new.as_bytes()
        {
            continue;
        }
        let old = on_disk.get(path).map(|bytes| parse(path, bytes));
        let new = compiled.get(path).map(|text| parse(path, text.as_bytes()));
        let (change, fields) = match (&old, &new) {
            (None, Some(_)) => (Change::Added, Vec::new()),
            (Some(_), None) => (Change::Removed, Vec::new()),
            (Some(old), Some(new)) => {
                let mut fields = Vec::new();
                walk("", old, new, &mut fields);
                if fields.is_empty() {
                    continue;
                }
                (Change::Changed, fields)
            }
            (None, None) => continue,
        };
        let shown = new.as_ref().or(old.as_ref()).unwrap_or(&Value::Null);
        objects.push(ObjectDiff {
            change,
            file: path.clone(),
            kind: shown["kind"].as_str().unwrap_or("?").to_string(),
            name: shown["metadata"]["name"]
                .as_str()
                .unwrap_or("?")
                .to_string(),
            fields,
        });
    }
    let old = on_disk
        .get(PREREQUISITES)
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned());
    if let Some(prerequisites) = prerequisites_diff(old.as_deref(), compiled.get(PREREQUISITES)) {
        objects.push(prerequisites);
    }
    FolderDiff {
        name: name.to_string(),
        objects,
    }
}

/// The checklist's rows as `kind name` → why, so a reviewer sees a prerequisite appear or
/// go in the same report as the objects that need it.
fn prerequisite_rows(text: &str) -> BTreeMap<String, Value> {
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split(" | ").collect();
            let kind = cells.first()?.strip_prefix("| ")?;
            let name = cells.get(1)?.trim_matches('`');
            let why = cells.get(2)?.strip_suffix(" |")?;
            (kind != "kind").then(|| (format!("{kind} {name}"), Value::String(why.into())))
        })
        .collect()
}

fn prerequisites_diff(old: Option<&str>, new: Option<&String>) -> Option<ObjectDiff> {
    let change = match (old, new) {
        (Some(old), Some(new)) if old == new.as_str() => return None,
        (None, None) => return None,
        (None, Some(_)) => Change::Added,
        (Some(_), None) => Change::Removed,
        (Some(_), Some(_)) => Change::Changed,
    };
    let before = prerequisite_rows(old.unwrap_or_default());
    let after = prerequisite_rows(new.map_or("", String::as_str));
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    let fields = keys
        .into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| FieldChange {
            path: k.clone(),
            old: before.get(k).cloned(),
            new: after.get(k).cloned(),
        })
        .collect();
    Some(ObjectDiff {
        change,
        file: PREREQUISITES.into(),
        kind: "Prerequisites".into(),
        name: "checklist".into(),
        fields,
    })
}

/// `spec.template.metadata.annotations["checksum/config"]`: keys that are not plain names
/// are quoted, so a path is never ambiguous.
fn join(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (plain, path.is_empty()) {
        (true, true) => key.to_string(),
        (true, false) => format!("{path}.{key}"),
        (false, _) => format!("{path}[{}]", Value::String(key.to_string())),
    }
}

fn walk(path: &str, old: &Value, new: &Value, out: &mut Vec<FieldChange>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                match b.get(key) {
                    Some(other) => walk(&join(path, key), value, other, out),
                    None => out.push(FieldChange {
                        path: join(path, key),
                        old: Some(value.clone()),
                        new: None,
                    }),
                }
            }
            for (key, value) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                out.push(FieldChange {
                    path: join(path, key),
                    old: None,
                    new: Some(value.clone()),
                });
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                walk(&format!("{path}[{i}]"), x, y, out);
            }
        }
        _ if old == new => {}
        _ => out.push(FieldChange {
            path: path.to_string(),
            old: Some(old.clone()),
            new: Some(new.clone()),
        }),
    }
}

/// A value in one line: scalars as YAML would show them, collections summarised.
fn short(value: Option<&Value>) -> String {
    match value {
        None => "(absent)".into(),
        Some(Value::Object(map)) => format!("{{{} fields}}", map.len()),
        Some(Value::Array(items))
            if items.iter().all(|i| !i.is_object() && !i.is_array()) && items.len() <= 6 =>
        {
            let shown: Vec<String> = items.iter().map(|i| short(Some(i))).collect();
            format!("[{}]", shown.join(", "))
        }
        Some(Value::Array(items)) if items.len() == 1 => "[1 item]".into(),
        Some(Value::Array(items)) => format!("[{} items]", items.len()),
        Some(scalar) => crate::serialize::to_yaml(scalar).trim_end().to_string(),
    }
}

fn summary(folder: &FolderDiff) -> String {
    let parts: Vec<String> = [Change::Changed, Change::Added, Change::Removed]
        .iter()
        .filter(|c| folder.count(**c) > 0)
        .map(|c| format!("{} {}", folder.count(*c), c.as_str()))
        .collect();
    parts.join(", ")
}

/// For a terminal or a log: one block per folder, colour on request.
pub fn text(report: &Report, color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    };
    let mut out = String::new();
    if report.is_empty() {
        out.push_str("no changes\n");
        return out;
    }
    for folder in &report.folders {
        let _ = writeln!(out, "{}: {}", paint("1", &folder.name), summary(folder));
        for object in &folder.objects {
            let color_code = match object.change {
                Change::Added => "32",
                Change::Removed => "31",
                Change::Changed => "33",
            };
            let _ = writeln!(
                out,
                "  {} {}/{}  ({})",
                paint(color_code, object.change.sign()),
                object.kind,
                object.name,
                object.file
            );
            for field in &object.fields {
                let _ = writeln!(
                    out,
                    "      {}: {} → {}",
                    field.path,
                    short(field.old.as_ref()),
                    short(field.new.as_ref())
                );
            }
        }
    }
    out
}

/// For a pull-request comment: a summary table, then collapsible details per folder.
pub fn markdown(report: &Report) -> String {
    let mut out = String::from("### gitopsc diff\n\n");
    if report.is_empty() {
        out.push_str("No changes: the profiles compile to what `out/` holds.\n");
        return out;
    }
    out.push_str("| folder | changed | added | removed |\n|---|---:|---:|---:|\n");
    for folder in &report.folders {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            folder.name,
            folder.count(Change::Changed),
            folder.count(Change::Added),
            folder.count(Change::Removed)
        );
    }
    for folder in &report.folders {
        let _ = write!(
            out,
            "\n<details>\n<summary><b>{}</b>: {}</summary>\n\n",
            folder.name,
            summary(folder)
        );
        for object in &folder.objects {
            let _ = writeln!(
                out,
                "- **{}** `{}/{}` (`{}`)",
                object.change.as_str(),
                object.kind,
                object.name,
                object.file
            );
            for field in &object.fields {
                let _ = writeln!(
                    out,
                    "  - `{}`: `{}` → `{}`",
                    field.path,
                    short(field.old.as_ref()).replace('`', "'"),
                    short(field.new.as_ref()).replace('`', "'")
                );
            }
        }
        out.push_str("\n</details>\n");
    }
    out
}

/// For tools: everything, with full old and new values.
pub fn json(report: &Report) -> String {
    let folders: Vec<Value> = report
        .folders
        .iter()
        .map(|folder| {
            serde_json::json!({
                "name": folder.name,
                "changed": folder.count(Change::Changed),
                "added": folder.count(Change::Added),
                "removed": folder.count(Change::Removed),
                "objects": folder.objects.iter().map(|o| serde_json::json!({
                    "change": o.change.as_str(),
                    "kind": o.kind,
                    "name": o.name,
                    "file": o.file,
                    "fields": o.fields.iter().map(|f| serde_json::json!({
                        "path": f.path,
                        "old": f.old,
                        "new": f.new,
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&serde_json::json!({
        "changes": !report.is_empty(),
        "folders": folders,
    }))
    .unwrap_or_default();
    text.push('\n');
    text
}
