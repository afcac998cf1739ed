//! `gitopsc diff`: what a render would change, per folder and per object, down to the field
//! (docs/delivery.md). Compares the compiled folders with what is on disk; writes nothing.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

use serde_json::Value;

use crate::diag::plural;
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

/// Which half of the output an object belongs to: what Argo CD applies, or what Terraform
/// applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Half {
    Manifests,
    Terraform,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObjectDiff {
    pub change: Change,
    pub half: Half,
    pub file: String,
    /// A Kubernetes kind, or a Terraform block type (`google_container_cluster`,
    /// `data.google_compute_network`, or `terraform`/`provider`/`import` settings).
    pub kind: String,
    pub name: String,
    pub fields: Vec<FieldChange>,
}

impl ObjectDiff {
    /// `Deployment/app`, or a Terraform address such as `google_container_cluster.cluster`.
    pub fn label(&self) -> String {
        match self.half {
            Half::Manifests => format!("{}/{}", self.kind, self.name),
            Half::Terraform => format!("{}.{}", self.kind, self.name),
        }
    }

    /// What a reviewer must look at first in a Terraform change: IAM, firewalls, the cluster,
    /// keys, secrets, and buckets that hold data.
    pub fn sensitive(&self) -> Option<&'static str> {
        if self.half != Half::Terraform {
            return None;
        }
        let kind = self.kind.trim_start_matches("data.");
        if kind.contains("_iam_") || kind == "google_service_account" {
            Some("IAM")
        } else if kind == "google_compute_firewall" || kind == "google_compute_security_policy" {
            Some("firewall")
        } else if kind.starts_with("google_container_") {
            Some("cluster")
        } else if kind.starts_with("google_kms_") {
            Some("encryption key")
        } else if kind.starts_with("google_secret_manager_") {
            Some("secrets")
        } else if kind == "google_storage_bucket" {
            Some("data bucket")
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FolderDiff {
    pub name: String,
    pub objects: Vec<ObjectDiff>,
    /// What the change would delete or replace of the customer's data (`guard.rs`):
    /// `render` refuses it without `--allow-destroy`.
    pub losses: Vec<crate::guard::Loss>,
}

impl FolderDiff {
    fn count(&self, change: Change) -> usize {
        self.count_in(Half::Manifests, change)
    }

    fn count_in(&self, half: Half, change: Change) -> usize {
        self.objects
            .iter()
            .filter(|o| o.half == half && o.change == change)
            .count()
    }

    fn terraform(&self) -> usize {
        self.objects
            .iter()
            .filter(|o| o.half == Half::Terraform)
            .count()
    }

    /// The sensitive kinds of Terraform change, each once, in a fixed order.
    fn sensitive(&self) -> Vec<&'static str> {
        let mut found: Vec<&'static str> = self
            .objects
            .iter()
            .filter_map(ObjectDiff::sensitive)
            .collect();
        found.sort_unstable();
        found.dedup();
        found
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

    /// Every loss of data the change brings, in folder order.
    pub fn losses(&self) -> Vec<&crate::guard::Loss> {
        self.folders.iter().flat_map(|f| &f.losses).collect()
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
    let on_disk = crate::write::current(out, &folder.name)?.into_files();
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
        let on_disk = crate::write::current(out, name)?.into_files();
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
            half: Half::Manifests,
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
    objects.extend(terraform_diff(on_disk, compiled));
    let compiled_bytes: BTreeMap<String, Vec<u8>> = compiled
        .iter()
        .map(|(path, text)| (path.clone(), text.clone().into_bytes()))
        .collect();
    FolderDiff {
        name: name.to_string(),
        objects,
        losses: crate::guard::compare(name, on_disk, &compiled_bytes),
    }
}

/// Terraform files of a folder.
fn is_terraform(path: &str) -> bool {
    path.starts_with(crate::terraform::FOLDER) && path.ends_with(".tf.json")
}

/// The blocks of a Terraform JSON file by (type, name): `data.` before a data source's
/// type; the file's top-level settings (`terraform`, `provider`, `import`) by their key
/// and the file's name.
fn blocks(path: &str, bytes: &[u8]) -> BTreeMap<(String, String), Value> {
    let document: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let file = path
        .rsplit('/')
        .next()
        .unwrap_or(path)
        .trim_end_matches(".tf.json");
    let mut found = BTreeMap::new();
    for (key, value) in document.as_object().into_iter().flatten() {
        let prefix = match key.as_str() {
            "resource" => "",
            "data" => "data.",
            _ => {
                found.insert((key.clone(), file.to_string()), value.clone());
                continue;
            }
        };
        for (kind, named) in value.as_object().into_iter().flatten() {
            for (name, body) in named.as_object().into_iter().flatten() {
                found.insert((format!("{prefix}{kind}"), name.clone()), body.clone());
            }
        }
    }
    found
}

/// Each Terraform block added, removed or changed (with its arguments), file by file; a
/// removed file removes each of its blocks.
fn terraform_diff(
    on_disk: &BTreeMap<String, Vec<u8>>,
    compiled: &BTreeMap<String, String>,
) -> Vec<ObjectDiff> {
    let mut paths: Vec<&String> = on_disk
        .keys()
        .chain(compiled.keys())
        .filter(|p| is_terraform(p))
        .collect();
    paths.sort();
    paths.dedup();
    let mut objects = Vec::new();
    for path in paths {
        let (old, new) = (on_disk.get(path), compiled.get(path));
        if let (Some(old), Some(new)) = (old, new)
            && old.as_slice() == new.as_bytes()
        {
            continue;
        }
        let before = old.map_or_else(BTreeMap::new, |bytes| blocks(path, bytes));
        let after = new.map_or_else(BTreeMap::new, |text| blocks(path, text.as_bytes()));
        let mut keys: Vec<&(String, String)> = before.keys().chain(after.keys()).collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let (change, fields) = match (before.get(key), after.get(key)) {
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
            objects.push(ObjectDiff {
                change,
                half: Half::Terraform,
                file: path.clone(),
                kind: key.0.clone(),
                name: key.1.clone(),
                fields,
            });
        }
    }
    objects
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
        half: Half::Manifests,
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

/// A value in one line: scalars as YAML would show them, collections and multi-line
/// strings summarised.
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
        Some(Value::String(text)) if text.contains('\n') => {
            format!("({} lines)", text.lines().count())
        }
        // A checksum annotation: the start names it, the rest is noise in a review.
        Some(Value::String(text))
            if text.len() == DIGEST.len() + 64
                && text.starts_with(DIGEST)
                && text[DIGEST.len()..].bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            format!(
                "{DIGEST}{}…",
                &text[DIGEST.len()..DIGEST.len() + DIGEST_SHOWN]
            )
        }
        Some(scalar) => crate::serialize::to_yaml(scalar).trim_end().to_string(),
    }
}

const DIGEST: &str = "sha256:";
/// Hex digits of a digest shown (as `git` shortens commits).
const DIGEST_SHOWN: usize = 12;

/// Lines of context around each change inside a multi-line string.
const CONTEXT: usize = 2;
/// Beyond this many line pairs a text is not compared line by line.
const MAX_LINE_PAIRS: usize = 4_000_000;

/// A changed multi-line string (a script, a configuration file) as unified-diff lines
/// (`@@`, ` `, `-`, `+`) with a little context; `None` when either side is not one.
fn line_diff(field: &FieldChange) -> Option<Vec<String>> {
    let (Some(Value::String(old)), Some(Value::String(new))) = (&field.old, &field.new) else {
        return None;
    };
    if !old.contains('\n') && !new.contains('\n') {
        return None;
    }
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    if a.len().saturating_mul(b.len()) > MAX_LINE_PAIRS {
        return Some(vec![format!(
            "({} lines → {} lines, too long to compare line by line)",
            a.len(),
            b.len()
        )]);
    }
    // The longest common subsequence of lines, built from the end and walked from the start.
    let mut common = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            common[i][j] = if a[i] == b[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    // (old line, new line, sign) for every line of the edit script.
    let mut script: Vec<(usize, usize, char)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            script.push((i, j, ' '));
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || common[i + 1][j] >= common[i][j + 1]) {
            script.push((i, j, '-'));
            i += 1;
        } else {
            script.push((i, j, '+'));
            j += 1;
        }
    }
    let changed: Vec<usize> = (0..script.len()).filter(|&k| script[k].2 != ' ').collect();
    let mut lines = Vec::new();
    let mut k = 0;
    while k < changed.len() {
        let start = changed[k].saturating_sub(CONTEXT);
        let mut last = changed[k];
        // Changes closer than twice the context share one hunk.
        while k < changed.len() && changed[k] <= last + 2 * CONTEXT + 1 {
            last = changed[k];
            k += 1;
        }
        let hunk = &script[start..(last + CONTEXT + 1).min(script.len())];
        let old_lines = hunk.iter().filter(|l| l.2 != '+').count();
        let new_lines = hunk.iter().filter(|l| l.2 != '-').count();
        lines.push(format!(
            "@@ -{},{old_lines} +{},{new_lines} @@",
            hunk[0].0 + 1,
            hunk[0].1 + 1
        ));
        for &(i, j, sign) in hunk {
            let line = if sign == '+' { b[j] } else { a[i] };
            lines.push(format!("{sign}{line}"));
        }
    }
    Some(lines)
}

