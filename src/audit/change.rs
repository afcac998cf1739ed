//! Change management: the committed output — each customer's folder and what Argo CD reads
//! of it in `_argocd/` — is what the reviewed profiles compile to.

use super::output::{Observation, Output};
use crate::package::{LOCK, argocd};

pub(super) fn compiled_output(output: &Output) -> Vec<Observation> {
    let customer = &output.customer;
    let application = format!("{}/applications/{customer}.yaml", argocd::FOLDER);
    let mut seen: Vec<Observation> = output
        .drift
        .iter()
        .map(|file| Observation {
            file: file.clone(),
            line: 1,
            holds: false,
            applies: true,
            what: "differs from what the profiles compile to (edited, added or missing)".into(),
        })
        .collect();
    if !output
        .drift
        .iter()
        .any(|f| f.starts_with(&format!("{customer}/")))
    {
        seen.push(Observation {
            file: format!("{customer}/{LOCK}"),
            // The lock's `compiler:` line names the version that compiled the folder.
            line: 3,
            holds: true,
            applies: true,
            what: "every file of the customer's folder is what the profiles compile to, by the compiler the lock names".into(),
        });
    }
    if !output.argocd_compared {
        seen.push(Observation {
            file: application,
            line: 1,
            holds: false,
            applies: true,
            what: format!(
                "`{}/` was not compared: only an audit of the whole fleet compiles what Argo CD reads; audit every profile",
                argocd::FOLDER
            ),
        });
    } else if !output
        .drift
        .iter()
        .any(|f| f.starts_with(&format!("{}/", argocd::FOLDER)))
    {
        seen.push(Observation {
            file: application,
            line: 1,
            holds: true,
            applies: true,
            what: format!(
                "the customer's Application and project and the fleet's shared files in `{}/` (sync policy, source path, destination) are what the profiles compile to",
                argocd::FOLDER
            ),
        });
    }
    seen
}
