//! Stage 1: bytes → a YAML tree in which every node remembers its file, line and column.
//!
//! serde_yaml cannot report positions or duplicate keys, so the tree is built from the
//! events of `saphyr-parser` (see docs/decisions.md). Scalars resolve by the YAML 1.2 core
//! schema, as Kubernetes tooling does for the values that matter here; `yes`/`on` stay text.

use std::collections::BTreeMap;
use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

use crate::diag::{Code, Diagnostic, Location, SourceFile};

/// Larger files are refused before parsing: a profile is a few KiB.
pub const MAX_FILE_BYTES: usize = 1 << 20;
/// Nodes a document may have once aliases are expanded (defuses "billion laughs").
pub const MAX_NODES: usize = 50_000;
/// Nesting depth of sequences and mappings.
pub const MAX_DEPTH: usize = 64;

/// A YAML value with the place it was written.
#[derive(Debug, Clone)]
pub struct Node {
    pub value: Value,
    pub location: Location,
}

#[derive(Debug, Clone)]
pub enum Value {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// A mapping entry; keys are always strings in a profile.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: String,
    pub key_location: Location,
    pub value: Node,
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|entry| &entry.value)
    }

    pub fn entry(&self, key: &str) -> Option<&Entry> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|entry| entry.key == key),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(text) => Some(text),
            _ => None,
        }
    }

    /// The YAML type's name, for messages.
    pub fn type_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The plain JSON value, for schema validation and deserialisation.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => serde_json::Value::Number(n.clone()),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Seq(items) => {
                serde_json::Value::Array(items.iter().map(Node::to_json).collect())
            }
            Value::Map(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|entry| (entry.key.clone(), entry.value.to_json()))
                    .collect(),
            ),
        }
    }

    /// The node at a JSON pointer (`/spec/app/port`), and the location of the key that leads
    /// to it when the last step is a mapping key.
    pub fn pointer(&self, pointer: &str) -> Option<(&Node, Option<&Location>)> {
        let mut node = self;
        let mut key_location = None;
        for segment in pointer_segments(pointer) {
            match &node.value {
                Value::Map(entries) => {
                    let entry = entries.iter().find(|entry| entry.key == segment)?;
                    key_location = Some(&entry.key_location);
                    node = &entry.value;
                }
                Value::Seq(items) => {
                    node = items.get(segment.parse::<usize>().ok()?)?;
                    key_location = None;
                }
                _ => return None,
            }
        }
        Some((node, key_location))
    }
}

/// One key as a JSON pointer segment (RFC 6901: `~` → `~0`, `/` → `~1`).
pub fn escape_segment(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The keys and indexes of a JSON pointer (`/spec/app/port` → `spec`, `app`, `port`).
pub fn pointer_segments(pointer: &str) -> impl Iterator<Item = String> + '_ {
    pointer
        .split('/')
        .skip(1)
        .map(|raw| raw.replace("~1", "/").replace("~0", "~"))
}

/// Reads and parses one profile or layer file. Problems go into `diagnostics`; `None` means
/// the file yielded no usable document.
pub fn load_file(
    path: &std::path::Path,
    diagnostics: &mut Vec<Diagnostic>,
) -> (Arc<SourceFile>, Option<Node>) {
    match read_bounded(path) {
        Ok(bytes) => parse_bytes(path.to_path_buf(), bytes, diagnostics),
        Err(error) => {
            let file = Arc::new(SourceFile {
                path: path.to_path_buf(),
                text: String::new(),
            });
            diagnostics.push(
                Diagnostic::error(Code::Io, format!("cannot read {}: {error}", path.display()))
                    .at(Location::file_start(&file)),
            );
            (file, None)
        }
    }
}

