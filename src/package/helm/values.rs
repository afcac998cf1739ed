//! What a customer who installs the chart may tune, and the values schema Helm enforces.
//!
//! A value's path is its profile path under `spec` (`--set database.pgpool.maxPool=3` is
//! `spec.database.pgpool.maxPool: 3`), its schema is the profile schema's for that field,
//! and only values that take effect for this customer exist: with autoscaling on there is no
//! `app.replicas`, without snapshots no `backup`. Everything else is compiled in
//! (docs/decisions.md, "Helm values").

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::model::{Customer, Scaling};

/// Where a tunable lives in the model, which the emitters read.
pub enum Slot {
    Count(fn(&mut Customer) -> Option<&mut u32>),
    Text(fn(&mut Customer) -> Option<&mut String>),
}

/// One tunable scalar: its values path and its place in the model.
pub struct Tunable {
    pub path: &'static str,
    pub slot: Slot,
}

/// The tunable scalars; the PostgreSQL parameters (`PARAMETERS`) are the one tunable map.
pub const TUNABLES: &[Tunable] = &[
    Tunable {
        path: "app.replicas",
        slot: Slot::Count(|c| match &mut c.app.scaling {
            Scaling::Fixed(n) => Some(n),
            Scaling::Auto { .. } => None,
        }),
    },
    Tunable {
        path: "app.autoscaling.minReplicas",
        slot: Slot::Count(|c| match &mut c.app.scaling {
            Scaling::Auto { min, .. } => Some(min),
            Scaling::Fixed(_) => None,
        }),
    },
    Tunable {
        path: "app.autoscaling.maxReplicas",
        slot: Slot::Count(|c| match &mut c.app.scaling {
            Scaling::Auto { max, .. } => Some(max),
            Scaling::Fixed(_) => None,
        }),
    },
    Tunable {
        path: "database.resources.requests.cpu",
        slot: Slot::Text(|c| Some(&mut c.database.requests.cpu)),
    },
    Tunable {
        path: "database.resources.requests.memory",
        slot: Slot::Text(|c| Some(&mut c.database.requests.memory)),
    },
    Tunable {
        path: "database.resources.limits.cpu",
        slot: Slot::Text(|c| Some(&mut c.database.limits.cpu)),
    },
    Tunable {
        path: "database.resources.limits.memory",
        slot: Slot::Text(|c| Some(&mut c.database.limits.memory)),
    },
    Tunable {
        path: "database.pgpool.numInitChildren",
        slot: Slot::Count(|c| Some(&mut c.database.pgpool.num_init_children)),
    },
    Tunable {
        path: "database.pgpool.maxPool",
        slot: Slot::Count(|c| Some(&mut c.database.pgpool.max_pool)),
    },
    Tunable {
        path: "database.pgpool.resources.requests.cpu",
        slot: Slot::Text(|c| Some(&mut c.database.pgpool.requests.cpu)),
    },
    Tunable {
        path: "database.pgpool.resources.requests.memory",
        slot: Slot::Text(|c| Some(&mut c.database.pgpool.requests.memory)),
    },
    Tunable {
        path: "database.pgpool.resources.limits.cpu",
        slot: Slot::Text(|c| Some(&mut c.database.pgpool.limits.cpu)),
    },
    Tunable {
        path: "database.pgpool.resources.limits.memory",
        slot: Slot::Text(|c| Some(&mut c.database.pgpool.limits.memory)),
    },
    // Without the archive the schedule is the recovery point (E0325), a cron gap the chart
    // cannot compute: then it stays compiled in.
    Tunable {
        path: "backup.snapshots.schedule",
        slot: Slot::Text(|c| match c.archive {
            Some(_) => c.backup.as_mut().map(|b| &mut b.schedule),
            None => None,
        }),
    },
    Tunable {
        path: "backup.snapshots.retain",
        slot: Slot::Count(|c| c.backup.as_mut().map(|b| &mut b.retain)),
    },
];

/// The PostgreSQL parameters' values path.
pub const PARAMETERS: &str = "database.parameters";

