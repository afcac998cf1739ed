//! `gitopsc render` and `gitopsc render --check`.

use std::path::{Path, PathBuf};

use super::{FAILED, OK, Printer, USAGE, compile_each, waiting, write_failed};
use crate::compiler::{self, Fleet};
use crate::diag::plural;
use crate::write::{self, WriteError};

/// How `render` runs.
pub(super) struct RenderOptions {
    pub check: bool,
    pub jobs: usize,
    pub force: bool,
    pub format: crate::package::Format,
    /// Reuse current folders instead of compiling them (Kustomize only).
    pub cache: bool,
    /// Customers whose data a change may delete or replace (`--allow-destroy`).
    pub allow_destroy: Vec<String>,
}

/// When `enabled`, customer folders of `out` that are current are reused, not compiled
/// (`write::vouched`).
pub(super) fn reuse_in(out: &Path, enabled: bool) -> Option<Box<compiler::Reuse<'_>>> {
    enabled.then(|| {
        Box::new(move |name: &str, head: &str| {
            crate::package::objects_on_disk(&write::vouched(out, name, head)?)
        }) as Box<compiler::Reuse<'_>>
    })
}

/// `render --check`: each customer's folder is compared on the thread that compiled it and
/// then dropped, so memory holds a few customers' output at a time.
pub(super) fn render_check(
    printer: &Printer,
    paths: &[PathBuf],
    out: &Path,
    options: &RenderOptions,
) -> u8 {
    let (jobs, format) = (options.jobs, options.format);
    use crate::package::{Folder, Format};
    type Compared = Vec<(String, std::io::Result<Vec<write::Finding>>)>;
    let compared: std::sync::Mutex<Compared> = std::sync::Mutex::new(Vec::new());
    let finish = |customer: &crate::model::Customer, input: &str, folder: Folder| {
        let folder = crate::package::in_format(customer, input, folder, format);
        let result = write::check_folder(out, &folder);
        compared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((folder.name, result));
        None
    };
    let _lock = match write::lock(out, false, &|| waiting(printer, out)) {
        Ok(lock) => lock,
        Err(error) => return write_failed(error, format),
    };
    let reuse = reuse_in(out, options.cache && format == Format::Kustomize);
    let (fleet, whole_fleet) =
        match compile_for_output(printer, paths, out, jobs, reuse.as_deref(), &finish) {
            Err(code) => return code,
            Ok(result) => result,
        };
    let mut compared = compared
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Threads finish in any order; report in the customers' order, `_argocd` last.
    compared.sort_by(|a, b| a.0.cmp(&b.0));
    let mut names: Vec<&str> = fleet
        .customers
        .iter()
        .map(|c| c.member.name.as_str())
        .collect();
    let argocd = fleet.argocd(format, whole_fleet);
    if let Some(argocd) = &argocd {
        compared.push((argocd.name.clone(), write::check_folder(out, argocd)));
        names.push(&argocd.name);
    } else if format == Format::Kustomize {
        partial_note(printer, out, "was not checked");
    }
    let mut findings = Vec::new();
    let mut failure = None;
    for (_, result) in compared {
        match result {
            Ok(found) => findings.extend(found),
            Err(error) => failure = failure.or(Some(error)),
        }
    }
    let result = match (
        failure,
        write::stale_folders(out, &names, format, whole_fleet),
    ) {
        (Some(error), _) | (None, Err(error)) => Err(error),
        (None, Ok(stale)) => {
            findings.extend(stale.into_iter().map(|name| write::Finding::Drift {
                path: out.join(name),
                why: "no profile produces this folder: render would remove it",
            }));
            Ok(findings)
        }
    };
    report_check(printer, out, fleet.customers.len(), result)
}

/// Compiles for `render`: any error means nothing is written (or checked).
pub(super) fn compile_for_output(
    printer: &Printer,
    paths: &[PathBuf],
    out: &Path,
    jobs: usize,
    reuse: Option<&compiler::Reuse>,
    finish: &compiler::Finish,
) -> Result<(Fleet, bool), u8> {
    let (fleet, whole_fleet) = compile_each(printer, paths, jobs, reuse, finish)?;
    if fleet.has_errors() {
        printer.message(&format!(
            "nothing written to {}: fix the errors above",
            out.display()
        ));
        return Err(FAILED);
    }
    Ok((fleet, whole_fleet))
}

