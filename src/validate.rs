//! Stage 3a: the merged document against the published JSON Schema, with every error mapped
//! back to the file, line and column that holds the offending value.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value as Json;

use crate::diag::{Code, Diagnostic, closest};
use crate::load::{Node, dotted};
use crate::profile::Profile;

/// The profile schema, as committed in `schema/profile.schema.json`.
pub fn schema() -> &'static Json {
    static SCHEMA: OnceLock<Json> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut schema = serde_json::to_value(schemars::schema_for!(Profile)).unwrap_or(Json::Null);
        strip_null(&mut schema);
        describe_defaults(&mut schema);
        if let Some(object) = schema.as_object_mut() {
            object.insert(
                "$id".into(),
                Json::String("https://gitopsc.dev/schema/v1alpha1/profile.schema.json".into()),
            );
        }
        schema
    })
}

/// Optional fields are written by leaving them out, not as `null`: a null would read as
/// "unset" in one file and erase a layer's value in another. Dropping the null alternative
/// also keeps schema errors at the offending field instead of an `anyOf` at its parent.
fn strip_null(schema: &mut Json) {
    match schema {
        Json::Object(object) => {
            if let Some(Json::Array(alternatives)) = object.get("anyOf") {
                let null = serde_json::json!({"type": "null"});
                if alternatives.len() == 2 && alternatives.contains(&null) {
                    let kept = alternatives
                        .iter()
                        .find(|a| **a != null)
                        .cloned()
                        .unwrap_or_default();
                    object.remove("anyOf");
                    if let Json::Object(kept) = kept {
                        for (key, value) in kept {
                            object.entry(key).or_insert(value);
                        }
                    }
                }
            }
            if let Some(Json::Array(types)) = object.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types[0].clone();
                    object.insert("type".into(), only);
                }
            }
            object.values_mut().for_each(strip_null);
        }
        Json::Array(items) => items.iter_mut().for_each(strip_null),
        _ => {}
    }
}

/// Each field's default is declared once, in `profile::defaults`, and reaches the schema as
/// `default`; the description says it too, for readers of `explain` and of editor hovers.
fn describe_defaults(schema: &mut Json) {
    match schema {
        Json::Object(object) => {
            if let Some(default) = object.get("default") {
                let shown = match default {
                    Json::String(text) => text.clone(),
                    other => other.to_string(),
                };
                let sentence = format!("Default: `{shown}`.");
                let description = match object.get("description").and_then(Json::as_str) {
                    Some(text) if !text.is_empty() => format!("{text} {sentence}"),
                    _ => sentence,
                };
                object.insert("description".into(), Json::String(description));
            }
            object.values_mut().for_each(describe_defaults);
        }
        Json::Array(items) => items.iter_mut().for_each(describe_defaults),
        _ => {}
    }
}

/// The schema as the committed file's bytes: pretty JSON and one final newline.
pub fn schema_text() -> String {
    let mut text = serde_json::to_string_pretty(schema()).unwrap_or_default();
    text.push('\n');
    text
}

fn validator() -> Option<&'static jsonschema::Validator> {
    static VALIDATOR: OnceLock<Option<jsonschema::Validator>> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| {
            let options = crate::syntax::FORMATS.iter().fold(
                jsonschema::options().should_validate_formats(true),
                |options, (format, rule)| options.with_format(*format, |text| rule(text).is_ok()),
            );
            options.build(schema()).ok()
        })
        .as_ref()
}

/// Schema problems of a merged document.
pub struct SchemaReport {
    pub diagnostics: Vec<Diagnostic>,
    /// The members that break the schema other than by their syntax (a wrong type, a
    /// missing required field, an unknown key), as JSON pointers: without them the document
    /// still deserialises into `Profile`, so the rules between the other fields can run and
    /// report in the same run (every problem at once). A value breaking its type's syntax
    /// (a `format`) deserialises as it is and is not listed.
    pub broken: Vec<String>,
}

/// The document without its `broken` members, and the dotted paths left out: each member
/// is removed from its object; one inside a list takes the list with it (removing an item
/// would shift the others' positions, which the diagnostics name). `None` when the document
/// itself is broken.
pub fn leave_out(document: &mut Json, broken: &[String]) -> Option<Vec<String>> {
    let mut removed = Vec::new();
    for pointer in broken {
        let mut segments: Vec<&str> = pointer.split('/').skip(1).collect();
        while segments
            .last()
            .is_some_and(|s| s.bytes().all(|b| b.is_ascii_digit()))
        {
            segments.pop();
        }
        let (last, parents) = segments.split_last()?;
        let parent: String = parents.iter().map(|s| format!("/{s}")).collect();
        let key = last.replace("~1", "/").replace("~0", "~");
        if let Some(Json::Object(object)) = document.pointer_mut(&parent) {
            if object.remove(&key).is_some() {
                removed.push(dotted(&format!("{parent}/{last}")));
            }
        }
    }
    Some(removed)
}