/// Stand-ins the probe customer carries in place of the values (`template.rs` finds them in
/// the compiled text): a count is `COUNT_HOLE + i`, a text `TEXT_HOLE` and `i`.
pub const COUNT_HOLE: u32 = 987_600;
pub const TEXT_HOLE: &str = "gitopsc-hole-";
/// A DCS-only parameter and a local one, whose lines mark the parameter blocks.
pub const DCS_HOLE: (&str, &str) = ("max_connections", "gitopsc-hole-dcs");
pub const LOCAL_HOLE: (&str, &str) = ("gitopsc_hole_local", "gitopsc-hole-local");

/// The tunables that take effect for one customer, with its values.
pub struct Tunables {
    pub scalars: Vec<(&'static Tunable, Value)>,
    pub parameters: BTreeMap<String, String>,
}

impl Tunables {
    pub fn of(customer: &Customer) -> Self {
        let mut copy = customer.clone();
        let scalars = TUNABLES
            .iter()
            .filter_map(|tunable| {
                let value = match tunable.slot {
                    Slot::Count(slot) => json!(*slot(&mut copy)?),
                    Slot::Text(slot) => json!(slot(&mut copy)?.clone()),
                };
                Some((tunable, value))
            })
            .collect();
        Tunables {
            scalars,
            parameters: customer.database.parameters.clone(),
        }
    }

    /// The customer with a stand-in for every value, for `template.rs` to find.
    pub fn probe(&self, customer: &Customer) -> Customer {
        let mut probe = customer.clone();
        for (i, (tunable, _)) in self.scalars.iter().enumerate() {
            match tunable.slot {
                Slot::Count(slot) => {
                    if let Some(n) = slot(&mut probe) {
                        *n = COUNT_HOLE + i as u32;
                    }
                }
                Slot::Text(slot) => {
                    if let Some(text) = slot(&mut probe) {
                        *text = format!("{TEXT_HOLE}{i}");
                    }
                }
            }
        }
        probe.database.parameters = BTreeMap::from([
            (DCS_HOLE.0.into(), DCS_HOLE.1.into()),
            (LOCAL_HOLE.0.into(), LOCAL_HOLE.1.into()),
        ]);
        probe
    }

    /// `values.yaml`: the customer's values, which give the compiled objects.
    pub fn values_yaml(&self, customer: &Customer) -> String {
        let mut root = Map::new();
        for (tunable, value) in &self.scalars {
            insert(&mut root, tunable.path, value.clone());
        }
        let parameters: Map<String, Value> = self
            .parameters
            .iter()
            .map(|(name, text)| (name.clone(), parameter_value(text)))
            .collect();
        insert(&mut root, PARAMETERS, Value::Object(parameters));
        format!(
            "# The settings of customer {name}'s stack its operators may tune (docs/helm.md).\n\
             # values.schema.json refuses anything else and every value out of range; the\n\
             # defaults give exactly the objects gitopsc compiled from the profile.\n\
             # Install into namespace {namespace}:\n\
             #   helm upgrade --install {name} . --namespace {namespace} --create-namespace --take-ownership\n{}",
            crate::serialize::to_yaml(&Value::Object(root)),
            name = customer.name,
            namespace = customer.namespace,
        )
    }