/// A regular file's bytes, at most one byte past `MAX_FILE_BYTES` (enough for
/// `parse_bytes` to refuse it): an `extends` naming `/dev/zero` or a FIFO must neither
/// fill the memory nor wait forever.
fn read_bounded(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    // Asked before opening: opening a FIFO waits for a writer.
    if !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Parses file contents that are already in memory.
pub fn parse_bytes(
    path: std::path::PathBuf,
    bytes: Vec<u8>,
    diagnostics: &mut Vec<Diagnostic>,
) -> (Arc<SourceFile>, Option<Node>) {
    if bytes.len() > MAX_FILE_BYTES {
        let file = Arc::new(SourceFile {
            path,
            text: String::new(),
        });
        diagnostics.push(
            Diagnostic::error(
                Code::FileTooLarge,
                format!(
                    "file is larger than {MAX_FILE_BYTES} bytes, the most a profile or layer may be"
                ),
            )
            .at(Location::file_start(&file)),
        );
        return (file, None);
    }
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
            let prefix = String::from_utf8_lossy(valid);
            let line = prefix.matches('\n').count() + 1;
            let column = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            let bad = error.as_bytes()[valid.len()];
            let file = Arc::new(SourceFile {
                path,
                text: String::from_utf8_lossy(error.as_bytes()).into_owned(),
            });
            diagnostics.push(
                Diagnostic::error(Code::NotUtf8, format!("invalid UTF-8 byte 0x{bad:02x}"))
                    .at(Location::new(&file, line, column, 1))
                    .help("save the file as UTF-8"),
            );
            return (file, None);
        }
    };
    let file = Arc::new(SourceFile {
        path,
        text: lone_carriage_returns_as_newlines(text),
    });
    let node = Builder::new(&file).parse(diagnostics);
    (file, node)
}

/// YAML, like old Mac editors, ends a line at a lone `\r`; diagnostics count and show lines
/// by `\n`. Made one, so a position points at the line it names (found by fuzzing).
fn lone_carriage_returns_as_newlines(text: String) -> String {
    if !text.contains('\r') {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && chars.peek() != Some(&'\n') {
            out.push('\n');
        } else {
            out.push(c);
        }
    }
    out
}

enum Frame {
    Seq {
        items: Vec<Node>,
        location: Location,
        anchor: usize,
    },
    Map {
        entries: Vec<Entry>,
        /// Where each key is in `entries`: a duplicate is found without a scan, so a
        /// mapping of many keys loads in linear time.
        index: std::collections::BTreeMap<String, usize>,
        location: Location,
        anchor: usize,
        key: Option<(String, Location)>,
    },
}

struct Builder<'f> {
    file: &'f Arc<SourceFile>,
    stack: Vec<Frame>,
    anchors: BTreeMap<usize, (Node, usize)>,
    nodes: usize,
    root: Option<Node>,
    documents: usize,
    /// Lines of the text: the parser places an implicit value at the very end of the
    /// input on a line after the last one (found by fuzzing).
    lines: usize,
}

/// A failure that ends parsing of the file.
struct Stop(Box<Diagnostic>);

impl Stop {
    fn new(diagnostic: Diagnostic) -> Self {
        Stop(Box::new(diagnostic))
    }
}

impl<'f> Builder<'f> {
    fn new(file: &'f Arc<SourceFile>) -> Self {
        Builder {
            file,
            stack: Vec::new(),
            anchors: BTreeMap::new(),
            nodes: 0,
            root: None,
            documents: 0,
            lines: file.text.matches('\n').count() + 1,
        }
    }

    fn location(&self, span: &Span, width: usize) -> Location {
        if span.start.line() > self.lines {
            return Location::within(self.file, span.start.line(), span.start.col() + 1, width);
        }
        Location::new(self.file, span.start.line(), span.start.col() + 1, width)
    }