fn summary(folder: &FolderDiff) -> String {
    let counts = |half| {
        let parts: Vec<String> = [Change::Changed, Change::Added, Change::Removed]
            .iter()
            .filter(|c| folder.count_in(half, **c) > 0)
            .map(|c| format!("{} {}", folder.count_in(half, *c), c.as_str()))
            .collect();
        parts.join(", ")
    };
    let manifests = counts(Half::Manifests);
    let terraform = counts(Half::Terraform);
    if terraform.is_empty() {
        return manifests;
    }
    let sensitive = folder.sensitive();
    let touches = if sensitive.is_empty() {
        String::new()
    } else {
        format!(" (touches {})", sensitive.join(", "))
    };
    let terraform = format!("Terraform: {terraform}{touches}");
    if manifests.is_empty() {
        terraform
    } else {
        format!("{manifests}; {terraform}")
    }
}

/// The folder's objects by half, in the order a reviewer reads them: Terraform first when
/// it touches something sensitive, else the manifests first; empty halves left out.
fn sections(folder: &FolderDiff) -> Vec<(Half, Vec<&ObjectDiff>)> {
    let of =
        |half| -> Vec<&ObjectDiff> { folder.objects.iter().filter(|o| o.half == half).collect() };
    let mut order = [Half::Manifests, Half::Terraform];
    if !folder.sensitive().is_empty() {
        order.reverse();
    }
    order
        .into_iter()
        .map(|half| (half, of(half)))
        .filter(|(_, objects)| !objects.is_empty())
        .collect()
}

