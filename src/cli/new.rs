//! `gitopsc new`.

use std::io::Write;
use std::path::Path;

use super::{OK, Printer, USAGE};
use crate::compiler;
use crate::diag::Diagnostic;
use crate::scaffold::Placeholder;

/// `gitopsc new`: the profile is written bare first (metadata and `extends`), compiled to
/// learn which required fields the layer leaves unset (E0103), then written again with a
/// `~` for each. A `~` is a type error until it is replaced, so no placeholder can reach a
/// cluster.
pub(super) fn new_profile(printer: &Printer, customer: &str, from: Option<&str>) -> u8 {
    use crate::diag::Code;
    if let Err(why) = crate::syntax::dns_label_rule(customer) {
        eprintln!(
            "error: `{customer}` cannot name a customer: {why}\n  \
             help: lowercase letters, digits and `-`, starting with a letter, at most 63 characters"
        );
        return USAGE;
    }
    let folder = Path::new("profiles");
    if !folder.is_dir() {
        eprintln!(
            "error: no profiles/ folder here\n  help: run gitopsc new in the fleet repository's root"
        );
        return USAGE;
    }
    let layer = match layer_to_extend(folder, from) {
        Ok(layer) => layer,
        Err(code) => return code,
    };
    let path = folder.join(format!("{customer}.yaml"));
    if let Err(code) = create_bare(&path, customer, layer.as_deref()) {
        return code;
    }
    let drop_output = |_: &crate::model::Customer, _: &str, _: crate::package::Folder| None;
    let bare = compiler::compile_each(std::slice::from_ref(&path), 1, None, &drop_output);
    let mut fields: Vec<Placeholder> = bare
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::MissingField)
        .filter_map(|d| d.field.clone())
        .map(|field| Placeholder { field, why: None })
        .collect();
    fields.extend(audit_needs(&path));
    fields.sort();
    fields.dedup_by(|a, b| a.field == b.field);
    let scaffold = crate::scaffold::profile(customer, layer.as_deref(), &fields);
    if let Err(error) = std::fs::write(&path, &scaffold.text) {
        eprintln!("error: cannot write {}: {error}", path.display());
        return USAGE;
    }
    // Anything else wrong (a broken layer) is shown as validate would show it.
    let others: Vec<Diagnostic> = bare
        .diagnostics
        .into_iter()
        .filter(|d| d.code != Code::MissingField)
        .collect();
    printer.diagnostics(&others);
    println!("wrote {}", path.display());
    if scaffold.placeholders.is_empty() {
        println!(
            "the layer sets every required field: adjust what this customer needs, then run `gitopsc validate`"
        );
    } else {
        println!(
            "fill in these {} fields (each `~`), then run `gitopsc validate`:",
            scaffold.placeholders.len()
        );
        for (field, line) in &scaffold.placeholders {
            println!("  {}:{line}  {field}", path.display());
        }
    }
    OK
}

/// The layer a new profile extends: `--from`, else `_defaults.yaml` when it exists.
fn layer_to_extend(folder: &Path, from: Option<&str>) -> Result<Option<String>, u8> {
    match from {
        Some(layer) if !layer.starts_with('_') || layer.contains('/') => {
            eprintln!(
                "error: `{layer}` is not a layer of profiles/\n  \
                 help: a layer is a file in profiles/ whose name starts with `_`, e.g. `--from _defaults.yaml`"
            );
            Err(USAGE)
        }
        Some(layer) if !folder.join(layer).is_file() => {
            eprintln!("error: profiles/{layer} does not exist");
            Err(USAGE)
        }
        Some(layer) => Ok(Some(layer.to_string())),
        None => Ok(folder
            .join("_defaults.yaml")
            .is_file()
            .then(|| "_defaults.yaml".to_string())),
    }
}

/// Writes the bare profile (metadata and `extends`), never over an existing file.
fn create_bare(path: &Path, customer: &str, layer: Option<&str>) -> Result<(), u8> {
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .and_then(|mut file| {
            file.write_all(
                crate::scaffold::profile(customer, layer, &[])
                    .text
                    .as_bytes(),
            )
        });
    if let Err(error) = created {
        if error.kind() == std::io::ErrorKind::AlreadyExists {
            eprintln!(
                "error: {} exists; gitopsc new never overwrites a profile\n  \
                 help: choose another name, or edit the profile",
                path.display()
            );
        } else {
            eprintln!("error: cannot write {}: {error}", path.display());
        }
        return Err(USAGE);
    }
    Ok(())
}

/// The fields an audit control needs that neither the bare profile at `path` nor its
/// layers set (no default passes them): without them a new customer fails its audit.
fn audit_needs(path: &Path) -> Vec<Placeholder> {
    let cache = crate::layer::LayerCache::default();
    let mut ignored = Vec::new();
    let Some(root) = compiler::merged(path, &cache, &mut ignored) else {
        return Vec::new();
    };
    crate::audit::CONTROLS
        .iter()
        .filter_map(|control| {
            let needs = control.needs?;
            root.pointer(needs).is_none().then(|| Placeholder {
                field: crate::load::dotted(needs),
                why: Some(format!(
                    "Needed by audit control {} ({}).",
                    control.id,
                    control.statement.trim_end_matches('.')
                )),
            })
        })
        .collect()
}
