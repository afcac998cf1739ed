//! `gitopsc audit`.

use std::path::{Path, PathBuf};

use super::{AuditFormat, FAILED, OK, Printer, USAGE, compile_each, default_jobs};
use crate::audit::report;
use crate::write;

/// `audit`: compile, compare with the committed output (CHG-1), then judge every control
/// on the committed files of each customer.
pub(super) fn audit(
    printer: &Printer,
    paths: &[PathBuf],
    out: &Path,
    format: AuditFormat,
    exceptions: Option<&Path>,
) -> u8 {
    let exceptions = match exceptions.map(crate::audit::read_exceptions) {
        None => Vec::new(),
        Some(Ok(exceptions)) => exceptions,
        Some(Err(problems)) => {
            for problem in problems {
                eprintln!("error: {problem}");
            }
            return USAGE;
        }
    };
    let jobs = default_jobs();
    // No reuse: the audit's CHG-1 is the full comparison of every file.
    let (fleet, whole_fleet) = match compile_each(printer, paths, jobs, None, &|_, f| Some(f)) {
        Err(code) => return code,
        Ok(result) => result,
    };
    if fleet.has_errors() {
        return FAILED;
    }
    let names: Vec<(String, PathBuf)> = fleet
        .customers
        .iter()
        .map(|c| (c.member.name.clone(), c.name_at.file.path.clone()))
        .collect();
    let folders = fleet.into_folders(crate::package::Format::Kustomize, whole_fleet);
    let drift = match write::check(
        out,
        &folders,
        crate::package::Format::Kustomize,
        whole_fleet,
        jobs,
    ) {
        Ok(findings) => findings,
        Err(error) => {
            eprintln!("error: {}: {error}", out.display());
            return USAGE;
        }
    };
    let mut results = match judge(out, &names, &drift) {
        Ok(results) => results,
        Err(code) => return code,
    };
    let problems =
        crate::audit::apply_exceptions(&mut results, &exceptions, &crate::audit::today());
    let failed = results
        .iter()
        .flat_map(|(_, v)| v)
        .filter(|v| !v.passed && v.excepted.is_none())
        .count();
    match format {
        AuditFormat::Json => println!("{}", report::json(&results, &problems)),
        AuditFormat::Text => print!("{}", report::text(out, &results, &problems)),
        AuditFormat::Markdown => print!("{}", report::markdown(out, &results, &problems)),
        AuditFormat::Sarif => println!("{}", report::sarif(out, &results)),
        AuditFormat::Html => print!("{}", report::html(out, &results, &problems)),
    }
    if failed > 0 || !problems.is_empty() {
        FAILED
    } else {
        OK
    }
}

/// Every control on each customer's committed folder, with the profile line behind each
/// verdict; `drift` (render --check's findings) is CHG-1's evidence.
fn judge(
    out: &Path,
    names: &[(String, PathBuf)],
    drift: &[write::Finding],
) -> Result<Vec<(String, Vec<crate::audit::Verdict>)>, u8> {
    let drifted = |name: &str| -> Vec<String> {
        drift
            .iter()
            .filter_map(|finding| {
                let (write::Finding::Drift { path, .. } | write::Finding::HandEdited { path, .. }) =
                    finding;
                let inside = path.strip_prefix(out).ok()?;
                let first = inside.components().next()?;
                (first.as_os_str() == name).then(|| inside.to_string_lossy().into_owned())
            })
            .collect()
    };
    let mut results = Vec::new();
    for (name, profile) in names {
        match crate::audit::read(out, name, drifted(name)) {
            Ok(output) => {
                let mut verdicts = crate::audit::evaluate(&output);
                crate::audit::attribute(&mut verdicts, profile);
                results.push((name.clone(), verdicts));
            }
            Err(error) => {
                eprintln!("error: {}: {error}", out.join(name).display());
                return Err(USAGE);
            }
        }
    }
    Ok(results)
}
