//! `gitopsc new`: the text of a new customer's profile, holding exactly the fields its layer
//! leaves unset that the customer must set — the required ones and those an audit control
//! needs — each as `~` under the schema's description, with the shape of a structured
//! field written out (docs/usage.md).

use std::collections::BTreeMap;

use crate::profile::{API_VERSION, KIND};

/// Where shipped profiles find the schema, relative to `profiles/`.
const SCHEMA_MODELINE: &str = "# yaml-language-server: $schema=../schema/profile.schema.json";
/// Comment lines are wrapped at this width.
const WIDTH: usize = 92;
/// How deep the shape of a structured field is written out.
const SHAPE_DEPTH: usize = 2;

/// A field the new profile must set: its dotted path, and why beyond "required" (the audit
/// control that needs it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Placeholder {
    pub field: String,
    pub why: Option<String>,
}

/// A tree of the fields to fill, by name; a leaf keeps why it is needed.
#[derive(Default)]
struct Tree {
    children: BTreeMap<String, Tree>,
    why: Option<String>,
}

/// A new profile's text and the line of each `~` placeholder, by dotted field path.
pub struct Scaffold {
    pub text: String,
    pub placeholders: Vec<(String, usize)>,
}

/// The profile of `customer` extending `layer`, with a `~` placeholder at each of `fields`.
pub fn profile(customer: &str, layer: Option<&str>, fields: &[Placeholder]) -> Scaffold {
    let mut tree = Tree::default();
    for placeholder in fields {
        let mut here = &mut tree;
        for name in placeholder.field.split('.') {
            here = here.children.entry(name.to_string()).or_default();
        }
        here.why.clone_from(&placeholder.why);
    }
    let mut text = format!(
        "{SCHEMA_MODELINE}\n#\n# {customer}: written by `gitopsc new`. Replace every `~` below, then run\n\
         # `gitopsc validate`. Argo CD deploys it into the cluster its Terraform creates\n\
         # (`{customer}-gke` unless `infrastructure.cluster.name` says otherwise), registered in\n\
         # Argo CD under that name (docs/bring-up.md).\n\
         apiVersion: {API_VERSION}\nkind: {KIND}\nmetadata:\n  name: {customer}\n"
    );
    if let Some(layer) = layer {
        text.push_str(&format!("extends: [{layer}]\n"));
    }
    let mut scaffold = Scaffold {
        text,
        placeholders: Vec::new(),
    };
    // `metadata` is written above; the rest of the tree is what the layer leaves unset.
    for (name, child) in &tree.children {
        if name != "metadata" {
            write_field(&mut scaffold, name, child, &format!("/{name}"), 0);
        }
    }
    scaffold
}

fn write_field(scaffold: &mut Scaffold, name: &str, tree: &Tree, pointer: &str, depth: usize) {
    let indent = "  ".repeat(depth);
    if tree.children.is_empty() {
        let mut description = crate::validate::describe(pointer).unwrap_or_default();
        if let Some(why) = &tree.why {
            description.push_str(&format!(" {why}"));
        }
        let width = WIDTH.saturating_sub(indent.len() + 2);
        for line in wrap(&description, width) {
            scaffold.text.push_str(&format!("{indent}# {line}\n"));
        }
        let shape = shape(pointer, 0);
        if !shape.is_empty() {
            scaffold
                .text
                .push_str(&format!("{indent}# Replace `~` with a mapping:\n"));
            for line in shape {
                let line = clip(&line, WIDTH.saturating_sub(indent.len() + 4));
                scaffold.text.push_str(&format!("{indent}#   {line}\n"));
            }
        }
        scaffold.text.push_str(&format!("{indent}{name}: ~\n"));
        let line = scaffold.text.lines().count();
        scaffold
            .placeholders
            .push((crate::load::dotted(pointer), line));
        return;
    }
    scaffold.text.push_str(&format!("{indent}{name}:\n"));
    for (child_name, child) in &tree.children {
        write_field(
            scaffold,
            child_name,
            child,
            &format!("{pointer}/{child_name}"),
            depth + 1,
        );
    }
}

/// The fields of the mapping at `pointer`, each `name: …` with the first sentence of its
/// description, nested mappings indented below their name; empty for a scalar.
fn shape(pointer: &str, depth: usize) -> Vec<String> {
    if depth >= SHAPE_DEPTH {
        return Vec::new();
    }
    let indent = "  ".repeat(depth);
    let mut lines = Vec::new();
    for name in crate::validate::properties_at(pointer) {
        let child = format!("{pointer}/{name}");
        let description = crate::validate::describe(&child).unwrap_or_default();
        let first = first_sentence(&description);
        let inner = shape(&child, depth + 1);
        if inner.is_empty() {
            lines.push(format!("{indent}{name}: …  # {first}"));
        } else {
            lines.push(format!("{indent}{name}:  # {first}"));
            lines.extend(inner);
        }
    }
    lines
}

/// `line` cut at a word to at most `width` characters, with `…` where it was cut; its
/// leading spaces are kept.
fn clip(line: &str, width: usize) -> String {
    if line.chars().count() <= width {
        return line.to_string();
    }
    let text = line.trim_start_matches(' ');
    let mut out = " ".repeat(line.len() - text.len());
    let indent = out.len();
    for word in text.split(' ') {
        if out.chars().count() + 1 + word.chars().count() + 1 > width {
            break;
        }
        if out.len() > indent {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.push_str(" …");
    out
}

/// The first sentence of `text`, on one line.
fn first_sentence(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.find(". ") {
        Some(end) => line[..=end].to_string(),
        None => line,
    }
}

/// `text` as lines of at most `width` characters, broken between words.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.lines() {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            lines.push(line);
        }
    }
    lines
}
