//! The property every target checks besides "no panic": each diagnostic points inside the
//! text of its file, and renders.

use gitopsc::diag::{Diagnostic, Location};

fn inside(location: &Location) {
    let text = &location.file.text;
    let lines: Vec<&str> = text.split('\n').collect();
    assert!(
        location.line >= 1 && location.line <= lines.len(),
        "line {} of {} in {}",
        location.line,
        lines.len(),
        location.file.path.display()
    );
    let width = lines[location.line - 1]
        .trim_end_matches('\r')
        .chars()
        .count();
    assert!(
        location.column >= 1 && location.column <= width + 1,
        "column {} of a {width}-character line {} in {}",
        location.column,
        location.line,
        location.file.path.display()
    );
}

pub fn check(diagnostics: &[Diagnostic]) {
    for diagnostic in diagnostics {
        if let Some(location) = &diagnostic.location {
            inside(location);
        }
        for (location, _) in &diagnostic.notes {
            inside(location);
        }
        let _ = diagnostic.render(false);
        let _ = diagnostic.to_json();
    }
}
