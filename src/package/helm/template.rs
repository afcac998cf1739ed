//! The chart's templates, found rather than written: the customer is compiled a second time
//! with a stand-in for every value (`Tunables::probe`), and wherever the compiled text of an
//! object differs, the stand-ins mark the places the values go. So a value reaches exactly
//! the places the emitters put it, in the emitters' own format, and a new use of a value in
//! an emitter reaches the chart without a change here. A `checksum/config` that digests a
//! ConfigMap holding a value becomes the digest of that ConfigMap's template.

use std::collections::BTreeMap;

use super::values::{COUNT_HOLE, DCS_HOLE, LOCAL_HOLE, PARAMETERS, Slot, TEXT_HOLE, Tunables};
use crate::model::Customer;
use crate::package::Folder;
use crate::serialize::{digest, to_yaml};

/// Named templates the others use. `gitopsc.quantity` is a Kubernetes quantity's value
/// (`syntax::quantity_value`); `gitopsc.yaml-scalar` is the serializer's rule for text
/// (`serialize.rs`: quoted only where a YAML 1.1 or 1.2 reader could take it for something
/// else); `gitopsc.parameter` the profile's reading of a parameter (`syntax::ScalarText`:
/// booleans as on/off, whole numbers without a fraction).
pub const HELPERS: &str = r#"{{- define "gitopsc.parameter" -}}
{{- if kindIs "bool" . -}}{{ ternary "on" "off" . }}
{{- else if and (kindIs "float64" .) (eq . (floor .)) -}}{{ printf "%.0f" . }}
{{- else -}}{{ toString . }}
{{- end -}}
{{- end -}}

{{- define "gitopsc.numeric" -}}
{{- $body := regexReplaceAll "^[-+]" . "" -}}
{{- if regexMatch "^(?i)\\.(inf|nan)$" $body -}}true
{{- else if regexMatch "^0[xXoObB]." $body -}}
{{- if or (regexMatch "^0[xX][0-9a-fA-F_]+$" $body) (regexMatch "^0[oObB][0-9_]+$" $body) -}}true{{- end -}}
{{- else if and (regexMatch "^[0-9._:]*[0-9][0-9._:]*([eE][-+]?[0-9]+)?$" $body) (not (regexMatch "\\..*\\." $body)) -}}true
{{- end -}}
{{- end -}}

{{- define "gitopsc.plain" -}}
{{- $text := . -}}
{{- if and (ne $text "")
  (not (regexMatch "^[-?:,\\[\\]{}#&*!|>'\"%@`~ \\t]" $text))
  (not (regexMatch "[ :\\t]$" $text))
  (not (contains ": " $text))
  (not (contains " #" $text))
  (not (regexMatch "[\\x{0}-\\x{1f}\\x{7f}-\\x{9f}\\x{feff}]" $text))
  (not (has $text (list "null" "Null" "NULL" "true" "True" "TRUE" "false" "False" "FALSE" "yes" "Yes" "YES" "no" "No" "NO" "on" "On" "ON" "off" "Off" "OFF" "y" "Y" "n" "N" "=" "<<")))
  (not (include "gitopsc.numeric" $text))
  (not (and (ge (len $text) 8) (regexMatch "^[0-9]{4}-" $text))) -}}true
{{- end -}}
{{- end -}}

{{- define "gitopsc.quantity" -}}
{{- $text := toString . -}}
{{- $number := regexFind "^[0-9.+-]*" $text -}}
{{- $suffix := trimPrefix $number $text -}}
{{- $scale := dict "" 1.0 "m" 0.001 "k" 1000.0 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "E" 1e18 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 "Ei" 1152921504606846976.0 -}}
{{- if hasKey $scale $suffix -}}{{ mulf (float64 $number) (get $scale $suffix) }}{{- else -}}{{ float64 $text }}{{- end -}}
{{- end -}}

{{- define "gitopsc.yaml-scalar" -}}
{{- if include "gitopsc.plain" . -}}{{ . }}{{- else -}}{{ quote . }}{{- end -}}
{{- end -}}
"#;