/// Whether a folder's changes are shown under a heading per half: when Terraform has any.
fn titled(sections: &[(Half, Vec<&ObjectDiff>)]) -> bool {
    sections.iter().any(|(half, _)| *half == Half::Terraform)
}

/// A section's heading: what applies it.
fn heading(half: Half) -> &'static str {
    match half {
        Half::Manifests => "Manifests (Argo CD applies them)",
        Half::Terraform => "Terraform (applied by Terraform, not Argo CD)",
    }
}

/// What stands for a folder's own name where many folders share one set of changes.
const CUSTOMER: &str = "<customer>";

/// `text` with `name` as a whole word (not inside a longer name) replaced by `<customer>`,
/// and shortened digests (`short`) by `sha256:…`: a checksum of a customer's configuration
/// differs per customer even when the change to it is the same.
fn generic(text: &str, name: &str) -> String {
    let named = customer_generic(text, name);
    let mut out = String::with_capacity(named.len());
    let mut rest = named.as_str();
    while let Some(at) = rest.find(DIGEST) {
        let after = &rest[at + DIGEST.len()..];
        let hex = after.bytes().take_while(u8::is_ascii_hexdigit).count();
        out.push_str(&rest[..at + DIGEST.len()]);
        rest = if hex == DIGEST_SHOWN && after[hex..].starts_with('…') {
            &after[hex..]
        } else {
            after
        };
    }
    out.push_str(rest);
    out
}