    /// `values.schema.json`: the profile schema's rules for each value, PostgreSQL's for
    /// each parameter of the customer's major, nothing else admitted.
    pub fn schema(&self, customer: &Customer) -> Value {
        let mut root = object_schema();
        for (tunable, _) in &self.scalars {
            insert_schema(&mut root, tunable.path, leaf_schema(tunable.path));
        }
        insert_schema(&mut root, PARAMETERS, parameters_schema(customer));
        root["$schema"] = json!("http://json-schema.org/draft-07/schema#");
        root["title"] = json!(format!("Values of customer {}'s chart", customer.name));
        root
    }
}

/// A parameter as a value: a number where the text is an integer, else the text.
fn parameter_value(text: &str) -> Value {
    text.parse::<i64>()
        .map_or_else(|_| json!(text), |n| json!(n))
}

fn insert(root: &mut Map<String, Value>, path: &str, value: Value) {
    let mut node = root;
    let mut segments = path.split('.').peekable();
    while let Some(segment) = segments.next() {
        if segments.peek().is_none() {
            node.insert(segment.into(), value);
            return;
        }
        let child = node
            .entry(segment.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(next) = child else { return };
        node = next;
    }
}

fn object_schema() -> Value {
    json!({"type": "object", "additionalProperties": false, "properties": {}, "required": []})
}

/// Puts `leaf` at `path`, every object on the way closed and every key required: a value
/// removed with `--set x=null` would leave its place in a template empty.
fn insert_schema(root: &mut Value, path: &str, leaf: Value) {
    let mut node = root;
    let mut segments = path.split('.').peekable();
    while let Some(segment) = segments.next() {
        if let Some(required) = node["required"].as_array_mut() {
            if !required.contains(&json!(segment)) {
                required.push(json!(segment));
            }
        }
        let last = segments.peek().is_none();
        let properties = &mut node["properties"];
        if properties.get(segment).is_none() {
            properties[segment] = if last { leaf.clone() } else { object_schema() };
        }
        if last {
            return;
        }
        node = &mut node["properties"][segment];
    }
}

/// The profile schema's rule for the field at `path` (under `spec`), without its default
/// (the customer's value is the default) and with a pattern where the profile schema names
/// a format only gitopsc's validator knows.
fn leaf_schema(path: &str) -> Value {
    let schema = crate::validate::schema();
    let resolve = |node: &Value| -> Value {
        match node.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let target = reference
                    .strip_prefix('#')
                    .and_then(|pointer| schema.pointer(pointer))
                    .cloned()
                    .unwrap_or(Value::Null);
                let mut merged = target.as_object().cloned().unwrap_or_default();
                if let Some(description) = node.get("description") {
                    merged.insert("description".into(), description.clone());
                }
                Value::Object(merged)
            }
            None => node.clone(),
        }
    };
    let mut node = resolve(&schema["properties"]["spec"]);
    for segment in path.split('.') {
        node = resolve(&node["properties"][segment]);
    }
    let Value::Object(mut leaf) = node else {
        return Value::Null;
    };
    leaf.remove("default");
    if let Some(Value::String(text)) = leaf.get("description") {
        let text = description(path, text);
        leaf.insert("description".into(), Value::String(text));
    }
    if let Some(format) = leaf
        .remove("format")
        .and_then(|f| f.as_str().map(String::from))
    {
        match format.as_str() {
            "quantity" | "bytes" => {
                let suffixes = if format == "bytes" {
                    "k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei"
                } else {
                    "m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei"
                };
                leaf.insert(
                    "allOf".into(),
                    json!([
                        {"pattern": format!("^\\+?([0-9]+\\.?[0-9]*|\\.[0-9]+)({suffixes}|[eE][-+]?[0-9]+)?$")},
                        // Positive: a digit other than 0 before any suffix.
                        {"pattern": "^\\+?[0.]*[1-9]"}
                    ]),
                );
            }
            "cron" => {
                leaf.insert(
                    "pattern".into(),
                    json!("^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|\\s*[0-9A-Za-z*,/-]+(\\s+[0-9A-Za-z*,/-]+){4}\\s*)$"),
                );
            }
            _ => {}
        }
    }
    Value::Object(leaf)
}

/// A value's description: the profile field's, without its default (the profile's default is
/// not the chart's: the customer's value is), and for a quantity whose it is.
fn description(path: &str, text: &str) -> String {
    let text = text
        .split(" Default:")
        .next()
        .unwrap_or_default()
        .to_string();
    let whose = path
        .strip_prefix("database.pgpool.resources.")
        .map(|rest| ("Pgpool", rest))
        .or_else(|| {
            path.strip_prefix("database.resources.")
                .map(|rest| ("PostgreSQL", rest))
        });
    match whose.and_then(|(container, rest)| Some((container, rest.split_once('.')?))) {
        Some((container, (kind, resource))) => format!(
            "The {container} container's {} {}, a Kubernetes quantity such as {}.",
            if resource == "cpu" { "CPU" } else { "memory" },
            kind.trim_end_matches('s'),
            if resource == "cpu" {
                "`500m` or `\"2\"`"
            } else {
                "`512Mi` or `4Gi`"
            }
        ),
        None => text,
    }
}

