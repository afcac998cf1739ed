//! `gitopsc explain`.

use std::path::Path;

use super::print::place;
use super::{FAILED, OK, Printer, USAGE};
use crate::compiler;
use crate::layer::LayerCache;
use crate::load::{Node, Value};

pub(super) fn explain(printer: &Printer, profile: &Path, field: Option<&str>) -> u8 {
    let cache = LayerCache::default();
    let mut diagnostics = Vec::new();
    let root = compiler::merged(profile, &cache, &mut diagnostics);
    crate::diag::normalize(&mut diagnostics);
    printer.diagnostics(&diagnostics);
    let Some(root) = root else {
        let unreadable = diagnostics.iter().any(|d| d.code == crate::diag::Code::Io);
        return if unreadable { USAGE } else { FAILED };
    };
    let Some(field) = field else {
        print!("{}", annotated(&root));
        return OK;
    };
    let pointer = pointer_of(field);
    match root.pointer(&pointer) {
        Some((node, _)) => {
            if matches!(node.value, Value::Map(_) | Value::Seq(_)) {
                println!("{field}:  # {}", place(&node.location));
                let mut text = String::new();
                write_annotated(&mut text, node, 1);
                print!("{text}");
            } else {
                println!("{field} = {}", scalar_text(node));
                println!("  set in {}", place(&node.location));
            }
            OK
        }
        None => match crate::validate::describe(&pointer) {
            Some(description) => {
                match crate::validate::default_at(&pointer) {
                    Some(default) => println!(
                        "{field} = {}  (the default: not set by {} or its layers)",
                        default
                            .as_str()
                            .map_or_else(|| default.to_string(), str::to_string),
                        profile.display()
                    ),
                    None => {
                        println!("{field} is not set by {} or its layers", profile.display());
                    }
                }
                println!("  {}", description.replace('\n', "\n  "));
                OK
            }
            None => {
                eprintln!("error: `{field}` is not a profile field");
                FAILED
            }
        },
    }
}

/// `spec.access.internal.allowedSourceRanges[1]` → `/spec/access/internal/allowedSourceRanges/1`.
fn pointer_of(field: &str) -> String {
    let mut pointer = String::new();
    for part in field.split('.').filter(|p| !p.is_empty()) {
        let mut rest = part;
        if let Some(open) = rest.find('[') {
            pointer.push('/');
            pointer.push_str(&crate::load::escape_segment(&rest[..open]));
            rest = &rest[open..];
            while let Some(inner) = rest.strip_prefix('[') {
                let close = inner.find(']').unwrap_or(inner.len());
                pointer.push('/');
                pointer.push_str(&inner[..close]);
                rest = inner.get(close + 1..).unwrap_or("");
            }
        } else {
            pointer.push('/');
            pointer.push_str(&crate::load::escape_segment(rest));
        }
    }
    pointer
}

/// The merged profile as YAML, each value followed by the file and line that set it.
fn annotated(root: &Node) -> String {
    let mut out = String::new();
    write_annotated(&mut out, root, 0);
    out
}

fn write_annotated(out: &mut String, node: &Node, level: usize) {
    let pad = "  ".repeat(level);
    match &node.value {
        Value::Map(entries) => {
            for entry in entries {
                match &entry.value.value {
                    Value::Map(inner) if !inner.is_empty() => {
                        out.push_str(&format!("{pad}{}:\n", entry.key));
                        write_annotated(out, &entry.value, level + 1);
                    }
                    Value::Seq(items) if !items.is_empty() => {
                        out.push_str(&format!(
                            "{pad}{}:  # {}\n",
                            entry.key,
                            place(&entry.value.location)
                        ));
                        write_annotated(out, &entry.value, level + 1);
                    }
                    _ => out.push_str(&format!(
                        "{pad}{}: {}  # {}\n",
                        entry.key,
                        scalar_text(&entry.value),
                        place(&entry.value.location)
                    )),
                }
            }
        }
        Value::Seq(items) => {
            for item in items {
                match &item.value {
                    Value::Map(_) | Value::Seq(_) => {
                        out.push_str(&format!("{pad}-\n"));
                        write_annotated(out, item, level + 1);
                    }
                    _ => out.push_str(&format!("{pad}- {}\n", scalar_text(item))),
                }
            }
        }
        _ => out.push_str(&format!(
            "{pad}{}  # {}\n",
            scalar_text(node),
            place(&node.location)
        )),
    }
}

fn scalar_text(node: &Node) -> String {
    crate::serialize::to_yaml(&node.to_json())
        .trim_end()
        .to_string()
}