fn customer_generic(text: &str, name: &str) -> String {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(name) {
        let before = rest[..at]
            .chars()
            .next_back()
            .or_else(|| out.chars().next_back());
        let after = rest[at + name.len()..].chars().next();
        out.push_str(&rest[..at]);
        out.push_str(if word(before) || word(after) {
            name
        } else {
            CUSTOMER
        });
        rest = &rest[at + name.len()..];
    }
    out.push_str(rest);
    out
}

/// Folders whose changes read the same once each folder's own name is set aside (a shared
/// layer changed under many customers), in the order of their first folder.
struct Group<'a> {
    names: Vec<&'a str>,
    folder: &'a FolderDiff,
}

/// Names listed in a group's title; the rest are counted.
const NAMES_SHOWN: usize = 6;

impl Group<'_> {
    /// The group's changes rendered by `body`, with `<customer>` for the names when many.
    fn body(&self, body: &dyn Fn(&FolderDiff) -> String) -> String {
        let text = body(self.folder);
        if self.names.len() == 1 {
            text
        } else {
            generic(&text, &self.folder.name)
        }
    }

    /// "acme", or "1000 customers: c0000, c0001, c0002, c0003, …, c0999".
    fn title(&self, quote: &dyn Fn(&str) -> String) -> String {
        match self.names.as_slice() {
            [one] => quote(one),
            names => {
                let listed: Vec<String> = if names.len() <= NAMES_SHOWN {
                    names.iter().map(|n| quote(n)).collect()
                } else {
                    let mut first: Vec<String> =
                        names[..NAMES_SHOWN - 1].iter().map(|n| quote(n)).collect();
                    first.push(format!("…, {}", quote(names[names.len() - 1])));
                    first
                };
                format!("{} customers: {}", names.len(), listed.join(", "))
            }
        }
    }

    fn summary(&self) -> String {
        let each = if self.names.len() > 1 { " in each" } else { "" };
        format!("{}{each}", summary(self.folder))
    }
}

fn groups(report: &Report) -> Vec<Group<'_>> {
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut groups: Vec<Group> = Vec::new();
    for folder in &report.folders {
        let key = generic(
            &text_body(folder, &|_, text| text.to_string()),
            &folder.name,
        );
        match index.get(&key) {
            Some(&at) => groups[at].names.push(&folder.name),
            None => {
                index.insert(key, groups.len());
                groups.push(Group {
                    names: vec![&folder.name],
                    folder,
                });
            }
        }
    }
    groups
}

/// One folder's changes as text lines under its heading.
fn text_body(folder: &FolderDiff, paint: &dyn Fn(&str, &str) -> String) -> String {
    let mut out = String::new();
    let sections = sections(folder);
    let titled = titled(&sections);
    for (half, objects) in sections {
        if titled {
            let _ = writeln!(out, "  {}:", heading(half));
        }
        for object in objects {
            text_object(&mut out, object, paint);
        }
    }
    out
}

fn text_object(out: &mut String, object: &ObjectDiff, paint: &dyn Fn(&str, &str) -> String) {
    let color_code = match object.change {
        Change::Added => "32",
        Change::Removed => "31",
        Change::Changed => "33",
    };
    let flag = object
        .sensitive()
        .map_or_else(String::new, |what| format!("  [{what}]"));
    let _ = writeln!(
        out,
        "  {} {}  ({}){flag}",
        paint(color_code, object.change.sign()),
        object.label(),
        object.file
    );
    for field in &object.fields {
        let Some(lines) = line_diff(field) else {
            let _ = writeln!(
                out,
                "      {}: {} → {}",
                field.path,
                short(field.old.as_ref()),
                short(field.new.as_ref())
            );
            continue;
        };
        let _ = writeln!(out, "      {}:", field.path);
        for line in lines {
            let line = match line.chars().next() {
                Some('+') => paint("32", &line),
                Some('-') => paint("31", &line),
                Some('@') => paint("36", &line),
                _ => line,
            };
            let _ = writeln!(out, "        {line}");
        }
    }
}

