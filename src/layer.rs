//! Stage 2: a profile and the layers it `extends`, merged into one document.
//!
//! Maps merge deeply, lists and scalars replace, the profile wins. Every merged node keeps
//! the location it was written at, so diagnostics and `gitopsc explain` name the layer file
//! and line that set a value.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::diag::{Code, Diagnostic, Location, SourceFile};
use crate::load::{self, Entry, Node, Value};
use crate::profile::{API_VERSION, KIND};

/// A parsed layer file and what parsing it reported.
type Parsed = Arc<(Arc<SourceFile>, Option<Node>, Vec<Diagnostic>)>;

/// Layer files shared by many profiles are read and parsed once.
#[derive(Default)]
pub struct LayerCache {
    files: Mutex<BTreeMap<PathBuf, Parsed>>,
}

impl LayerCache {
    fn get(&self, path: &Path) -> Parsed {
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if let Some(hit) = self
            .files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Arc::clone(hit);
        }
        let mut diagnostics = Vec::new();
        let (file, root) = load::load_file(path, &mut diagnostics);
        let loaded = Arc::new((file, root, diagnostics));
        self.files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_insert(loaded)
            .clone()
    }
}

/// The profile merged over its layers; `None` when a layer problem leaves nothing sound.
pub fn resolve(
    profile: &Node,
    profile_path: &Path,
    cache: &LayerCache,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Node> {
    let mut chain = vec![identity(profile_path)];
    check_header(profile, diagnostics);
    let base = resolve_extends(profile, profile_path, cache, &mut chain, diagnostics)?;
    let own = without(profile, "extends");
    Some(match base {
        Some(base) => merge(base, own),
        None => own,
    })
}

/// Merges the layers that `node` extends, in order; `Ok(None)` when it extends nothing.
fn resolve_extends(
    node: &Node,
    path: &Path,
    cache: &LayerCache,
    chain: &mut Vec<PathBuf>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Option<Node>> {
    let Some(extends) = node.get("extends") else {
        return Some(None);
    };
    let names = layer_names(extends, diagnostics)?;
    let folder = path.parent().unwrap_or(Path::new(""));
    let mut merged: Option<Node> = None;
    let mut sound = true;
    for (name, location) in names {
        let layer_path = normalize(&folder.join(name));
        let id = identity(&layer_path);
        if let Some(problem) = refused(&layer_path, &id, chain, location) {
            diagnostics.push(problem);
            sound = false;
            continue;
        }
        let loaded = cache.get(&layer_path);
        let (_, root, load_diagnostics) = &*loaded;
        diagnostics.extend(load_diagnostics.iter().cloned());
        let Some(root) = root else {
            sound = false;
            continue;
        };
        check_header(root, diagnostics);
        if let Some(entry) = root.entry("metadata") {
            diagnostics.push(
                Diagnostic::error(Code::LayerMetadata, "a layer cannot set `metadata`")
                    .at(entry.key_location.clone())
                    .field("metadata")
                    .help("names and labels belong to each customer's own profile"),
            );
        }
        chain.push(id);
        let base = resolve_extends(root, &layer_path, cache, chain, diagnostics);
        chain.pop();
        let Some(base) = base else {
            sound = false;
            continue;
        };
        let own = without(&without(root, "extends"), "metadata");
        let layer = match base {
            Some(base) => merge(base, own),
            None => own,
        };
        merged = Some(match merged {
            Some(previous) => merge(previous, layer),
            None => layer,
        });
    }
    sound.then_some(merged)
}

/// Why a layer named at `location` cannot be read: it is already in the chain (a cycle) or
/// it does not exist.
fn refused(
    layer_path: &Path,
    id: &Path,
    chain: &[PathBuf],
    location: &Location,
) -> Option<Diagnostic> {
    if let Some(start) = chain.iter().position(|p| *p == id) {
        let cycle: Vec<String> = chain[start..]
            .iter()
            .map(PathBuf::as_path)
            .chain(std::iter::once(id))
            .map(|p| {
                p.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            })
            .collect();
        return Some(
            Diagnostic::error(
                Code::ExtendsCycle,
                format!("layers extend each other in a cycle: {}", cycle.join(" → ")),
            )
            .at(location.clone())
            .field("extends")
            .help("remove one of the `extends` entries in the cycle"),
        );
    }
    (!layer_path.is_file()).then(|| {
        Diagnostic::error(
            Code::LayerMissing,
            format!("layer `{}` does not exist", layer_path.display()),
        )
        .at(location.clone())
        .field("extends")
        .help("layer paths are relative to the file that names them")
    })
}

/// The layer file names of `extends`, each with where it is written.
fn layer_names<'a>(
    extends: &'a Node,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Vec<(&'a str, &'a Location)>> {
    match &extends.value {
        Value::Null => Some(Vec::new()),
        Value::Seq(items) => {
            let mut names = Vec::new();
            for item in items {
                match item.as_str() {
                    Some(name) if !name.is_empty() && !Path::new(name).is_absolute() => {
                        names.push((name, &item.location))
                    }
                    _ => {
                        diagnostics.push(
                            Diagnostic::error(
                                Code::ExtendsInvalid,
                                "each `extends` entry is a relative layer file name",
                            )
                            .at(item.location.clone())
                            .field("extends")
                            .help("e.g. `extends: [_defaults.yaml]`"),
                        );
                        return None;
                    }
                }
            }
            Some(names)
        }
        _ => {
            diagnostics.push(
                Diagnostic::error(
                    Code::ExtendsInvalid,
                    format!("`extends` must be a list, found {}", extends.type_name()),
                )
                .at(extends.location.clone())
                .field("extends")
                .help("e.g. `extends: [_defaults.yaml]`"),
            );
            None
        }
    }
}

/// Every file, profile or layer, declares the format it is written in.
fn check_header(root: &Node, diagnostics: &mut Vec<Diagnostic>) {
    if !matches!(root.value, Value::Map(_)) {
        diagnostics.push(
            Diagnostic::error(
                Code::WrongType,
                format!(
                    "expected a mapping at the top of the file, found {}",
                    root.type_name()
                ),
            )
            .at(root.location.clone()),
        );
        return;
    }
    for (field, expected) in [("apiVersion", API_VERSION), ("kind", KIND)] {
        match root.entry(field) {
            None => diagnostics.push(
                Diagnostic::error(Code::ApiVersion, format!("missing `{field}`"))
                    .at(Location::file_start(&root.location.file))
                    .field(field)
                    .help(format!("add `{field}: {expected}` at the top of the file")),
            ),
            Some(entry) if entry.value.as_str() != Some(expected) => diagnostics.push(
                Diagnostic::error(
                    Code::ApiVersion,
                    format!(
                        "unsupported {field} `{}`",
                        entry
                            .value
                            .as_str()
                            .map_or_else(|| entry.value.type_name().to_string(), str::to_string)
                    ),
                )
                .at(entry.value.location.clone())
                .field(field)
                .help(format!("this gitopsc reads {field}: {expected}")),
            ),
            Some(_) => {}
        }
    }
}

/// `over` merged onto `base`: maps deeply, everything else replaced.
pub fn merge(base: Node, over: Node) -> Node {
    match (base.value, over.value) {
        (Value::Map(mut entries), Value::Map(over_entries)) => {
            // By key, not by scanning: layers of many keys merge in linear time.
            let mut index: std::collections::BTreeMap<String, usize> = entries
                .iter()
                .enumerate()
                .map(|(at, entry)| (entry.key.clone(), at))
                .collect();
            for entry in over_entries {
                match index.get(&entry.key).map(|&at| &mut entries[at]) {
                    Some(existing) => {
                        let base_value = std::mem::replace(
                            &mut existing.value,
                            Node {
                                value: Value::Null,
                                location: entry.value.location.clone(),
                            },
                        );
                        existing.value = merge(base_value, entry.value);
                        existing.key_location = entry.key_location;
                    }
                    None => {
                        index.insert(entry.key.clone(), entries.len());
                        entries.push(entry);
                    }
                }
            }
            Node {
                value: Value::Map(entries),
                location: over.location,
            }
        }
        (_, value) => Node {
            value,
            location: over.location,
        },
    }
}

fn without(node: &Node, key: &str) -> Node {
    match &node.value {
        Value::Map(entries) => Node {
            value: Value::Map(
                entries
                    .iter()
                    .filter(|e| e.key != key)
                    .cloned()
                    .collect::<Vec<Entry>>(),
            ),
            location: node.location.clone(),
        },
        _ => node.clone(),
    }
}

/// What makes two paths the same file, for cycle detection.
fn identity(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| normalize(path))
}

/// `a/./b/../c` → `a/c`, without touching the disk, so messages show tidy relative paths.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