/// A writing render streams: each customer's folder is compared on the thread that
/// compiled it and, when it must change, written into its staging folder and dropped; only
/// when no folder was refused are the staged folders swapped in.
pub(super) fn render(
    printer: &Printer,
    paths: &[PathBuf],
    out: &Path,
    options: &RenderOptions,
) -> u8 {
    use crate::package::{Folder, Format};
    if options.check {
        return render_check(printer, paths, out, options);
    }
    let (jobs, format, force) = (options.jobs, options.format, options.force);
    // The lock makes `out` if it is missing; a render with errors removes it again.
    let existed = out.exists();
    let _lock = match write::lock(out, true, &|| waiting(printer, out)) {
        Ok(lock) => lock,
        Err(error) => return write_failed(error, format),
    };
    if let Err(error) = write::prepare(out) {
        return write_failed(error, format);
    }
    let staged: std::sync::Mutex<Vec<(String, Result<write::Staged, WriteError>)>> =
        std::sync::Mutex::new(Vec::new());
    let losses: std::sync::Mutex<Vec<crate::guard::Loss>> = std::sync::Mutex::new(Vec::new());
    let finish = |customer: &crate::model::Customer, input: &str, folder: Folder| {
        if format == Format::Kustomize {
            guard_folder(out, &folder, &losses);
        }
        let folder = crate::package::in_format(customer, input, folder, format);
        let result = std::fs::create_dir_all(out)
            .map_err(|error| WriteError::Io(out.to_path_buf(), error))
            .and_then(|()| write::stage(out, &folder, format, force));
        staged
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((folder.name, result));
        None
    };
    let reuse = reuse_in(out, options.cache && format == Format::Kustomize);
    let compiled = compile_for_output(printer, paths, out, jobs, reuse.as_deref(), &finish);
    let mut staged = staged
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (fleet, whole_fleet) = match compiled {
        Err(code) => {
            abandon(out, staged, existed);
            return code;
        }
        Ok(result) => result,
    };
    // Every folder may have been current: `out` exists all the same (staging folders made
    // above must survive, so no `prepare` here).
    if let Err(error) = std::fs::create_dir_all(out) {
        return write_failed(WriteError::Io(out.to_path_buf(), error), format);
    }
    let reused = fleet.customers.iter().filter(|c| c.reused).count();
    let stale = match stage_argocd(&fleet, whole_fleet, out, options, &mut staged) {
        Ok(stale) => stale,
        Err(error) => return write_failed(WriteError::Io(out.to_path_buf(), error), format),
    };
    let losses = losses
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let refused = refused_losses(out, losses, &stale, options);
    if !refused.is_empty() {
        report_losses(out, &refused);
        abandon(out, staged, existed);
        return FAILED;
    }
    staged.sort_by(|a, b| a.0.cmp(&b.0)); // threads finish in any order; report in order
    let staged = staged.into_iter().map(|(_, s)| s).collect();
    match write::finish(out, staged, stale, force, jobs) {
        Ok(report) => {
            let manifests = format == Format::Kustomize;
            let argocd = (manifests && whole_fleet, manifests && !whole_fleet);
            report_render(printer, out, fleet.customers.len(), argocd, &report, reused);
            OK
        }
        Err(error) => write_failed(error, format),
    }
}

/// The losses the render may not cause: the changed folders' and, in the manifests, the
/// removed customers', less those `--allow-destroy` allows.
fn refused_losses(
    out: &Path,
    mut losses: Vec<crate::guard::Loss>,
    stale: &[String],
    options: &RenderOptions,
) -> Vec<crate::guard::Loss> {
    if options.format == crate::package::Format::Kustomize {
        for name in stale {
            losses.extend(crate::guard::removed(out, name).unwrap_or_default());
        }
    }
    crate::guard::refused(losses, &options.allow_destroy)
}

/// What `render --check` prints and its exit code: the files that differ, or that all is
/// current.
fn report_check(
    printer: &Printer,
    out: &Path,
    customers: usize,
    result: std::io::Result<Vec<write::Finding>>,
) -> u8 {
    match result {
        Ok(findings) if findings.is_empty() => {
            printer.message(&format!(
                "{} up to date in {}",
                plural(customers, "customer"),
                out.display()
            ));
            OK
        }
        Ok(findings) => {
            for finding in &findings {
                eprintln!("drift: {finding}");
            }
            eprintln!(
                "error: {} in {} differ from what the profiles compile to; run `gitopsc render`",
                plural(findings.len(), "file"),
                out.display()
            );
            FAILED
        }
        Err(error) => {
            eprintln!("error: cannot read {}: {error}", out.display());
            USAGE
        }
    }
}

