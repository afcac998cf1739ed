//! `gitopsc diff`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use super::render::reuse_in;
use super::{
    DiffFormat, FAILED, OK, Printer, USAGE, compile_each, default_jobs, waiting, write_failed,
};
use crate::write;

/// Each customer's folder is compared on the thread that compiled it, and only its changes
/// are kept; a current folder is not compiled at all (unless `cache` is off).
pub(super) fn diff(
    printer: &Printer,
    paths: &[PathBuf],
    out: &Path,
    format: DiffFormat,
    cache: bool,
) -> u8 {
    use crate::package::Format;
    let jobs = default_jobs();
    type Compared = Vec<std::io::Result<crate::diff::FolderDiff>>;
    let compared: std::sync::Mutex<Compared> = std::sync::Mutex::new(Vec::new());
    let finish = |_: &crate::model::Customer, _: &str, folder: crate::package::Folder| {
        let result = crate::diff::folder(out, &folder);
        compared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(result);
        None
    };
    let _lock = match write::lock(out, false, &|| waiting(printer, out)) {
        Ok(lock) => lock,
        Err(error) => return write_failed(error, Format::Kustomize),
    };
    let reuse = reuse_in(out, cache);
    let (fleet, whole_fleet) = match compile_each(printer, paths, jobs, reuse.as_deref(), &finish) {
        Err(code) => return code,
        Ok(result) => result,
    };
    if fleet.has_errors() {
        return USAGE;
    }
    let mut compared = compared
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut names: Vec<&str> = fleet
        .customers
        .iter()
        .map(|c| c.member.name.as_str())
        .collect();
    let argocd = fleet.argocd(Format::Kustomize, whole_fleet);
    if let Some(argocd) = &argocd {
        compared.push(crate::diff::folder(out, argocd));
        names.push(&argocd.name);
    }
    let report = write::stale_folders(out, &names, Format::Kustomize, whole_fleet)
        .and_then(|stale| crate::diff::report(out, compared, &stale));
    let report = match report {
        Ok(report) => report,
        Err(error) => {
            eprintln!("error: cannot read {}: {error}", out.display());
            return USAGE;
        }
    };
    let text = match format {
        DiffFormat::Text => {
            crate::diff::text(&report, std::io::stdout().is_terminal() && printer.color)
        }
        DiffFormat::Markdown => crate::diff::markdown(&report),
        DiffFormat::Json => crate::diff::json(&report),
    };
    print!("{text}");
    if report.is_empty() { OK } else { FAILED }
}
