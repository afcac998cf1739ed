//! The one printer of diagnostics, summaries and progress every command shares.

use std::io::Write;

use crate::compiler::Fleet;
use crate::diag::{Diagnostic, Severity, plural};

pub(super) struct Printer {
    pub color: bool,
    pub json: bool,
    pub quiet: bool,
    pub verbose: bool,
    pub deny_warnings: bool,
}

/// Places named after a repeated diagnostic unless `--verbose`.
const PLACES_SHOWN: usize = 3;

impl Printer {
    /// JSON: one record per diagnostic. For people: diagnostics that say the same thing
    /// (severity, code, message, field) are printed once, in full, followed by how many more
    /// places have it; a fleet's shared layer would otherwise repeat one warning per
    /// customer. Then one line per code.
    pub fn diagnostics(&self, diagnostics: &[Diagnostic]) {
        let shown = diagnostics.iter().filter(|d| !self.quiet || d.is_error());
        let mut out = String::new();
        if self.json {
            for diagnostic in shown {
                out.push_str(&format!("{}\n", diagnostic.to_json()));
            }
        } else {
            let groups = crate::diag::group(shown);
            for group in &groups {
                out.push_str(&group[0].render(self.color));
                out.push_str(&self.more_places(group));
                out.push('\n');
            }
            if groups.len() > 1 || groups.first().is_some_and(|g| g.len() > 1) {
                for (code, severity, count) in crate::diag::count_by_code(&groups) {
                    out.push_str(&format!(
                        "{}: {}: {}\n",
                        code.as_str(),
                        plural(count, severity),
                        code.summary()
                    ));
                }
            }
        }
        let _ = std::io::stderr().lock().write_all(out.as_bytes());
    }

    /// "and in 999 more profiles: a.yaml:3:5, ..." after the first of a group.
    pub fn more_places(&self, group: &[&Diagnostic]) -> String {
        let others = &group[1..];
        if others.is_empty() {
            return String::new();
        }
        let place = |d: &&Diagnostic| {
            d.location.as_ref().map_or_else(
                || "(no file)".to_string(),
                |l| format!("{}:{}:{}", l.file.path.display(), l.line, l.column),
            )
        };
        let files: std::collections::BTreeSet<_> = group
            .iter()
            .filter_map(|d| d.location.as_ref().map(|l| &l.file.path))
            .collect();
        let what = if files.len() == group.len() {
            format!("in {}", plural(others.len(), "more profile"))
        } else {
            plural(others.len(), "more place")
        };
        if self.verbose {
            let mut text = format!("  and {what}:\n");
            for d in others {
                text.push_str(&format!("    {}\n", place(d)));
            }
            return text;
        }
        let named: Vec<String> = others.iter().take(PLACES_SHOWN).map(place).collect();
        let rest = if others.len() > PLACES_SHOWN {
            ", ... (--verbose names all)"
        } else {
            ""
        };
        format!("  and {what}: {}{rest}\n", named.join(", "))
    }

    /// With `--deny-warnings`, warnings count as errors: validate fails, render writes nothing.
    pub fn deny(&self, diagnostics: &mut [Diagnostic]) {
        if self.deny_warnings {
            for diagnostic in diagnostics {
                diagnostic.severity = Severity::Error;
            }
        }
    }

    pub fn summary(&self, fleet: &Fleet) {
        if self.json {
            return;
        }
        let errors = fleet
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        let warnings = fleet.diagnostics.len() - errors;
        if errors > 0 {
            let failed: std::collections::BTreeSet<_> = fleet
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .filter_map(|d| d.location.as_ref().map(|l| l.file.path.clone()))
                .collect();
            let denied = if self.deny_warnings {
                ", warnings denied by --deny-warnings".to_string()
            } else {
                String::new()
            };
            eprintln!(
                "error: {} ({}{denied}) in {} file{}",
                plural(errors, "error"),
                plural(warnings, "warning"),
                failed.len(),
                if failed.len() == 1 { "" } else { "s" }
            );
        } else if warnings > 0 && !self.quiet {
            eprintln!("{}", plural(warnings, "warning"));
        }
    }

    pub fn message(&self, message: &str) {
        if !self.json && !self.quiet {
            eprintln!("{message}");
        }
    }
}

pub fn place(location: &crate::diag::Location) -> String {
    format!(
        "{}:{}:{}",
        location.file.path.display(),
        location.line,
        location.column
    )
}
