//! `imports.tf.json`: Terraform 1.5's `import` blocks, the existing objects this
//! configuration adopts. Their own file, as Terraform's docs suggest (`imports.tf`), which
//! also keeps checkov's JSON parser, which reads labelled blocks only, off it.

use serde_json::json;

use super::{File, State, state};

pub(super) fn file(state: &State) -> File {
    if !state.manage_bucket {
        return File::default();
    }
    let settings = json!({
        "import": [{
            "to": state::BUCKET.to_string(),
            "id": format!("{}/{}", state.project, state.bucket)
        }]
    });
    File {
        settings: settings.as_object().cloned().unwrap_or_default(),
        blocks: Vec::new(),
    }
}
