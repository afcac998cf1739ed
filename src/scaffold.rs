//! `gitopsc new`: the text of a new customer's profile, holding exactly the fields its layer
//! leaves unset, each as `~` under the schema's description (docs/usage.md).

use std::collections::BTreeMap;

use crate::profile::{API_VERSION, KIND};

/// Where shipped profiles find the schema, relative to `profiles/`.
const SCHEMA_MODELINE: &str = "# yaml-language-server: $schema=../schema/profile.schema.json";
/// Comment lines are wrapped at this width.
const WIDTH: usize = 92;

/// A tree of the fields to fill, by name.
#[derive(Default)]
struct Tree(BTreeMap<String, Tree>);

/// A new profile's text and the line of each `~` placeholder, by dotted field path.
pub struct Scaffold {
    pub text: String,
    pub placeholders: Vec<(String, usize)>,
}

/// The profile of `customer` extending `layer`, with a `~` placeholder at each of the
/// `missing` field paths (dotted, as diagnostics name them).
pub fn profile(customer: &str, layer: Option<&str>, missing: &[String]) -> Scaffold {
    let mut tree = Tree::default();
    for field in missing {
        let mut here = &mut tree;
        for name in field.split('.') {
            here = here.0.entry(name.to_string()).or_default();
        }
    }
    let mut text = format!(
        "{SCHEMA_MODELINE}\n#\n# {customer}: written by `gitopsc new`. Replace every `~` below, then run\n\
         # `gitopsc validate`.\napiVersion: {API_VERSION}\nkind: {KIND}\nmetadata:\n  name: {customer}\n"
    );
    if let Some(layer) = layer {
        text.push_str(&format!("extends: [{layer}]\n"));
    }
    let mut scaffold = Scaffold {
        text,
        placeholders: Vec::new(),
    };
    // `metadata` is written above; the rest of the tree is what the layer leaves unset.
    for (name, child) in &tree.0 {
        if name != "metadata" {
            write_field(&mut scaffold, name, child, &format!("/{name}"), 0);
        }
    }
    scaffold
}

fn write_field(scaffold: &mut Scaffold, name: &str, tree: &Tree, pointer: &str, depth: usize) {
    let indent = "  ".repeat(depth);
    let text = &mut scaffold.text;
    if tree.0.is_empty() {
        let description = crate::validate::describe(pointer).unwrap_or_default();
        for line in wrap(&description, WIDTH.saturating_sub(indent.len() + 2)) {
            text.push_str(&format!("{indent}# {line}\n"));
        }
        text.push_str(&format!("{indent}{name}: ~\n"));
        let line = text.lines().count();
        scaffold
            .placeholders
            .push((crate::load::dotted(pointer), line));
        return;
    }
    text.push_str(&format!("{indent}{name}:\n"));
    for (child_name, child) in &tree.0 {
        write_field(
            scaffold,
            child_name,
            child,
            &format!("{pointer}/{child_name}"),
            depth + 1,
        );
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
