//! Diagnostics: what went wrong, where (`file:line:col` and the field path), and what to do.
//!
//! Every stage reports into a `Vec<Diagnostic>` instead of stopping at the first problem, so
//! one run shows every problem of every profile.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A loaded source file, kept for excerpts.
#[derive(Debug)]
pub struct SourceFile {
    /// The path as the user gave it (relative paths stay relative), for messages.
    pub path: PathBuf,
    /// The file's text; empty when it could not be decoded.
    pub text: String,
}

/// A position in a source file. Lines and columns count from 1; columns count characters.
#[derive(Debug, Clone)]
pub struct Location {
    pub file: Arc<SourceFile>,
    pub line: usize,
    pub column: usize,
    /// Characters to underline from `column` (at least 1).
    pub width: usize,
}

impl Location {
    pub fn new(file: &Arc<SourceFile>, line: usize, column: usize, width: usize) -> Self {
        Location {
            file: Arc::clone(file),
            line,
            column,
            width: width.max(1),
        }
    }

    /// The start of a file, for problems with the file as a whole.
    /// A position another tool reported (the YAML parser's error mark), kept inside the
    /// text: at the end of input the parser can point at a line after the last one.
    pub fn within(file: &Arc<SourceFile>, line: usize, column: usize, width: usize) -> Self {
        let lines: Vec<&str> = file.text.split('\n').collect();
        let end_of = |line: usize| lines[line - 1].trim_end_matches('\r').chars().count() + 1;
        if line > lines.len() {
            // Past the last line: the end of the input.
            return Location::new(file, lines.len(), end_of(lines.len()), width);
        }
        let line = line.max(1);
        Location::new(file, line, column.clamp(1, end_of(line)), width)
    }

    pub fn file_start(file: &Arc<SourceFile>) -> Self {
        Location::new(file, 1, 1, 1)
    }

