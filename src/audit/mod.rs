//! `gitopsc audit`: SOC 2 evidence from the committed output of each customer, both halves
//! (the manifests Argo CD applies and the Terraform), with the file and line behind every
//! verdict. The catalogue is `CONTROLS`, one row per control (docs/audit.md); a control's
//! check reads the committed files, never the profile, so it judges what is deployed.
//!
//! The report is evidence for the controls listed, not a certification.
//!
//! `output.rs` reads a customer's folder; `catalogue.rs` lists the controls, whose checks
//! live by half in `kubernetes.rs`, `gcp.rs` and `change.rs`; `exceptions.rs` applies the
//! risk acceptances; `report/` writes one file per format.

use std::path::Path;

mod catalogue;
mod change;
mod exceptions;
mod exposure;
mod gcp;
mod kubernetes;
mod output;
mod provenance;
pub mod report;
mod secrets;

pub use catalogue::{CONTROLS, Control, Half};
pub use exceptions::{Exception, apply_exceptions, read_exceptions};
pub use output::{Observation, Output, of_folder, read};
pub use provenance::{Commit, Provenance, utc};

/// What the evidence says of a control for one customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    /// There is evidence and all of it holds.
    Pass,
    /// Some evidence fails, or there is none (nothing to show is not met).
    Fail,
    /// The control's subject is absent from this customer (no external entry point, no
    /// firewall rule, a subnetwork the customer owns): neither passed nor failed, with the
    /// duty handed on named in the evidence.
    NotApplicable,
}

/// The verdict of one control for one customer.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub control: &'static str,
    pub judgement: Judgement,
    pub observations: Vec<Observation>,
    /// The risk acceptance under which a failing control is tolerated.
    pub excepted: Option<Exception>,
    /// `file:line` of the profile (or layer) line behind the control's outcome.
    pub profile: Option<String>,
}

impl Verdict {
    /// `pass`, `n/a`, `excepted` or `fail`: what every report shows for the verdict.
    pub fn outcome(&self) -> &'static str {
        match (self.judgement, &self.excepted) {
            (Judgement::Pass, _) => "pass",
            (Judgement::NotApplicable, _) => "n/a",
            (Judgement::Fail, Some(_)) => "excepted",
            (Judgement::Fail, None) => "fail",
        }
    }

    /// The control fails, excepted or not.
    pub fn failed(&self) -> bool {
        self.judgement == Judgement::Fail
    }
}

/// Every control of the catalogue on one customer's output.
pub fn evaluate(output: &Output) -> Vec<Verdict> {
    CONTROLS
        .iter()
        .map(|control| {
            let observations = (control.check)(output);
            Verdict {
                control: control.id,
                judgement: judge(&observations),
                observations,
                excepted: None,
                profile: None,
            }
        })
        .collect()
}

/// A control with nothing to show for it is not met; one whose every observation is of an
/// absent subject does not apply; otherwise the observations that apply decide.
fn judge(observations: &[Observation]) -> Judgement {
    let applying: Vec<&Observation> = observations.iter().filter(|o| o.applies).collect();
    if applying.is_empty() && !observations.is_empty() {
        Judgement::NotApplicable
    } else if !applying.is_empty() && applying.iter().all(|o| o.holds) {
        Judgement::Pass
    } else {
        Judgement::Fail
    }
}

/// Names, on each verdict, the profile line behind it: the line that sets the control's
/// `source` field in the merged profile (the layer's line when a layer sets it), or the
/// nearest field above it that is set.
pub fn attribute(verdicts: &mut [Verdict], profile: &Path) {
    let cache = crate::layer::LayerCache::default();
    let mut diagnostics = Vec::new();
    let Some(root) = crate::compiler::merged(profile, &cache, &mut diagnostics) else {
        return;
    };
    for (verdict, control) in verdicts.iter_mut().zip(CONTROLS) {
        let at = crate::load::locate(&root, control.source);
        verdict.profile = Some(format!("{}:{}", at.file.path.display(), at.line));
    }
}

/// The controls a customer's output fails, each with its first failing piece of evidence
/// (`None`: nothing in the output shows the property).
pub fn failures(output: &Output) -> Vec<(&'static Control, Option<Observation>)> {
    evaluate(output)
        .into_iter()
        .zip(CONTROLS)
        .filter(|(verdict, _)| verdict.failed())
        .map(|(verdict, control)| {
            let failing = verdict
                .observations
                .into_iter()
                .find(|o| o.applies && !o.holds);
            (control, failing)
        })
        .collect()
}