    fn parse(mut self, diagnostics: &mut Vec<Diagnostic>) -> Option<Node> {
        let text = self.file.text.as_str();
        for event in Parser::new_from_str(text) {
            let step = match event {
                Ok((event, span)) => self.event(event, span, diagnostics),
                Err(error) => {
                    let marker = error.marker();
                    Err(Stop::new(
                        Diagnostic::error(
                            Code::YamlSyntax,
                            format!("YAML syntax error: {}", error.info()),
                        )
                        .at(Location::within(
                            self.file,
                            marker.line(),
                            marker.col() + 1,
                            1,
                        )),
                    ))
                }
            };
            if let Err(Stop(diagnostic)) = step {
                diagnostics.push(*diagnostic);
                return None;
            }
        }
        match self.root {
            Some(Node {
                value: Value::Null, ..
            })
            | None => {
                diagnostics.push(
                    Diagnostic::error(Code::EmptyFile, "file holds no YAML document")
                        .at(Location::file_start(self.file))
                        .help("a profile starts with `apiVersion: gitopsc/v1alpha1` and `kind: CustomerProfile`"),
                );
                None
            }
            root => root,
        }
    }

    fn event(
        &mut self,
        event: Event<'_>,
        span: Span,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Result<(), Stop> {
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(Stop::new(
                        Diagnostic::error(
                            Code::MultipleDocuments,
                            "a second YAML document starts here",
                        )
                        .at(self.location(&span, 3))
                        .help("one file holds one profile; put each customer in its own file"),
                    ));
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let width = text.chars().count();
                let location = self.location(&span, width);
                let value = self.resolve(&text, style, tag.as_deref(), &location)?;
                self.complete(Node { value, location }, anchor, (1, 1), diagnostics)?;
            }
            Event::Alias(id) => self.alias(id, &span, diagnostics)?,
            Event::SequenceStart(anchor, tag) => {
                self.check_collection_tag(tag.as_deref(), &span, "seq")?;
                self.enter(&span)?;
                let location = self.location(&span, 1);
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    location,
                    anchor,
                });
            }
            Event::MappingStart(anchor, tag) => {
                self.check_collection_tag(tag.as_deref(), &span, "map")?;
                self.enter(&span)?;
                let location = self.location(&span, 1);
                self.stack.push(Frame::Map {
                    entries: Vec::new(),
                    index: std::collections::BTreeMap::new(),
                    location,
                    anchor,
                    key: None,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(diagnostics)?,
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
        Ok(())
    }

    /// An alias repeats its anchor's node, counted at its full size.
    fn alias(
        &mut self,
        id: usize,
        span: &Span,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Result<(), Stop> {
        let location = self.location(span, 1);
        let Some((node, size)) = self.anchors.get(&id) else {
            return Err(Stop::new(
                Diagnostic::error(Code::YamlSyntax, "alias to an unknown anchor").at(location),
            ));
        };
        let (node, size) = (node.clone(), *size);
        self.complete(node, 0, (size, size), diagnostics)
    }

    /// The end of a sequence or mapping: the collection becomes a node of its parent.
    fn close(&mut self, diagnostics: &mut Vec<Diagnostic>) -> Result<(), Stop> {
        let (node, anchor) = match self.stack.pop() {
            Some(Frame::Seq {
                items,
                location,
                anchor,
            }) => (
                Node {
                    value: Value::Seq(items),
                    location,
                },
                anchor,
            ),
            Some(Frame::Map {
                entries,
                location,
                anchor,
                ..
            }) => (
                Node {
                    value: Value::Map(entries),
                    location,
                },
                anchor,
            ),
            None => return Ok(()),
        };
        let size = count(&node);
        // Its children were counted as they arrived.
        self.complete(node, anchor, (1, size), diagnostics)
    }

    fn enter(&mut self, span: &Span) -> Result<(), Stop> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Stop::new(
                Diagnostic::error(
                    Code::NestingLimit,
                    format!("nesting deeper than {MAX_DEPTH} levels"),
                )
                .at(self.location(span, 1)),
            ));
        }
        Ok(())
    }

    fn check_collection_tag(
        &self,
        tag: Option<&Tag>,
        span: &Span,
        expected: &str,
    ) -> Result<(), Stop> {
        match tag {
            None => Ok(()),
            Some(tag) if tag.is_yaml_core_schema() && tag.suffix == expected => Ok(()),
            Some(tag) => Err(unsupported_tag(tag, self.location(span, 1))),
        }
    }

    /// Counts `added` nodes against the budget, then attaches `node` (`size` nodes, which
    /// an alias to it would add again).
    fn complete(
        &mut self,
        node: Node,
        anchor: usize,
        (added, size): (usize, usize),
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Result<(), Stop> {
        self.nodes += added;
        self.check_budget(&node.location)?;
        self.attach(node, anchor, size, diagnostics)
    }

    fn check_budget(&self, location: &Location) -> Result<(), Stop> {
        if self.nodes > MAX_NODES {
            return Err(Stop::new(
                Diagnostic::error(
                    Code::AliasLimit,
                    format!("document expands to more than {MAX_NODES} values"),
                )
                .at(location.clone())
                .help("anchors and aliases may not multiply the document; write the values out"),
            ));
        }
        Ok(())
    }

    fn attach(
        &mut self,
        node: Node,
        anchor: usize,
        size: usize,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Result<(), Stop> {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                index,
                key,
                ..
            }) => match key.take() {
                None => {
                    let Value::String(name) = node.value else {
                        let text = match &node.value {
                            Value::Null => Some(String::new()),
                            Value::Bool(b) => Some(b.to_string()),
                            Value::Number(n) => Some(n.to_string()),
                            _ => None,
                        };
                        let Some(text) = text else {
                            return Err(Stop::new(
                                Diagnostic::error(
                                    Code::UnsupportedYaml,
                                    "a mapping key must be a plain name",
                                )
                                .at(node.location)
                                .help("complex keys (`? [a, b]`) are not used in profiles"),
                            ));
                        };
                        *key = Some((text, node.location));
                        return Ok(());
                    };
                    *key = Some((name, node.location));
                }
                Some((name, key_location)) => {
                    if let Some(first) = index.get(&name).map(|&at| &entries[at]) {
                        diagnostics.push(
                            Diagnostic::error(
                                Code::DuplicateKey,
                                format!("duplicate key `{name}`"),
                            )
                            .at(key_location.clone())
                            .note(first.key_location.clone(), "first defined here")
                            .help("YAML keeps only one of them; remove one"),
                        );
                        return Ok(());
                    }
                    index.insert(name.clone(), entries.len());
                    entries.push(Entry {
                        key: name,
                        key_location,
                        value: node,
                    });
                }
            },
        }
        Ok(())
    }

    fn resolve(
        &self,
        text: &str,
        style: ScalarStyle,
        tag: Option<&Tag>,
        location: &Location,
    ) -> Result<Value, Stop> {
        if let Some(tag) = tag {
            if !tag.is_yaml_core_schema() {
                return Err(unsupported_tag(tag, location.clone()));
            }
            return match tag.suffix.as_str() {
                "str" => Ok(Value::String(text.to_string())),
                "null" | "bool" | "int" | "float" => {
                    let value = resolve_plain(text, location)?;
                    let matches = matches!(
                        (&value, tag.suffix.as_str()),
                        (Value::Null, "null")
                            | (Value::Bool(_), "bool")
                            | (Value::Number(_), "int" | "float")
                    );
                    if matches {
                        Ok(value)
                    } else {
                        Err(Stop::new(
                            Diagnostic::error(
                                Code::WrongType,
                                format!("`{text}` is not a valid !!{}", tag.suffix),
                            )
                            .at(location.clone()),
                        ))
                    }
                }
                _ => Err(unsupported_tag(tag, location.clone())),
            };
        }
        if style != ScalarStyle::Plain {
            return Ok(Value::String(text.to_string()));
        }
        resolve_plain(text, location)
    }
}