/// A diagnostic about a field that `leave_out` removed, or one inside it: a consequence of
/// the schema error already reported there (its value is missing only because it was
/// left out).
pub fn follows_from(diagnostic: &Diagnostic, left_out: &[String]) -> bool {
    diagnostic.field.as_deref().is_some_and(|field| {
        left_out.iter().any(|path| {
            field
                .strip_prefix(path.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        })
    })
}

/// Schema problems of a merged document. None means it deserialises into `Profile`.
pub fn check_schema(root: &Node, document: &Json) -> SchemaReport {
    let Some(validator) = validator() else {
        return SchemaReport {
            diagnostics: vec![Diagnostic::error(
                Code::InvalidValue,
                "internal error: the profile schema does not compile",
            )],
            broken: vec![String::new()],
        };
    };
    let mut diagnostics = Vec::new();
    let mut broken = Vec::new();
    for error in validator.iter_errors(document) {
        let pointer = error.instance_path().as_str().to_string();
        let (node, _) = root.pointer(&pointer).unwrap_or((root, None));
        if let Some(diagnostic) = format_problem(&error, node, &pointer) {
            diagnostics.push(diagnostic);
            continue;
        }
        let diagnostic = match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                broken.extend(
                    unexpected
                        .iter()
                        .map(|key| format!("{pointer}/{}", crate::load::escape_segment(key))),
                );
                diagnostics.extend(unknown_fields(root, node, &pointer, unexpected));
                continue;
            }
            ValidationErrorKind::Required { property } => {
                broken.push(pointer.clone());
                let name = property.as_str().unwrap_or_default();
                let child = format!("{pointer}/{}", crate::load::escape_segment(name));
                diagnostics.push(
                    Diagnostic::error(
                        Code::MissingField,
                        format!("required field `{}` is not set", dotted(&child)),
                    )
                    .at(node.location.clone())
                    .field(dotted(&child)),
                );
                continue;
            }
            ValidationErrorKind::Type { kind } => wrong_type(kind, node),
            ValidationErrorKind::Enum { options } => not_one_of(options, node),
            ValidationErrorKind::Minimum { limit } => Diagnostic::error(
                Code::InvalidValue,
                format!("must be at least {limit}, found {}", error.instance()),
            ),
            ValidationErrorKind::ExclusiveMinimum { limit } => Diagnostic::error(
                Code::InvalidValue,
                format!("must be greater than {limit}, found {}", error.instance()),
            ),
            ValidationErrorKind::Maximum { limit } => Diagnostic::error(
                Code::InvalidValue,
                format!("must be at most {limit}, found {}", error.instance()),
            ),
            ValidationErrorKind::OneOfNotValid { .. } if !choices_at(&pointer).is_empty() => {
                not_a_choice(&choices_at(&pointer), node)
            }
            _ => Diagnostic::error(Code::InvalidValue, error.to_string()),
        };
        broken.push(pointer.clone());
        diagnostics.push(diagnostic.at(node.location.clone()).field(dotted(&pointer)));
    }
    SchemaReport {
        diagnostics,
        broken,
    }
}

/// A value that breaks its syntax type's rule: the type's own diagnostic. Such errors do
/// not stop the profile, so the rules between fields still run and report.
fn format_problem(
    error: &jsonschema::ValidationError<'_>,
    node: &Node,
    pointer: &str,
) -> Option<Diagnostic> {
    let ValidationErrorKind::Format { format } = error.kind() else {
        return None;
    };
    let problem = crate::syntax::problem(format, error.instance().as_str()?)?;
    let mut diagnostic = Diagnostic::error(problem.code, problem.message)
        .at(node.location.clone())
        .field(dotted(pointer));
    if !problem.help.is_empty() {
        diagnostic = diagnostic.help(problem.help);
    }
    Some(diagnostic)
}

