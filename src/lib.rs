//! gitopsc: customer profiles in, deterministic Kubernetes manifests out.
//!
//! One module per pipeline stage (see docs/architecture.md):
//! load → layer → validate + check → model → emit → package → serialize → write.

pub mod check;
pub mod cli;
pub mod compiler;
pub mod diag;
pub mod emit;
pub mod fleet;
pub mod layer;
pub mod load;
pub mod model;
pub mod package;
pub mod pgsettings;
pub mod profile;
pub mod serialize;
pub mod validate;
pub mod write;
