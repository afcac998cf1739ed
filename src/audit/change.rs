//! Change management: the committed output is what the reviewed profiles compile to.

use super::output::{Observation, Output};

pub(super) fn compiled_output(output: &Output) -> Vec<Observation> {
    if output.drift.is_empty() {
        return vec![Observation {
            file: format!("{}/{}", output.customer, crate::package::LOCK),
            // The lock's `compiler:` line names the version that compiled the folder.
            line: 3,
            holds: true,
            what: "every file is what the profiles compile to, by the compiler the lock names"
                .into(),
        }];
    }
    output
        .drift
        .iter()
        .map(|file| Observation {
            file: file.clone(),
            line: 1,
            holds: false,
            what: "differs from what the profiles compile to (edited, added or missing)".into(),
        })
        .collect()
}