/// Each unknown field at its key, with the nearest known name or the fields allowed there.
fn unknown_fields(
    root: &Node,
    node: &Node,
    pointer: &str,
    unexpected: &[String],
) -> Vec<Diagnostic> {
    let known = properties_at(pointer);
    unexpected
        .iter()
        .map(|name| {
            let child = format!("{pointer}/{}", crate::load::escape_segment(name));
            let location = root
                .pointer(&child)
                .and_then(|(_, key)| key.cloned())
                .unwrap_or_else(|| node.location.clone());
            let diagnostic =
                Diagnostic::error(Code::UnknownField, format!("unknown field `{name}`"))
                    .at(location)
                    .field(dotted(&child));
            let parameter = pointer == "/spec/database"
                && crate::pgsettings::table().iter().any(|s| s.name == *name);
            match closest(name, &known) {
                _ if parameter => diagnostic.help(format!(
                    "`{name}` is a PostgreSQL parameter: set it under `database.parameters`"
                )),
                Some(best) => diagnostic.help(format!("did you mean `{best}`?")),
                None if !known.is_empty() => {
                    diagnostic.help(format!("fields here: {}", known.join(", ")))
                }
                None => diagnostic,
            }
        })
        .collect()
}

/// A value of the wrong type, with a hint for YAML 1.1 booleans and quoted numbers.
fn wrong_type(kind: &TypeKind, node: &Node) -> Diagnostic {
    let expected = match kind {
        TypeKind::Single(t) => type_name(&t.to_string()),
        TypeKind::Multiple(ts) => {
            let names: Vec<String> = ts.into_iter().map(|t| type_name(&t.to_string())).collect();
            names.join(" or ")
        }
    };
    let diagnostic = Diagnostic::error(
        Code::WrongType,
        format!("expected {expected}, found {}", node.type_name()),
    );
    if expected.contains("boolean")
        && matches!(
            node.as_str(),
            Some("yes" | "no" | "on" | "off" | "y" | "n" | "Yes" | "No" | "On" | "Off")
        )
    {
        return diagnostic.help("YAML 1.2 reads only `true` and `false` as booleans");
    }
    let numeric = expected.contains("number") || expected.contains("integer");
    match node.as_str() {
        Some(text) if numeric && text.trim().parse::<f64>().is_ok() => {
            diagnostic.help(format!("write the number without quotes, not `\"{text}\"`"))
        }
        Some(_) if numeric => diagnostic.help("write the number in digits"),
        _ => diagnostic,
    }
}

/// A value outside an enum's values, with the nearest one.
fn not_one_of(options: &Json, node: &Node) -> Diagnostic {
    let choices: Vec<String> = options
        .as_array()
        .map(|values| {
            values
                .iter()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    not_a_choice(&choices, node)
}

/// A value that is none of `choices`, with the nearest one.
fn not_a_choice(choices: &[String], node: &Node) -> Diagnostic {
    let found = node
        .as_str()
        .map_or_else(|| node.type_name().to_string(), |s| format!("`{s}`"));
    let listed: Vec<String> = choices.iter().map(|c| format!("`{c}`")).collect();
    let diagnostic = Diagnostic::error(
        Code::InvalidValue,
        format!("{found} is not one of {}", listed.join(", ")),
    );
    match node.as_str().and_then(|text| closest(text, choices)) {
        Some(best) => diagnostic.help(format!("did you mean `{best}`?")),
        None => diagnostic,
    }
}

fn type_name(json_type: &str) -> String {
    match json_type {
        "object" => "a mapping".into(),
        "array" => "a list".into(),
        "string" => "a string".into(),
        "integer" => "an integer".into(),
        "number" => "a number".into(),
        "boolean" => "a boolean (true or false)".into(),
        "null" => "null".into(),
        other => other.into(),
    }
}

/// The allowed values of the enum at `pointer` (schemars writes documented enums as a
/// `oneOf` of `const`s).
fn choices_at(pointer: &str) -> Vec<String> {
    let Some(here) = schema_at(pointer) else {
        return Vec::new();
    };
    let root = schema();
    let alternatives = here
        .get("oneOf")
        .or_else(|| here.get("enum"))
        .and_then(Json::as_array);
    alternatives
        .into_iter()
        .flatten()
        .filter_map(|alternative| {
            let alternative = resolve_ref(root, alternative);
            alternative
                .get("const")
                .or(Some(alternative))
                .and_then(Json::as_str)
                .map(str::to_string)
        })
        .collect()
}

/// Whether the profile schema has a field at `pointer` (for the test that every pointer the
/// checks and the model report at is one the schema defines).
pub fn defines(pointer: &str) -> bool {
    schema_at(pointer).is_some()
}

/// The schema's `default` of the field at `pointer`: the value the model applies when no
/// file sets it.
pub fn default_at(pointer: &str) -> Option<&'static Json> {
    let (parent, name) = pointer.rsplit_once('/')?;
    schema_at(parent)?
        .get("properties")?
        .get(crate::load::pointer_segments(&format!("/{name}")).next()?)?
        .get("default")
}

/// The schema that describes the instance at `pointer`.
fn schema_at(pointer: &str) -> Option<&'static Json> {
    let root = schema();
    let mut here = resolve_ref(root, root);
    for segment in crate::load::pointer_segments(pointer) {
        let next = here
            .get("properties")
            .and_then(|p| p.get(&segment))
            .or_else(|| here.get("items"))
            .or_else(|| here.get("additionalProperties").filter(|a| a.is_object()))?;
        here = resolve_ref(root, next);
    }
    Some(here)
}

