//! `gitopsc validate`.

use std::path::PathBuf;

use super::{FAILED, OK, Printer, compile_each, default_jobs};
use crate::diag::plural;

pub(super) fn validate(printer: &Printer, paths: &[PathBuf]) -> u8 {
    // The output is not needed: drop each customer's as soon as it is compiled.
    let drop_output = |_: &str, _: crate::package::Folder| None;
    match compile_each(printer, paths, default_jobs(), None, &drop_output) {
        Err(code) => code,
        Ok((fleet, _)) if fleet.has_errors() => FAILED,
        Ok((fleet, _)) => {
            printer.message(&format!("{} valid", plural(fleet.profiles, "profile")));
            OK
        }
    }
}