/// A render that failed removes what it staged (and `out`, when it made it).
fn abandon(out: &Path, staged: Vec<(String, Result<write::Staged, WriteError>)>, existed: bool) {
    let names: Vec<String> = staged
        .into_iter()
        .filter_map(|(_, s)| match s {
            Ok(write::Staged::Ready(name)) => Some(name),
            _ => None,
        })
        .collect();
    write::abandon(out, &names);
    if !existed {
        // Only ever empty here: nothing but staging folders was made in it.
        let _ = std::fs::remove_dir(out);
    }
}

/// Stages `_argocd/` (when the inputs are the whole fleet) beside the customers' folders,
/// and returns the folders of `out` no profile produces any more.
fn stage_argocd(
    fleet: &Fleet,
    whole_fleet: bool,
    out: &Path,
    options: &RenderOptions,
    staged: &mut Vec<(String, Result<write::Staged, WriteError>)>,
) -> std::io::Result<Vec<String>> {
    let format = options.format;
    let mut names: Vec<&str> = fleet
        .customers
        .iter()
        .map(|c| c.member.name.as_str())
        .collect();
    if let Some(argocd) = fleet.argocd(format, whole_fleet) {
        staged.push((
            argocd.name.clone(),
            write::stage(out, &argocd, format, options.force),
        ));
        names.push(crate::package::argocd::FOLDER);
    }
    write::stale_folders(out, &names, format, whole_fleet)
}

/// What a render changed: the customers (and the Argo CD folder, when the whole fleet of
/// manifests was compiled), then how many folders were written, left as they were, or
/// removed.
fn report_render(
    printer: &Printer,
    out: &Path,
    customers: usize,
    (argocd, partial): (bool, bool),
    report: &write::Report,
    reused: usize,
) {
    let removed = if report.removed.is_empty() {
        String::new()
    } else {
        format!(", removed {}", report.removed.join(", "))
    };
    printer.message(&format!(
        "rendered {}{} into {}: {} written, {} unchanged{removed}",
        plural(customers, "customer"),
        if argocd {
            " and the Argo CD folder"
        } else {
            ""
        },
        out.display(),
        plural(report.written.len(), "folder"),
        report.unchanged + reused,
    ));
    if partial {
        partial_note(printer, out, "was left as it was");
    }
}

/// A render or check of some profiles, not the whole folder, leaves `_argocd/` alone: it
/// lists every customer, and only these were compiled. Said, so a customer rendered alone
/// is not silently missing from Argo CD.
fn partial_note(printer: &Printer, out: &Path, what: &str) {
    printer.message(&format!(
        "note: {} {what}: it lists the whole fleet and only these profiles were compiled; \
         run `gitopsc render` on the profiles folder to add or update customers in Argo CD",
        out.join(crate::package::argocd::FOLDER).display(),
    ));
}

/// What replacing this compiled folder's committed copy would lose, kept for the refusal
/// (an unreadable copy is the writer's error to report, not the guard's).
fn guard_folder(
    out: &Path,
    folder: &crate::package::Folder,
    losses: &std::sync::Mutex<Vec<crate::guard::Loss>>,
) {
    let found = crate::guard::folder(out, folder).unwrap_or_default();
    if !found.is_empty() {
        losses
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(found);
    }
}

/// The refusal: each object that would be lost and why, then the way to do it on purpose.
fn report_losses(out: &Path, losses: &[crate::guard::Loss]) {
    let mut sorted = losses.to_vec();
    sorted.sort();
    for loss in &sorted {
        eprintln!(
            "error[E0328]: {}/{}/{}: {} would be lost: {}",
            out.display(),
            loss.customer,
            loss.file,
            loss.object,
            loss.why
        );
    }
    let mut customers: Vec<&str> = sorted.iter().map(|l| l.customer.as_str()).collect();
    customers.dedup();
    eprintln!(
        "error: nothing written: the change deletes or replaces data of {}\n  \
         help: to move or remove the data on purpose, follow docs/backup.md (\"Changes that lose data\"), \
         then render with {}",
        customers.join(", "),
        customers
            .iter()
            .map(|c| format!("--allow-destroy {c}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
}