    fn sort_key(&self) -> (&Path, usize, usize) {
        (&self.file.path, self.line, self.column)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One problem found in the input.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable code, documented in `docs/diagnostics.md`.
    pub code: Code,
    pub message: String,
    /// Where; `None` only for problems without a file (e.g. an unreadable directory).
    pub location: Option<Location>,
    /// The field path in the profile, e.g. `spec.app.autoscaling.minReplicas`.
    pub field: Option<String>,
    /// What to do about it.
    pub help: Option<String>,
    /// Further places that explain the problem (the first definition of a duplicate key).
    pub notes: Vec<(Location, String)>,
}

impl Diagnostic {
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            location: None,
            field: None,
            help: None,
            notes: Vec::new(),
        }
    }

    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        let field = field.into();
        self.field = (!field.is_empty()).then_some(field);
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn note(mut self, location: Location, note: impl Into<String>) -> Self {
        self.notes.push((location, note.into()));
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:col: error[CODE]: message`, the field path, an excerpt, the help.
    pub fn render(&self, color: bool) -> String {
        let paint = |code: &str, text: &str| {
            if color {
                format!("\x1b[{code}m{text}\x1b[0m")
            } else {
                text.to_string()
            }
        };
        let severity_color = match self.severity {
            Severity::Error => "1;31",
            Severity::Warning => "1;33",
        };
        let mut out = String::new();
        if let Some(location) = &self.location {
            let _ = write!(
                out,
                "{}:{}:{}: ",
                location.file.path.display(),
                location.line,
                location.column
            );
        }
        let _ = writeln!(
            out,
            "{}: {}",
            paint(
                severity_color,
                &format!("{}[{}]", self.severity.as_str(), self.code.as_str())
            ),
            paint("1", &self.message)
        );
        if let Some(field) = &self.field {
            let _ = writeln!(out, "  field: {field}");
        }
        if let Some(location) = &self.location {
            excerpt(&mut out, location, &paint, severity_color);
        }
        for (location, note) in &self.notes {
            let _ = writeln!(
                out,
                "  note: {}:{}:{}: {note}",
                location.file.path.display(),
                location.line,
                location.column
            );
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "  {} {help}", paint("1;36", "help:"));
        }
        out
    }

    /// One JSON object, for `--message-format json`.
    pub fn to_json(&self) -> serde_json::Value {
        let location = self.location.as_ref();
        serde_json::json!({
            "severity": self.severity.as_str(),
            "code": self.code.as_str(),
            "message": self.message,
            "file": location.map(|l| l.file.path.display().to_string()),
            "line": location.map(|l| l.line),
            "column": location.map(|l| l.column),
            "field": self.field,
            "help": self.help,
            "notes": self.notes.iter().map(|(l, note)| serde_json::json!({
                "file": l.file.path.display().to_string(),
                "line": l.line,
                "column": l.column,
                "message": note,
            })).collect::<Vec<_>>(),
        })
    }
}

fn excerpt(
    out: &mut String,
    location: &Location,
    paint: &dyn Fn(&str, &str) -> String,
    color: &str,
) {
    let Some(line) = location
        .file
        .text
        .lines()
        .nth(location.line.saturating_sub(1))
    else {
        return;
    };
    let number = location.line.to_string();
    let gutter = " ".repeat(number.len());
    let available = line
        .chars()
        .count()
        .saturating_sub(location.column - 1)
        .max(1);
    let marker = "^".repeat(location.width.min(available));
    let _ = writeln!(out, "  {gutter} |");
    let _ = writeln!(out, "  {number} | {line}");
    let _ = writeln!(
        out,
        "  {gutter} | {}{}",
        " ".repeat(location.column - 1),
        paint(color, &marker)
    );
}

/// Sort diagnostics by place and drop repeats: a problem in a shared layer is found once per
/// profile that extends it, but reported once.
pub fn normalize(diagnostics: &mut Vec<Diagnostic>) {
    fn key(d: &Diagnostic) -> (Option<(&Path, usize, usize)>, Severity, Code, &str) {
        (
            d.location.as_ref().map(Location::sort_key),
            d.severity,
            d.code,
            &d.message,
        )
    }
    diagnostics.sort_by(|a, b| key(a).cmp(&key(b)));
    diagnostics.dedup_by(|a, b| {
        a.code == b.code
            && a.message == b.message
            && a.location.as_ref().map(Location::sort_key)
                == b.location.as_ref().map(Location::sort_key)
    });
}

/// "1 error", "3 errors": `n` and `word`, in the plural unless `n` is 1.
pub fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Diagnostics that say the same thing (severity, code, message, field) in different
/// places, in the order of their first occurrence; `diagnostics` come sorted by place.
pub fn group<'a>(diagnostics: impl Iterator<Item = &'a Diagnostic>) -> Vec<Vec<&'a Diagnostic>> {
    type Key<'a> = (Severity, Code, &'a str, Option<&'a str>);
    let mut index: std::collections::BTreeMap<Key<'a>, usize> = std::collections::BTreeMap::new();
    let mut groups: Vec<Vec<&Diagnostic>> = Vec::new();
    for diagnostic in diagnostics {
        let key = (
            diagnostic.severity,
            diagnostic.code,
            diagnostic.message.as_str(),
            diagnostic.field.as_deref(),
        );
        match index.get(&key) {
            Some(&at) => groups[at].push(diagnostic),
            None => {
                index.insert(key, groups.len());
                groups.push(vec![diagnostic]);
            }
        }
    }
    groups
}

/// How many diagnostics of each code and severity ("error"/"warning"), in code order.
pub fn count_by_code(groups: &[Vec<&Diagnostic>]) -> Vec<(Code, &'static str, usize)> {
    let mut counts: std::collections::BTreeMap<(Code, Severity), usize> =
        std::collections::BTreeMap::new();
    for group in groups {
        *counts
            .entry((group[0].code, group[0].severity))
            .or_default() += group.len();
    }
    counts
        .into_iter()
        .map(|((code, severity), count)| (code, severity.as_str(), count))
        .collect()
}

macro_rules! codes {
    ($($name:ident = $code:literal: $summary:literal,)*) => {
        /// Every diagnostic code, with a one-line summary (listed in `docs/diagnostics.md`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        pub enum Code { $($name,)* }

        impl Code {
            pub const ALL: &[Code] = &[$(Code::$name,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(Code::$name => $code,)* }
            }

            pub fn summary(self) -> &'static str {
                match self { $(Code::$name => $summary,)* }
            }
        }
    };
}

codes! {
    Io = "E0001": "a file or folder cannot be read",
    NotUtf8 = "E0002": "a file is not UTF-8 text",
    YamlSyntax = "E0003": "YAML syntax error",
    EmptyFile = "E0004": "a profile or layer file holds no document",
    MultipleDocuments = "E0005": "a file holds more than one YAML document",
    DuplicateKey = "E0006": "a mapping has the same key twice",
    AliasLimit = "E0007": "anchors and aliases expand beyond the size limit (alias bomb)",
    NestingLimit = "E0008": "the document is nested too deeply",
    NumberRange = "E0009": "a number cannot be represented exactly",
    UnsupportedYaml = "E0010": "a YAML feature profiles do not use (complex keys, custom tags)",
    FileTooLarge = "E0011": "a file is larger than a profile can be",
    TooManyProfiles = "E0012": "more profiles than one run compiles",
    UnknownField = "E0100": "a field that the schema does not define",
    WrongType = "E0101": "a value of the wrong type",
    InvalidValue = "E0102": "a value outside the allowed set or range",
    MissingField = "E0103": "a required field is not set by the profile or its layers",
    ApiVersion = "E0104": "unsupported apiVersion or kind",
    ExtendsCycle = "E0200": "layers extend each other in a cycle",
    LayerMissing = "E0201": "a layer named in `extends` does not exist",
    LayerMetadata = "E0202": "a layer sets `metadata`, which only a profile may set",
    ExtendsInvalid = "E0203": "`extends` is not a list of layer file names",
    InvalidName = "E0300": "a name breaks Kubernetes naming rules",
    DuplicateCustomer = "E0301": "two profiles use the same customer name",
    ReplicaBounds = "E0302": "minReplicas is greater than maxReplicas",
    InvalidCidr = "E0303": "a CIDR range is malformed",
    OpenCidr = "E0304": "a range opens access to every address",
    InvalidHostname = "E0305": "a host name is not a valid DNS name",
    UnpinnedImage = "E0306": "an image is not pinned by digest",
    InvalidImage = "E0307": "an image reference is malformed",
    PgpoolBudget = "E0308": "Pgpool can open more connections than PostgreSQL accepts",
    UnknownParameter = "E0309": "a PostgreSQL parameter name is unknown",
    InvalidParameter = "E0310": "a PostgreSQL parameter value or unit is invalid",
    InvalidCron = "E0311": "a cron expression is invalid",
    InvalidQuantity = "E0312": "a Kubernetes quantity is malformed",
    SecretInProfile = "E0313": "a value looks like a credential",
    InvalidRollout = "E0314": "rollout or shutdown settings cannot work",
    InvalidCredentials = "E0315": "credentials must name exactly one source",
    InvalidLabel = "E0316": "a label key or value breaks Kubernetes label syntax",
    InvalidField = "E0317": "a value breaks a rule of its field",
    EmptyAllowList = "E0318": "an entry point is enabled with no allowed source range",
    DuplicateProject = "E0319": "two customers name the same Argo CD project",
    UnknownNodePool = "E0320": "the database names a node pool the infrastructure does not list",
    ManagedParameter = "E0321": "a PostgreSQL parameter that gitopsc and Patroni set",
    PatroniIgnoresValue = "E0322": "a parameter value Patroni would replace with its default",
    AmbiguousDestination = "E0323": "an Argo CD destination names both a cluster and a server",
    SharedClusterObject = "E0324": "two customers in one cluster would own the same cluster-scoped object",
    RecoveryPoint = "E0325": "the backups cannot give the recovery point the profile states",
    MemoryBudget = "E0326": "PostgreSQL's memory at full use does not fit the member's memory limit",
    AppConnections = "E0327": "the app can hold more database connections than Pgpool serves",
    DestroysData = "E0328": "the change would delete or replace data of an existing customer",
    ZoneSpread = "E0329": "the database's members cannot spread over the zones with the nodes the pool has",
    UnresolvedReference = "E0400": "a compiled object references something neither compiled nor a prerequisite",
    FewSyncReplicas = "W0101": "synchronous mode with fewer than 3 members",
    OverlappingRanges = "W0102": "an allow-list repeats a range or holds one inside another",
    DefaultSslPolicy = "W0103": "the external entry uses GCP's default SSL policy, which accepts TLS 1.0",
    RestoreInProgress = "W0104": "the database is being restored from a snapshot and runs one member",
    AuditControl = "W0105": "the compiled output would fail a control of `gitopsc audit`",
    SharedZone = "W0106": "two database members share a zone, so one zone's loss can take the primary and its synchronous standby",
    SnapshotAlertTooSoon = "W0107": "the snapshot schedule leaves as long between snapshots as SnapshotTooOld's limit, so the alert can fire with nothing wrong",
}

/// The candidate nearest to `name` by edit distance, if it is near enough to be a typo.
pub fn closest(name: &str, candidates: &[String]) -> Option<String> {
    let lowered = name.to_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&lowered, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= (c.chars().count() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            current.push(
                (previous[j] + cost)
                    .min(previous[j + 1] + 1)
                    .min(current[j] + 1),
            );
        }
        previous = current;
    }
    previous[b.len()]
}