fn unsupported_tag(tag: &Tag, location: Location) -> Stop {
    Stop::new(
        Diagnostic::error(
            Code::UnsupportedYaml,
            format!("unsupported YAML tag `{tag}`"),
        )
        .at(location)
        .help("profiles use plain YAML values; remove the tag"),
    )
}

fn count(node: &Node) -> usize {
    match &node.value {
        Value::Seq(items) => 1 + items.iter().map(count).sum::<usize>(),
        Value::Map(entries) => {
            1 + entries
                .iter()
                .map(|entry| count(&entry.value))
                .sum::<usize>()
        }
        _ => 1,
    }
}

/// YAML 1.2 core schema resolution of a plain scalar.
fn resolve_plain(text: &str, location: &Location) -> Result<Value, Stop> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Value::Null),
        "true" | "True" | "TRUE" => return Ok(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Ok(Value::Bool(false)),
        _ => {}
    }
    let out_of_range = || {
        Stop::new(
            Diagnostic::error(
                Code::NumberRange,
                format!("number `{text}` is out of range"),
            )
            .at(location.clone())
            .help("quote it if it is text; numbers in profiles fit in 64 bits"),
        )
    };
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = text.parse::<i64>() {
            return Ok(Value::Number(n.into()));
        }
        if let Ok(n) = text.trim_start_matches('+').parse::<u64>() {
            return Ok(Value::Number(n.into()));
        }
        return Err(out_of_range());
    }
    let radix = |prefix: &str, radix: u32| {
        text.strip_prefix(prefix)
            .filter(|digits| !digits.is_empty())
            .map(|digits| i64::from_str_radix(digits, radix))
    };
    for (prefix, base) in [("0x", 16), ("0o", 8)] {
        match radix(prefix, base) {
            Some(Ok(n)) => return Ok(Value::Number(n.into())),
            Some(Err(error))
                if matches!(
                    error.kind(),
                    std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow
                ) =>
            {
                return Err(out_of_range());
            }
            _ => {}
        }
    }
    if is_float(unsigned) {
        let parsed: f64 = text.parse().map_err(|_| out_of_range())?;
        // An integral float (`3.0`, `-0.0`) is the integer it equals, as JSON Schema counts
        // it (`integer` accepts 3.0): kept a float, the typed profile would refuse what the
        // schema accepted. Below 2^53 every such float is exactly an i64.
        if parsed.fract() == 0.0 && parsed.abs() < 9_007_199_254_740_992.0 {
            return Ok(Value::Number((parsed as i64).into()));
        }
        return match serde_json::Number::from_f64(parsed) {
            Some(n) if parsed.is_finite() => Ok(Value::Number(n)),
            _ => Err(out_of_range()),
        };
    }
    match unsigned {
        ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN" => Err(Stop::new(
            Diagnostic::error(
                Code::NumberRange,
                format!("`{text}` is not a finite number"),
            )
            .at(location.clone())
            .help("quote it if it is text"),
        )),
        _ => Ok(Value::String(text.to_string())),
    }
}