/// Field names the schema allows in the object at `pointer`.
pub fn properties_at(pointer: &str) -> Vec<String> {
    schema_at(pointer)
        .and_then(|here| here.get("properties"))
        .and_then(Json::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// Follows `$ref`s.
fn resolve_ref<'a>(root: &'a Json, mut node: &'a Json) -> &'a Json {
    for _ in 0..16 {
        if let Some(reference) = node.get("$ref").and_then(Json::as_str) {
            let Some(target) = reference.strip_prefix('#').and_then(|p| root.pointer(p)) else {
                return node;
            };
            node = target;
        } else {
            return node;
        }
    }
    node
}

/// The schema description of the field at `pointer`, or `None` if the schema has no such field.
pub fn describe(pointer: &str) -> Option<String> {
    let root = schema();
    let mut here = resolve_ref(root, root);
    let mut description = String::new();
    for segment in crate::load::pointer_segments(pointer) {
        let next = here
            .get("properties")
            .and_then(|p| p.get(&segment))
            .or_else(|| {
                here.get("items")
                    .filter(|_| segment.parse::<usize>().is_ok())
            })
            .or_else(|| here.get("additionalProperties").filter(|a| a.is_object()))?;
        description = next
            .get("description")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string();
        here = resolve_ref(root, next);
        if description.is_empty() {
            description = here
                .get("description")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string();
        }
    }
    Some(description)
}

#[cfg(test)]
mod formats {
    use crate::syntax::*;

    fn formats_in(schema: &serde_json::Value, found: &mut Vec<String>) {
        match schema {
            serde_json::Value::Object(object) => {
                if let Some(format) = object.get("format").and_then(|f| f.as_str()) {
                    found.push(format.to_string());
                }
                object.values().for_each(|v| formats_in(v, found));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| formats_in(v, found)),
            _ => {}
        }
    }

    /// A string format in the schema with no rule here would be checked by nobody; a rule
    /// no field uses is dead.
    #[test]
    fn every_schema_format_has_a_rule_and_every_rule_a_field() {
        let mut found = Vec::new();
        formats_in(super::schema(), &mut found);
        found.retain(|f| !f.starts_with("int") && !f.starts_with("uint"));
        found.sort();
        found.dedup();
        let mut registered: Vec<String> = FORMATS.iter().map(|(f, _)| f.to_string()).collect();
        registered.sort();
        assert_eq!(found, registered);
    }

    #[test]
    fn rules_accept_and_refuse() {
        let cases: [(&str, &str, &str); 17] = [
            (
                Image::FORMAT,
                "ghcr.io/acme/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "ghcr.io/acme/app@sha256:xyz",
            ),
            (DnsLabel::FORMAT, "acme-1", "Acme"),
            (SourceRange::FORMAT, "10.0.0.0/8", "0.0.0.0/0"),
            (ControlPlaneRange::FORMAT, "172.16.0.0/28", "10.128.0.2/32"),
            (ControlPlaneRange::FORMAT, "10.128.16.0/24", "172.16.0.0/29"),
            (GceName::FORMAT, "massive-pods", "1-pods"),
            (GceName::FORMAT, "a", "pods_range"),
            (ClusterName::FORMAT, "acme-gke", &"a".repeat(41)),
            (Cron::FORMAT, "0 */6 * * *", "0 */6 * *"),
            (Bytes::FORMAT, "512Mi", "512m"),
            (Quantity::FORMAT, "250m", "0"),
            (ObjectName::FORMAT, "db.tls", "db_tls"),
            (BucketName::FORMAT, "acme-prod-archive", "Acme-archive"),
            (BucketName::FORMAT, "a_b-1", "google-archive"),
            (
                Timestamp::FORMAT,
                "2024-02-29T23:59:59Z",
                "2023-02-29T12:00:00Z",
            ),
            (
                Timestamp::FORMAT,
                "2026-12-04T20:00:00Z",
                "2026-12-04 20:00:00",
            ),
            (
                Timestamp::FORMAT,
                "2026-01-31T00:00:00Z",
                "2026-04-31T00:00:00Z",
            ),
        ];
        for (format, good, bad) in cases {
            assert_eq!(problem(format, good), None, "{format}: {good}");
            assert!(problem(format, bad).is_some(), "{format}: {bad}");
        }
    }
}