/// Every parameter of the customer's PostgreSQL major with its type, unit, bounds and
/// allowed words; none that gitopsc sets itself; extension parameters (`name.setting`) as
/// they are, as the compiler takes them.
fn parameters_schema(customer: &Customer) -> Value {
    let version = customer.database.version;
    let refused: Vec<String> = crate::patroni::MANAGED_PARAMETERS
        .iter()
        .map(|name| name.to_string())
        .chain(crate::emit::archive::parameters(customer).into_keys())
        .collect();
    let mut properties = Map::new();
    for setting in crate::pgsettings::table() {
        let current = setting.since <= version && setting.until.is_none_or(|u| version <= u);
        if current && !refused.contains(&setting.name) {
            properties.insert(setting.name.clone(), parameter_schema(setting));
        }
    }
    json!({
        "description": format!("postgresql.conf parameters of PostgreSQL {version}: names, units, allowed words and bounds as gitopsc checks them. The parameters gitopsc sets itself are refused."),
        "type": "object",
        "properties": properties,
        "patternProperties": {
            "^[A-Za-z_][A-Za-z0-9_]*\\.[A-Za-z0-9_.]+$": {
                "description": "An extension's parameter, taken as it is.",
                "type": ["string", "number", "boolean"]
            }
        },
        "additionalProperties": false,
        "required": ["max_connections"],
    })
}

fn parameter_schema(setting: &crate::pgsettings::Setting) -> Value {
    let words = |words: &[&str]| format!("^(?i:{})$", words.join("|"));
    let mut schema = match setting.vartype.as_str() {
        "bool" => json!({
            "type": ["boolean", "string", "integer"],
            "pattern": words(&["on", "off", "true", "false", "yes", "no", "1", "0"]),
            "minimum": 0,
            "maximum": 1,
        }),
        "enum" if !setting.enumvals.is_empty() => {
            let escaped: Vec<String> = setting.enumvals.iter().map(|v| escape(v)).collect();
            let escaped: Vec<&str> = escaped.iter().map(String::as_str).collect();
            json!({"type": "string", "pattern": words(&escaped)})
        }
        "integer" | "real" => {
            let units = crate::pgsettings::unit_names(&setting.unit);
            let unit = if units.is_empty() {
                String::new()
            } else {
                format!("({})?", units.join("|"))
            };
            let number = if setting.vartype == "integer" {
                "[-+]?[0-9]+"
            } else {
                "[-+]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?"
            };
            let mut schema = json!({
                "type": [if setting.vartype == "integer" { "integer" } else { "number" }, "string"],
                "pattern": format!("^\\s*{number}\\s*{unit}\\s*$"),
            });
            if let Some(min) = setting.min {
                schema["minimum"] = json!(min);
            }
            if let Some(max) = setting.max {
                schema["maximum"] = json!(max);
            }
            schema
        }
        _ => json!({"type": ["string", "number", "boolean"]}),
    };
    // Patroni replaces a value below its own floor with its default (E0322).
    if let Some((minimum, allowed)) = crate::patroni::floor(&setting.name) {
        match minimum {
            Some(min) => schema["minimum"] = json!(min),
            None => schema["pattern"] = json!(format!("^({})$", allowed.join("|"))),
        }
    }
    let unit = if setting.unit.is_empty() {
        String::new()
    } else {
        format!(" A bare number is in units of {}.", setting.unit)
    };
    schema["description"] = json!(format!(
        "PostgreSQL's `{}` ({}).{unit}",
        setting.name, setting.vartype
    ));
    schema
}

/// A word as a regular expression that matches only it.
fn escape(word: &str) -> String {
    word.chars()
        .flat_map(|ch| {
            let special = "\\.+*?()|[]{}^$".contains(ch);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(ch))
        })
        .collect()
}
