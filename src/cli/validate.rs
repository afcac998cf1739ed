//! `gitopsc validate`.

use std::path::PathBuf;
use std::sync::Mutex;

use super::{FAILED, OK, Printer, compile_and, default_jobs};
use crate::compiler::Fleet;
use crate::diag::{Code, Diagnostic, plural};

/// A control a customer's output fails: (customer, control).
type Failure = (String, &'static crate::audit::Control);

pub(super) fn validate(printer: &Printer, paths: &[PathBuf]) -> u8 {
    // Each customer's output is judged by the audit's controls on the thread that compiled
    // it, then dropped; only the failures are kept.
    let failures: Mutex<Vec<Failure>> = Mutex::new(Vec::new());
    let judge = |_: &crate::model::Customer, _: &str, folder: crate::package::Folder| {
        let output = crate::audit::of_folder(&folder);
        let failed = crate::audit::failures(&output);
        if !failed.is_empty() {
            failures
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend(failed.into_iter().map(|(c, _)| (folder.name.clone(), c)));
        }
        None
    };
    let warnings = |fleet: &Fleet| {
        let failures = std::mem::take(
            &mut *failures
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        audit_warnings(fleet, failures)
    };
    match compile_and(printer, paths, default_jobs(), None, &judge, warnings) {
        Err(code) => code,
        Ok((fleet, _)) if fleet.has_errors() => FAILED,
        Ok((fleet, _)) => {
            printer.message(&format!("{} valid", plural(fleet.profiles, "profile")));
            OK
        }
    }
}

/// A warning per control a customer would fail, at the profile line the control judges
/// (the layer's line when a layer sets it), naming the control and what to change. Only
/// for a fleet without errors: an invalid one has no output to audit yet.
fn audit_warnings(fleet: &Fleet, failures: Vec<Failure>) -> Vec<Diagnostic> {
    if fleet.has_errors() {
        return Vec::new();
    }
    let cache = crate::layer::LayerCache::default();
    let mut warnings = Vec::new();
    for (customer, control) in failures {
        let Some(compiled) = fleet.customers.iter().find(|c| c.member.name == customer) else {
            continue;
        };
        let mut ignored = Vec::new();
        let Some(root) = crate::compiler::merged(&compiled.name_at.file.path, &cache, &mut ignored)
        else {
            continue;
        };
        let warning = Diagnostic::warning(
            Code::AuditControl,
            format!(
                "`gitopsc audit` would fail {}: {}",
                control.id, control.statement
            ),
        )
        .at(crate::load::locate(&root, control.source))
        .field(crate::load::dotted(control.source))
        .help(control.fix);
        warnings.push(warning);
    }
    warnings
}
