//! `state.tf.json`: the bucket that holds the customer's Terraform state.

use serde_json::json;

use super::{Address, Block, File, State};

/// The state bucket, adopted by `imports.tf.json`.
pub const BUCKET: Address = Address::resource("google_storage_bucket", "state");

/// The state bucket, adopted rather than created (it exists before the first `init`, and
/// `imports` brings it under this configuration), which keeps its history (versioning: a
/// bad apply's state can be restored), its access uniform and private, and refuses to
/// destroy it.
pub(super) fn file(state: &State) -> File {
    if !state.manage_bucket {
        return File::default();
    }
    File::of(vec![Block::new(
        BUCKET,
        json!({
            "name": state.bucket,
            "project": state.project,
            "location": state.location,
            "force_destroy": false,
            "versioning": {"enabled": true},
            "uniform_bucket_level_access": true,
            "public_access_prevention": "enforced",
            "lifecycle": {"prevent_destroy": true}
        }),
    )])
}
