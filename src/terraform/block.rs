//! The vocabulary of a Terraform JSON module: the address of a block, a reference to one of
//! its attributes, a block with its arguments, a file of blocks, and the dependency graph
//! Terraform derives from them.
//!
//! A reference is never a hand-built string: `Address::attr` renders `${type.name.attr}`.
//! The graph is read back from the rendered JSON the way Terraform reads it (every `${…}`
//! in a block's arguments, then its `depends_on`), so the same code answers "does the
//! cluster wait for the key grant?" for a compiled module and for committed files.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

/// Whether a block creates something or reads what exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    Resource,
    Data,
}

/// A resource or data source of the module, such as `google_container_cluster.cluster`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Address {
    pub mode: Mode,
    pub kind: &'static str,
    pub name: Cow<'static, str>,
}

impl Address {
    pub const fn resource(kind: &'static str, name: &'static str) -> Address {
        Address {
            mode: Mode::Resource,
            kind,
            name: Cow::Borrowed(name),
        }
    }

    pub const fn data(kind: &'static str, name: &'static str) -> Address {
        Address {
            mode: Mode::Data,
            kind,
            name: Cow::Borrowed(name),
        }
    }

    /// A resource whose name the profile gives (a node pool, a DNS record).
    pub fn named(kind: &'static str, name: String) -> Address {
        Address {
            mode: Mode::Resource,
            kind,
            name: Cow::Owned(name),
        }
    }

    /// An attribute of the block as a Terraform expression; the block whose arguments hold
    /// it depends on this one.
    pub fn attr(&self, attribute: &'static str) -> Ref {
        Ref {
            target: self.clone(),
            attribute,
        }
    }
}

/// How Terraform names the block in an expression, `depends_on` or an `import` block:
/// `type.name`, or `data.type.name`.
impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mode == Mode::Data {
            f.write_str("data.")?;
        }
        write!(f, "{}.{}", self.kind, self.name)
    }
}

/// `${address.attribute}`: serialized as that string, so it goes into `json!` bodies and
/// `format!` text alike.
#[derive(Clone, Debug)]
pub struct Ref {
    pub target: Address,
    pub attribute: &'static str,
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${{{}.{}}}", self.target, self.attribute)
    }
}

impl serde::Serialize for Ref {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One resource or data source with its arguments.
#[derive(Clone, Debug)]
pub struct Block {
    pub address: Address,
    /// The arguments: a JSON object.
    pub body: Value,
    /// Orders no attribute reference expresses: (the block waited for, why).
    pub depends_on: Vec<(Address, &'static str)>,
}

impl Block {
    pub fn new(address: Address, body: Value) -> Block {
        Block {
            address,
            body,
            depends_on: Vec::new(),
        }
    }

    /// Waits for `address` although no argument refers to it; `why` is kept beside it so
    /// the reason for each explicit edge is in the code.
    pub fn after(mut self, address: &Address, why: &'static str) -> Block {
        self.depends_on.push((address.clone(), why));
        self
    }

    fn rendered(&self) -> Value {
        let mut body = self.body.clone();
        if !self.depends_on.is_empty() {
            if let Value::Object(arguments) = &mut body {
                let after: Vec<Value> = self
                    .depends_on
                    .iter()
                    .map(|(address, _)| Value::String(address.to_string()))
                    .collect();
                arguments.insert("depends_on".into(), Value::Array(after));
            }
        }
        body
    }
}

/// One `.tf.json` file: top-level settings (`terraform`, `provider`, `import`), then its
/// data sources, then its resources, each grouped by type in the order first added.
#[derive(Clone, Debug, Default)]
pub struct File {
    pub settings: Map<String, Value>,
    pub blocks: Vec<Block>,
}

impl File {
    pub fn of(blocks: Vec<Block>) -> File {
        File {
            settings: Map::new(),
            blocks,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.settings.is_empty() && self.blocks.is_empty()
    }

    /// The file as Terraform JSON.
    pub fn to_json(&self) -> Value {
        let mut document = self.settings.clone();
        for (mode, key) in [(Mode::Data, "data"), (Mode::Resource, "resource")] {
            let mut kinds: Vec<(&str, Map<String, Value>)> = Vec::new();
            for block in self.blocks.iter().filter(|b| b.address.mode == mode) {
                let kind = block.address.kind;
                let at = match kinds.iter().position(|(k, _)| *k == kind) {
                    Some(at) => at,
                    None => {
                        kinds.push((kind, Map::new()));
                        kinds.len() - 1
                    }
                };
                kinds[at]
                    .1
                    .insert(block.address.name.to_string(), block.rendered());
            }
            if !kinds.is_empty() {
                let kinds = kinds
                    .into_iter()
                    .map(|(kind, blocks)| (kind.to_string(), Value::Object(blocks)))
                    .collect();
                document.insert(key.into(), Value::Object(kinds));
            }
        }
        Value::Object(document)
    }
}

/// Which blocks each block waits for, as Terraform orders them: by the references in its
/// arguments and by its `depends_on`. Blocks are named as in `depends_on`
/// (`type.name`, `data.type.name`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Graph {
    /// Every block of the module, with the blocks it refers to directly.
    pub edges: BTreeMap<String, BTreeSet<String>>,
}

impl Graph {
    /// The graph of Terraform JSON documents (the files of one module).
    pub fn of<'a>(documents: impl IntoIterator<Item = &'a Value>) -> Graph {
        let mut edges = BTreeMap::new();
        for document in documents {
            for (prefix, key) in [("data.", "data"), ("", "resource")] {
                let Some(Value::Object(kinds)) = document.get(key) else {
                    continue;
                };
                for (kind, blocks) in kinds {
                    let Value::Object(blocks) = blocks else {
                        continue;
                    };
                    for (name, body) in blocks {
                        let mut needs = BTreeSet::new();
                        references(body, &mut needs);
                        for after in body["depends_on"].as_array().into_iter().flatten() {
                            needs.extend(after.as_str().map(str::to_string));
                        }
                        edges.insert(format!("{prefix}{kind}.{name}"), needs);
                    }
                }
            }
        }
        Graph { edges }
    }

