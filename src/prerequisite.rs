//! What a customer's output needs but does not create: an add-on, an object the profile
//! names, a GCP resource. Emitters declare their own (an extension's `prerequisites`
//! hook); `link.rs` gathers them and refuses any other unresolved reference.

/// What must exist before a customer's output is synced.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Prerequisite {
    pub section: Section,
    /// `Kind` for Kubernetes objects, a short name for add-ons and GCP resources.
    pub kind: String,
    pub name: String,
    /// Why it is needed, for the operator who brings the customer up.
    pub why: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// Controllers and CRDs installed in the cluster.
    AddOn,
    /// Kubernetes objects the profile names.
    Object,
    /// GCP resources and IAM bindings the output relies on.
    Gcp,
}

impl Section {
    pub fn title(self) -> &'static str {
        match self {
            Section::AddOn => "Cluster add-ons",
            Section::Object => "Objects the profile names",
            Section::Gcp => "GCP resources and IAM",
        }
    }
}

pub fn prerequisite(section: Section, kind: &str, name: &str, why: String) -> Prerequisite {
    Prerequisite {
        section,
        kind: kind.into(),
        name: name.into(),
        why,
    }
}
