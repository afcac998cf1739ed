//! The audit's reports, one module per format: `text` (a terminal), `markdown` (a
//! pull-request job summary), `json` (every verdict and its evidence), `sarif` (code
//! scanning) and `html` (the auditor's evidence report). Each carries the provenance.

mod html;
mod json;
mod markdown;
mod sarif;
mod text;

pub use html::html;
pub use json::{error as json_error, json};
pub use markdown::markdown;
pub use sarif::{error as sarif_error, sarif};
pub use text::text;

use super::{Provenance, Verdict};

/// What every report is made from.
pub struct Audit<'a> {
    /// Each customer's verdicts, in the catalogue's order.
    pub results: &'a [(String, Vec<Verdict>)],
    /// Problems with the exceptions (expired, unused, not yet approved).
    pub problems: &'a [String],
    pub provenance: &'a Provenance,
}

impl Audit<'_> {
    /// `out/acme/…` as the repository names it: the output folder as given, then the file.
    fn place(&self, file: &str, line: usize) -> String {
        format!("{}/{file}:{line}", self.provenance.out)
    }

    /// How many verdicts have each outcome: pass, n/a, excepted, fail.
    fn counts(&self) -> [usize; 4] {
        let mut counts = [0; 4];
        for verdict in self.results.iter().flat_map(|(_, v)| v) {
            counts[OUTCOMES
                .iter()
                .position(|o| *o == verdict.outcome())
                .unwrap_or(3)] += 1;
        }
        counts
    }
}

/// The outcomes in the order reports count them.
const OUTCOMES: [&str; 4] = ["pass", "n/a", "excepted", "fail"];