    /// True when `from` waits for `to`, directly or through other blocks.
    pub fn waits_for(&self, from: &Address, to: &Address) -> bool {
        self.block_waits_for(&from.to_string(), &to.to_string())
    }

    /// `waits_for` by the blocks' names as Terraform writes them (`type.name`).
    pub fn block_waits_for(&self, from: &str, to: &str) -> bool {
        let mut seen = BTreeSet::new();
        let mut next = vec![from];
        while let Some(block) = next.pop() {
            for needed in self.edges.get(block).into_iter().flatten() {
                if *needed == to {
                    return true;
                }
                if seen.insert(needed.as_str()) {
                    next.push(needed);
                }
            }
        }
        false
    }

    /// References to blocks the module does not have: (block, what it names).
    pub fn dangling(&self) -> Vec<(String, String)> {
        let mut found = Vec::new();
        for (block, needs) in &self.edges {
            for needed in needs.iter().filter(|n| !self.edges.contains_key(*n)) {
                found.push((block.clone(), needed.clone()));
            }
        }
        found
    }
}

/// The blocks named by every `${…}` expression in `value`.
fn references(value: &Value, into: &mut BTreeSet<String>) {
    match value {
        Value::String(text) => {
            let mut rest = text.as_str();
            while let Some(start) = rest.find("${") {
                let inside = &rest[start + 2..];
                let end = inside.find('}').unwrap_or(inside.len());
                // An expression may hold several references, inside function calls too.
                let tokens = inside[..end]
                    .split(|c: char| !(c.is_ascii_alphanumeric() || "_.-".contains(c)));
                into.extend(tokens.filter_map(block_of));
                rest = &inside[end..];
            }
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, into)),
        Value::Object(entries) => entries
            .iter()
            .filter(|(key, _)| *key != "depends_on")
            .for_each(|(_, v)| references(v, into)),
        _ => {}
    }
}

/// `data.google_project.project.number` → `data.google_project.project`. A resource type
/// is `<provider>_<name>`, so `self.x`, `var.x`, `each.key` and `local.x` are not blocks.
fn block_of(expression: &str) -> Option<String> {
    let parts: Vec<&str> = expression.trim().split('.').collect();
    let (kind, take) = match parts.first() {
        Some(&"data") => (parts.get(1)?, 3),
        _ => (parts.first()?, 2),
    };
    let is_type = kind.contains('_') && kind.starts_with(|c: char| c.is_ascii_lowercase());
    (is_type && parts.len() > take).then(|| parts[..take].join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLUSTER: Address = Address::resource("google_container_cluster", "cluster");
    const PROJECT: Address = Address::data("google_project", "project");

    #[test]
    fn references_render_as_terraform_expressions() {
        assert_eq!(
            CLUSTER.attr("id").to_string(),
            "${google_container_cluster.cluster.id}"
        );
        assert_eq!(
            serde_json::json!({ "n": PROJECT.attr("number") }),
            serde_json::json!({ "n": "${data.google_project.project.number}" })
        );
    }

    #[test]
    fn the_graph_follows_references_and_depends_on() {
        let grant = Address::resource("google_kms_crypto_key_iam_member", "gke");
        let pool = Address::resource("google_container_node_pool", "db");
        let file = File::of(vec![
            Block::new(PROJECT, serde_json::json!({"project_id": "p"})),
            Block::new(
                grant.clone(),
                serde_json::json!({
                    "member": format!("service-{}@x", PROJECT.attr("number")),
                    "lifecycle": {"postcondition": [{
                        "condition": "${contains(self.members, \"x\") && var.y && each.key}"
                    }]}
                }),
            ),
            Block::new(CLUSTER, serde_json::json!({"name": "c"})).after(&grant, "test"),
            Block::new(
                pool.clone(),
                serde_json::json!({"cluster": CLUSTER.attr("id")}),
            ),
        ]);
        let graph = Graph::of([&file.to_json()]);
        assert!(graph.waits_for(&pool, &PROJECT));
        assert!(graph.waits_for(&CLUSTER, &grant));
        assert!(!graph.waits_for(&grant, &CLUSTER));
        assert!(graph.dangling().is_empty());
        let json = file.to_json();
        assert_eq!(
            json["resource"]["google_container_cluster"]["cluster"]["depends_on"],
            serde_json::json!(["google_kms_crypto_key_iam_member.gke"])
        );
    }
}