/// One part of a template's text.
enum Piece {
    Text(String),
    /// A tunable scalar: a count, a text as a YAML scalar, or a text inside other text.
    Count(&'static str),
    Scalar(&'static str),
    Raw(&'static str),
    /// A block of PostgreSQL parameters: the compiler's own lines (name → YAML value text),
    /// which the customer's parameters of the block's kind (DCS-only or local) join.
    Parameters {
        indent: String,
        fixed: BTreeMap<String, String>,
        /// The DCS-only parameters the compiler removes (`null`), after the others.
        nulls: Vec<String>,
        dcs: bool,
    },
    /// A `checksum/config` over ConfigMap files (one, or the concatenation of several
    /// digests): each file's path, and its digest when no value reaches it.
    Checksum(Vec<(String, Option<String>)>),
}

/// The template of each object file that a value reaches, by path.
pub fn templates(
    customer: &Customer,
    folder: &Folder,
    tunables: &Tunables,
) -> BTreeMap<String, String> {
    let probe: BTreeMap<String, String> = crate::emit::emit(&tunables.probe(customer))
        .iter()
        .map(|object| (object.path(), to_yaml(&object.value)))
        .collect();
    let templated = |path: &str| folder.files.get(path) != probe.get(path);
    // Every digest a pod template may carry of the probe's ConfigMaps: one ConfigMap's, or
    // two digests concatenated (the database's pods mount two).
    let config_maps: Vec<(&String, String)> = probe
        .iter()
        .filter(|(path, _)| path.contains("/configmap-"))
        .map(|(path, text)| (path, digest(text.as_bytes())))
        .collect();
    let part = |path: &str| {
        let fixed = folder.files.get(path).filter(|_| !templated(path));
        (path.to_string(), fixed.map(|text| digest(text.as_bytes())))
    };
    let mut checksums: BTreeMap<String, Vec<(String, Option<String>)>> = BTreeMap::new();
    for (a, digest_a) in &config_maps {
        checksums.insert(digest_a.clone(), vec![part(a)]);
        for (b, digest_b) in &config_maps {
            if a != b {
                checksums.insert(
                    digest(format!("{digest_a}{digest_b}").as_bytes()),
                    vec![part(a), part(b)],
                );
            }
        }
    }
    let names: Vec<&'static str> = tunables.scalars.iter().map(|(t, _)| t.path).collect();
    let counts: Vec<bool> = tunables
        .scalars
        .iter()
        .map(|(t, _)| matches!(t.slot, Slot::Count(_)))
        .collect();
    probe
        .iter()
        .filter(|(path, _)| templated(path))
        .map(|(path, text)| {
            let pieces = pieces(text, &names, &counts, &checksums);
            (path.clone(), go_template(&pieces))
        })
        .collect()
}

/// The probe's text cut at its stand-ins.
fn pieces(
    text: &str,
    names: &[&'static str],
    counts: &[bool],
    checksums: &BTreeMap<String, Vec<(String, Option<String>)>>,
) -> Vec<Piece> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let marker = |line: &str| {
        let trimmed = line.trim();
        if trimmed == format!("{}: {}", DCS_HOLE.0, DCS_HOLE.1) {
            Some(true)
        } else if trimmed == format!("{}: {}", LOCAL_HOLE.0, LOCAL_HOLE.1) {
            Some(false)
        } else {
            None
        }
    };
    let indent_of = |line: &str| line.len() - line.trim_start_matches(' ').len();
    let mut pieces = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(at) = (i..lines.len()).find(|&at| marker(lines[at]).is_some()) else {
            for line in &lines[i..] {
                line_pieces(line, names, counts, checksums, &mut pieces);
            }
            break;
        };
        let dcs = marker(lines[at]) == Some(true);
        let indent = indent_of(lines[at]);
        let same = |line: &&&str| !line.trim().is_empty() && indent_of(line) == indent;
        let start = at - lines[i..at].iter().rev().take_while(same).count();
        let end = at + lines[at..].iter().take_while(same).count();
        for line in &lines[i..start] {
            line_pieces(line, names, counts, checksums, &mut pieces);
        }
        let entries: Vec<(String, String)> = lines[start..end]
            .iter()
            .filter(|line| marker(line).is_none())
            .filter_map(|line| {
                let (name, value) = line.trim().split_once(": ")?;
                Some((name.to_string(), value.to_string()))
            })
            .collect();
        let (nulls, fixed): (Vec<_>, Vec<_>) =
            entries.into_iter().partition(|(_, value)| value == "null");
        pieces.push(Piece::Parameters {
            indent: " ".repeat(indent),
            fixed: fixed.into_iter().collect(),
            nulls: nulls.into_iter().map(|(name, _)| name).collect(),
            dcs,
        });
        i = end;
    }
    pieces
}

/// One line's text and stand-ins.
fn line_pieces(
    line: &str,
    names: &[&'static str],
    counts: &[bool],
    checksums: &BTreeMap<String, Vec<(String, Option<String>)>>,
    pieces: &mut Vec<Piece>,
) {
    let mut text = String::new();
    let mut rest = line;
    let mut previous: Option<char> = None;
    let boundary = |ch: Option<char>| !ch.is_some_and(|c| c.is_ascii_alphanumeric());
    while let Some(ch) = rest.chars().next() {
        // A text stand-in: `gitopsc-hole-<i>`.
        if let Some(after) = rest.strip_prefix(TEXT_HOLE) {
            let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if let Some(&name) = after[..digits]
                .parse::<usize>()
                .ok()
                .and_then(|i| names.get(i))
            {
                let tail = &after[digits..];
                let whole_value = (text.ends_with(": ") || text.ends_with("- "))
                    && (tail == "\n" || tail.is_empty());
                pieces.push(Piece::Text(std::mem::take(&mut text)));
                pieces.push(if whole_value {
                    Piece::Scalar(name)
                } else {
                    Piece::Raw(name)
                });
                rest = tail;
                previous = Some('0');
                continue;
            }
        }
        // A ConfigMap digest of the probe: `sha256:<hex>`.
        if let Some(found) = rest
            .get(..71)
            .and_then(|candidate| checksums.get(candidate))
        {
            pieces.push(Piece::Text(std::mem::take(&mut text)));
            pieces.push(Piece::Checksum(found.clone()));
            rest = &rest[71..];
            previous = Some('0');
            continue;
        }
        // A count stand-in: `COUNT_HOLE + i` as a whole number.
        if ch.is_ascii_digit() && boundary(previous) {
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let number = rest[..digits].parse::<u32>().ok();
            let index = number
                .and_then(|n| n.checked_sub(COUNT_HOLE))
                .map(|i| i as usize)
                .filter(|i| counts.get(*i) == Some(&true));
            if let (Some(i), true) = (index, boundary(rest[digits..].chars().next())) {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
                pieces.push(Piece::Count(names[i]));
                rest = &rest[digits..];
                previous = Some('0');
                continue;
            }
        }
        text.push(ch);
        previous = Some(ch);
        rest = &rest[ch.len_utf8()..];
    }
    pieces.push(Piece::Text(text));
}

/// The Go template of the pieces.
fn go_template(pieces: &[Piece]) -> String {
    let mut out = String::from(
        "{{- /* Written by gitopsc: a compiled object with the chart's values in their places. */ -}}\n",
    );
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push_str(&escape(text)),
            Piece::Count(path) => out.push_str(&format!("{{{{ int64 .Values.{path} }}}}")),
            Piece::Scalar(path) => out.push_str(&format!(
                "{{{{ include \"gitopsc.yaml-scalar\" (toString .Values.{path}) }}}}"
            )),
            Piece::Raw(path) => out.push_str(&format!("{{{{ toString .Values.{path} }}}}")),
            Piece::Parameters {
                indent,
                fixed,
                nulls,
                dcs,
            } => {
                out.push_str(&parameters(indent, fixed, nulls, *dcs));
            }
            Piece::Checksum(parts) => out.push_str(&checksum(parts)),
        }
    }
    out
}

/// Template text that renders as `text`: every `{{` Helm would read as an action is
/// written as an action that prints it, and a trailing `{` cannot join a following one.
fn escape(text: &str) -> String {
    let escaped = text.replace("{{", "{{ \"{{\" }}");
    match escaped.strip_suffix('{') {
        Some(head) => format!("{head}{{{{ \"{{\" }}}}"),
        None => escaped,
    }
}

/// A Go string literal.
pub(super) fn literal(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// A parameter block: the compiler's lines and the customer's parameters of its kind, by
/// name; then the DCS-only parameters the compiler removes (`null`) that neither sets.
fn parameters(
    indent: &str,
    fixed: &BTreeMap<String, String>,
    nulls: &[String],
    dcs: bool,
) -> String {
    let words =
        |names: &mut dyn Iterator<Item = &str>| names.map(literal).collect::<Vec<_>>().join(" ");
    let pairs: Vec<String> = fixed
        .iter()
        .map(|(name, value)| format!("{} {}", literal(name), literal(value)))
        .collect();
    let removed = if nulls.is_empty() {
        String::new()
    } else {
        format!(
            "{{{{- range $name := list {} }}}}\n\
             {{{{- if not (hasKey $block $name) }}}}\n\
             {indent}{{{{ $name }}}}: null\n\
             {{{{- end }}}}\n\
             {{{{- end }}}}\n",
            words(&mut nulls.iter().map(String::as_str))
        )
    };
    format!(
        "{{{{- $block := dict {pairs} }}}}\n\
         {{{{- range $name, $value := $.Values.{PARAMETERS} }}}}\n\
         {{{{- if {negate}(has $name (list {dcs_only})) }}}}\n\
         {{{{- $_ := set $block $name (include \"gitopsc.yaml-scalar\" (include \"gitopsc.parameter\" $value)) }}}}\n\
         {{{{- end }}}}\n\
         {{{{- end }}}}\n\
         {{{{- range $name, $text := $block }}}}\n\
         {indent}{{{{ $name }}}}: {{{{ $text }}}}\n\
         {{{{- end }}}}\n\
         {removed}",
        pairs = pairs.join(" "),
        negate = if dcs { "" } else { "not " },
        dcs_only = words(&mut crate::patroni::DCS_ONLY.iter().copied()),
    )
}

fn checksum(parts: &[(String, Option<String>)]) -> String {
    let part = |(path, fixed): &(String, Option<String>)| match fixed {
        Some(digest) => literal(digest),
        None => format!(
            "(print \"sha256:\" (include (print $.Template.BasePath {}) $ | sha256sum))",
            literal(&format!("/{path}"))
        ),
    };
    match parts {
        [one] => format!("{{{{ {} }}}}", part(one)),
        _ => format!(
            "{{{{ print \"sha256:\" (print {} | sha256sum) }}}}",
            parts.iter().map(part).collect::<Vec<_>>().join(" ")
        ),
    }
}