/// For a terminal or a log: one block per folder, or per group of folders with the same
/// changes; colour on request.
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
    let losses = report.losses();
    if !losses.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            paint(
                "1;31",
                "DATA AT RISK: render refuses these without --allow-destroy"
            )
        );
        for loss in &losses {
            let _ = writeln!(
                out,
                "  ! {}/{} ({}): {}",
                loss.customer, loss.object, loss.file, loss.why
            );
        }
        out.push('\n');
    }
    for group in groups(report) {
        let title = group.title(&|name| name.to_string());
        let _ = writeln!(out, "{}: {}", paint("1", &title), group.summary());
        out.push_str(&group.body(&|folder| text_body(folder, &paint)));
    }
    out
}

/// GitHub refuses a pull-request comment longer than this (a job summary may hold 1 MiB).
pub const COMMENT_LIMIT: usize = 65_536;

/// One folder's changes as a markdown list, Terraform under its own heading.
fn markdown_body(folder: &FolderDiff) -> String {
    let mut out = String::new();
    let sections = sections(folder);
    let titled = titled(&sections);
    for (half, objects) in sections {
        if titled {
            let _ = writeln!(out, "**{}**\n", heading(half));
        }
        for object in objects {
            markdown_object(&mut out, object);
        }
        if titled {
            out.push('\n');
        }
    }
    out
}

fn markdown_object(out: &mut String, object: &ObjectDiff) {
    let flag = object
        .sensitive()
        .map_or_else(String::new, |what| format!(" ⚠ {what}"));
    let _ = writeln!(
        out,
        "- **{}** `{}` (`{}`){flag}",
        object.change.as_str(),
        object.label(),
        object.file
    );
    for field in &object.fields {
        let Some(lines) = line_diff(field) else {
            let _ = writeln!(
                out,
                "  - `{}`: `{}` → `{}`",
                field.path,
                short(field.old.as_ref()).replace('`', "'"),
                short(field.new.as_ref()).replace('`', "'")
            );
            continue;
        };
        let _ = writeln!(out, "  - `{}`:\n    ```diff", field.path);
        for line in lines {
            // A fence inside the script would end the block early.
            let _ = writeln!(out, "    {}", line.replace("```", "'''"));
        }
        out.push_str("    ```\n");
    }
}

/// For a pull-request comment: a table of the folders (grouped where their changes are the
/// same), then collapsible details per group. Never longer than `COMMENT_LIMIT` bytes (so
/// characters): what would pass it is left out, and the comment says where the rest is.
pub fn markdown(report: &Report) -> String {
    let mut out = String::from("### gitopsc diff\n\n");
    if report.is_empty() {
        out.push_str("No changes: the profiles compile to what `out/` holds.\n");
        return out;
    }
    let groups = groups(report);
    let rows: Vec<String> = groups.iter().map(table_row).collect();
    let mut sections = Vec::new();
    for group in &groups {
        sections.push(format!(
            "\n<details>\n<summary><b>{}</b>: {}</summary>\n\n{}\n</details>\n",
            group.title(&|name| name.to_string()),
            group.summary(),
            group.body(&markdown_body)
        ));
    }
    let folders: usize = groups.iter().map(|g| g.names.len()).sum();
    let distinct = if groups.len() < folders {
        format!(", with {} of changes", plural(groups.len(), "distinct set"))
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "{} would change{distinct}.\n",
        plural(folders, "folder")
    );
    out.push_str(&losses_warning(report));
    out.push_str(&sensitive_warning(&groups));
    out.push_str("| folders | changed | added | removed | Terraform |\n|---|---:|---:|---:|---|\n");
    let footer = |shown: usize| {
        format!(
            "\n_{shown} of {} shown: the rest would pass GitHub's limit of {COMMENT_LIMIT} \
             characters for a comment. `gitopsc diff --format json` has every change (the \
             gitopsc action keeps it as the workflow artifact `gitopsc-diff`)._\n",
            plural(groups.len(), "set")
        )
    };
    let budget = COMMENT_LIMIT - footer(groups.len()).len() - 64;
    let rows_shown = rows
        .iter()
        .scan(out.len(), |length, row| {
            *length += row.len();
            (*length <= budget / 2).then_some(row)
        })
        .count();
    for row in &rows[..rows_shown] {
        out.push_str(row);
    }
    if rows_shown < rows.len() {
        let _ = writeln!(out, "| … {} more | | | |", rows.len() - rows_shown);
    }
    let mut shown = 0;
    for section in &sections {
        if out.len() + section.len() > budget {
            break;
        }
        out.push_str(section);
        shown += 1;
    }
    if shown < sections.len() {
        out.push_str(&footer(shown));
    }
    out
}