/// `[0-9]*(\.[0-9]*)?([eE][-+]?[0-9]+)?` with at least one digit before the exponent.
fn is_float(text: &str) -> bool {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (mantissa, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let has_digit = !whole.is_empty() || fraction.is_some_and(|f| !f.is_empty());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    has_digit
        && digits(whole)
        && fraction.is_none_or(digits)
        && exponent_ok
        && (fraction.is_some() || exponent.is_some())
}

/// The location of the value at `pointer`, or of the nearest enclosing field that exists.
pub fn locate(root: &Node, pointer: &str) -> Location {
    let mut path = pointer;
    loop {
        if let Some((node, key)) = root.pointer(path) {
            // A scalar is shown itself; a mapping or list by the key that names it.
            let scalar = !matches!(node.value, Value::Map(_) | Value::Seq(_));
            return match key {
                Some(key) if path != pointer || !scalar => key.clone(),
                _ => node.location.clone(),
            };
        }
        match path.rfind('/') {
            Some(cut) => path = &path[..cut],
            None => return root.location.clone(),
        }
    }
}

/// `/spec/access/internal/allowedSourceRanges/1` → `spec.access.internal.allowedSourceRanges[1]`.
pub fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for segment in pointer_segments(pointer) {
        if segment.bytes().all(|b| b.is_ascii_digit()) && !segment.is_empty() {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&segment);
        }
    }
    out
}
