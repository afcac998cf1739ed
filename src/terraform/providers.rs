//! `providers.tf.json`: the google provider and the state backend.

use serde_json::json;

use super::{File, Gcp, PROVIDER_VERSION, State};

pub(super) fn file(gcp: &Gcp, state: &State) -> File {
    // No `required_version`: checkov's .tf.json parser fails on it (bridgecrewio/checkov#7454).
    let settings = json!({
        "terraform": {
            "required_providers": {
                "google": {"source": "hashicorp/google", "version": PROVIDER_VERSION}
            },
            "backend": {"gcs": {"bucket": state.bucket, "prefix": state.prefix}}
        },
        "provider": {"google": {"project": gcp.project, "region": gcp.region}}
    });
    File {
        settings: settings.as_object().cloned().unwrap_or_default(),
        blocks: Vec::new(),
    }
}