/// A group's row of the markdown table: changed, added and removed manifests, and the
/// Terraform blocks with what they touch.
fn table_row(group: &Group<'_>) -> String {
    let each = if group.names.len() > 1 { " each" } else { "" };
    let count = |change| format!("{}{each}", group.folder.count(change));
    let sensitive = group.folder.sensitive();
    let terraform = match group.folder.terraform() {
        0 => "0".to_string(),
        n if sensitive.is_empty() => format!("{n}{each}"),
        n => format!("{n}{each} ⚠ {}", sensitive.join(", ")),
    };
    format!(
        "| {} | {} | {} | {} | {terraform} |\n",
        group.title(&|name| format!("`{name}`")),
        count(Change::Changed),
        count(Change::Added),
        count(Change::Removed)
    )
}

/// First of all in the comment: what the change would delete or replace of a customer's
/// data, which `render` refuses without `--allow-destroy`.
fn losses_warning(report: &Report) -> String {
    let losses = report.losses();
    if losses.is_empty() {
        return String::new();
    }
    let mut text = String::from(
        "> [!CAUTION]\n> **Data at risk**: `gitopsc render` refuses this change without `--allow-destroy`.\n>\n",
    );
    for loss in losses {
        let _ = writeln!(
            text,
            "> - `{}`: `{}` (`{}`): {}",
            loss.customer, loss.object, loss.file, loss.why
        );
    }
    text.push('\n');
    text
}

/// The line a reviewer reads first when Terraform changes IAM, firewalls, the cluster,
/// keys, secrets or data buckets of some customers; empty otherwise.
fn sensitive_warning(groups: &[Group<'_>]) -> String {
    let mut kinds: Vec<&str> = groups.iter().flat_map(|g| g.folder.sensitive()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    if kinds.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = groups
        .iter()
        .filter(|g| !g.folder.sensitive().is_empty())
        .flat_map(|g| g.names.iter().copied())
        .collect();
    let shown: Vec<String> = names
        .iter()
        .take(NAMES_SHOWN)
        .map(|n| format!("`{n}`"))
        .collect();
    let more = if names.len() > NAMES_SHOWN {
        format!(" and {} more", names.len() - NAMES_SHOWN)
    } else {
        String::new()
    };
    format!(
        "**⚠ Terraform changes touch {}** in {}{more}: review them first; Terraform applies them, Argo CD does not.\n\n",
        kinds.join(", "),
        shown.join(", ")
    )
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
                "terraform": folder.terraform(),
                "sensitive": folder.sensitive(),
                "objects": folder.objects.iter().map(|o| serde_json::json!({
                    "change": o.change.as_str(),
                    "half": match o.half { Half::Manifests => "manifests", Half::Terraform => "terraform" },
                    "sensitive": o.sensitive(),
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
    let losses: Vec<Value> = report
        .losses()
        .into_iter()
        .map(|l| serde_json::json!({"customer": l.customer, "object": l.object, "file": l.file, "why": l.why}))
        .collect();
    let mut text = serde_json::to_string_pretty(&serde_json::json!({
        "changes": !report.is_empty(),
        "data_at_risk": losses,
        "folders": folders,
    }))
    .unwrap_or_default();
    text.push('\n');
    text
}
