//! Drives the stages: discover → load → layer → validate → model → emit → package.
//! Nothing here touches the disk except reading the inputs; `write.rs` does the rest.

use std::path::{Path, PathBuf};

use crate::diag::{Code, Diagnostic, normalize};
use crate::layer::{LayerCache, normalize as normalize_path};
use crate::load::{self, Node};
use crate::model::{self, Customer};
use crate::package::argocd::{Member, ObjectKind};
use crate::package::{self, Folder};
use crate::profile::Profile;
use crate::{check, emit, link, validate};

/// The profiles a command works on.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub files: Vec<PathBuf>,
    /// True when every input was a folder: the set of customers is the whole fleet, so
    /// customer folders in `out/` without a profile are stale.
    pub whole_fleet: bool,
}

/// Profiles one run compiles: a run keeps a few KB per customer to the end
/// (docs/performance.md), so this bounds its memory well under a GB.
pub const MAX_PROFILES: usize = 100_000;

/// Expands `PATH...` into profile files: folders yield their `*.yaml` files whose names do
/// not start with `_` (those are layers). Errors are usage/IO problems (exit 2).
pub fn discover(paths: &[PathBuf]) -> Result<Inputs, Box<Diagnostic>> {
    let mut files = Vec::new();
    let mut whole_fleet = true;
    for path in paths {
        let io_error = |what: &str, error: std::io::Error| {
            Box::new(Diagnostic::error(
                Code::Io,
                format!("cannot {what} {}: {error}", path.display()),
            ))
        };
        let metadata = std::fs::metadata(path).map_err(|error| io_error("read", error))?;
        if metadata.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|error| io_error("list", error))?;
            for entry in entries {
                let entry = entry.map_err(|error| io_error("list", error))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let is_profile = (name.ends_with(".yaml") || name.ends_with(".yml"))
                    && !name.starts_with(['_', '.']);
                if is_profile && entry.file_type().is_ok_and(|t| t.is_file()) {
                    files.push(normalize_path(&path.join(&name)));
                }
            }
        } else {
            whole_fleet = false;
            files.push(normalize_path(path));
        }
    }
    // Input order never matters: customers are sorted by file, later by name.
    files.sort();
    files.dedup();
    if files.len() > MAX_PROFILES {
        return Err(Box::new(
            Diagnostic::error(
                Code::TooManyProfiles,
                format!(
                    "{} profiles; one run compiles at most {MAX_PROFILES}",
                    files.len()
                ),
            )
            .help("render the fleet in parts, one folder of profiles per run and --out"),
        ));
    }
    Ok(Inputs { files, whole_fleet })
}

/// A profile that went through every stage.
pub struct Compiled {
    /// The customer's model, kept with its output only (`compile_each`): at 10,000
    /// customers it was most of the memory left.
    pub customer: Option<Box<Customer>>,
    /// What the Argo CD folder needs of the customer.
    pub member: Member,
    /// Where the profile names the customer and its Argo CD project, for diagnostics that
    /// compare customers. (Kept instead of the whole YAML tree, which is most of a
    /// customer's memory.)
    pub name_at: crate::diag::Location,
    pub project_at: crate::diag::Location,
    /// Group, kind and scope of each object, for the customer's AppProject.
    pub kinds: Vec<ObjectKind>,
    /// Kind and name of each cluster-scoped object, with the profile line that names it:
    /// two customers in one cluster must not both own one.
    pub cluster_objects: Vec<(String, String, crate::diag::Location)>,
    /// `out/<customer>/`, unless the caller of `compile_each` kept none or the folder on
    /// disk was reused.
    pub output: Option<Folder>,
    /// The folder on disk is current (`Reuse`), so it was not compiled.
    pub reused: bool,
    /// The digest of the merged profile (`package::input_digest`), which the customer's
    /// lock records.
    pub input: String,
}

/// For a customer's name and the lock head its folder would have (compiler, format, input
/// digest), the kind and name of each object of its folder on disk when that folder is
/// current (`write::vouched`), read from the files; `None` compiles the customer.
pub type Reuse<'a> = dyn Fn(&str, &str) -> Option<Vec<(ObjectKind, String)>> + Sync + 'a;

/// What `compile_each` does with a customer's output folder, given its input digest
/// (`package::input_digest`): the folder to keep, if any.
pub type Finish<'a> = dyn Fn(&Customer, &str, Folder) -> Option<Folder> + Sync + 'a;

/// The outcome of compiling a set of profiles: outputs sorted by customer name, and every
/// diagnostic, sorted and deduplicated. Outputs are only meaningful when no diagnostic is an
/// error.
pub struct Fleet {
    pub customers: Vec<Compiled>,
    pub diagnostics: Vec<Diagnostic>,
    pub profiles: usize,
}

impl Fleet {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// `_argocd/`, written with manifests when the inputs are the whole fleet.
    pub fn argocd(&self, format: package::Format, whole_fleet: bool) -> Option<Folder> {
        (format == package::Format::Kustomize && whole_fleet && !self.customers.is_empty()).then(
            || {
                let all: Vec<(&Member, &[ObjectKind])> = self
                    .customers
                    .iter()
                    .map(|c| (&c.member, c.kinds.as_slice()))
                    .collect();
                package::argocd::fleet(&all)
            },
        )
    }

    /// The output folders in `format`: one per customer, plus `_argocd/` when the inputs are
    /// the whole fleet (it lists every customer, so a partial render must not rewrite it).
    /// Consumes the fleet: the folders hold most of its memory.
    pub fn into_folders(self, format: package::Format, whole_fleet: bool) -> Vec<Folder> {
        let argocd = self.argocd(format, whole_fleet);
        let mut folders: Vec<Folder> = self
            .customers
            .into_iter()
            .filter_map(|c| {
                let customer = c.customer.as_deref()?;
                Some(package::in_format(customer, &c.input, c.output?, format))
            })
            .collect();
        folders.extend(argocd);
        folders
    }
}

/// Compiles every profile, `jobs` at a time. The result does not depend on `jobs`.
pub fn compile(files: &[PathBuf], jobs: usize) -> Fleet {
    compile_each(files, jobs, None, &|_, _, folder| Some(folder))
}

/// Like `compile`, but hands each customer's output folder and input digest
/// (`package::input_digest`) to `finish` on the thread that compiled it, and keeps what
/// `finish` returns instead: a caller that only compares the output (`render --check`,
/// `validate`) keeps none, so memory holds a few customers' output at a time, not the
/// fleet's; nor does it keep the customer's model then. With `reuse`, a customer whose
/// folder is current is not compiled (and `finish` is not called for it).
pub fn compile_each(
    files: &[PathBuf],
    jobs: usize,
    reuse: Option<&Reuse>,
    finish: &Finish,
) -> Fleet {
    let cache = LayerCache::default();
    let results = crate::parallel_map(files, jobs, |path| {
        let mut diagnostics = Vec::new();
        let compiled = compile_one(path, &cache, reuse, &mut diagnostics).map(|mut compiled| {
            compiled.output = match (compiled.output.take(), compiled.customer.as_deref()) {
                (Some(output), Some(customer)) => finish(customer, &compiled.input, output),
                _ => None,
            };
            if compiled.output.is_none() {
                compiled.customer = None;
            }
            compiled
        });
        (compiled, diagnostics)
    });
    let mut diagnostics = Vec::new();
    let mut customers = Vec::new();
    for (compiled, found) in results {
        diagnostics.extend(found);
        customers.extend(compiled);
    }
    customers.sort_by(|a, b| a.member.name.cmp(&b.member.name));
    diagnostics.extend(duplicate_customers(&customers));
    diagnostics.extend(shared_projects(&customers));
    diagnostics.extend(shared_cluster_objects(&customers));
    normalize(&mut diagnostics);
    Fleet {
        customers,
        diagnostics,
        profiles: files.len(),
    }
}

/// Two profiles that name one customer (the customers sorted by name).
fn duplicate_customers(customers: &[Compiled]) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    for pair in customers.windows(2) {
        if pair[0].member.name == pair[1].member.name {
            let name = &pair[0].member.name;
            diagnostics.push(
                Diagnostic::error(
                    Code::DuplicateCustomer,
                    format!("customer `{name}` is defined twice"),
                )
                .at(pair[1].name_at.clone())
                .field("metadata.name")
                .note(pair[0].name_at.clone(), "first defined here")
                .help("each profile names a different customer; its output folder is out/<name>/"),
            );
        }
    }
    diagnostics
}

/// One AppProject per project name: two customers in one project would share its fence.
fn shared_projects(customers: &[Compiled]) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let mut projects: std::collections::BTreeMap<String, &Compiled> =
        std::collections::BTreeMap::new();
    for compiled in customers {
        let project = compiled.member.delivery.project.clone();
        if let Some(first) = projects.get(&project) {
            if first.member.name != compiled.member.name {
                diagnostics.push(
                    Diagnostic::error(
                        Code::DuplicateProject,
                        format!("Argo CD project `{project}` is also the project of customer `{}`", first.member.name),
                    )
                    .at(compiled.project_at.clone())
                    .field("spec.argocd.project")
                    .note(first.project_at.clone(), "first used here")
                    .help("each customer gets its own AppProject; give this one a different `argocd.project`"),
                );
            }
        } else {
            projects.insert(project, compiled);
        }
    }
    diagnostics
}

/// A cluster-scoped object belongs to one Application: two customers deployed to one
/// cluster that both emit it would each sync (and prune) the other's.
fn shared_cluster_objects(customers: &[Compiled]) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let mut owners: std::collections::BTreeMap<
        (&model::Destination, &str, &str),
        (&Compiled, &crate::diag::Location),
    > = std::collections::BTreeMap::new();
    for compiled in customers {
        for (kind, name, at) in &compiled.cluster_objects {
            let key = (
                &compiled.member.delivery.destination,
                kind.as_str(),
                name.as_str(),
            );
            match owners.get(&key) {
                Some((first, first_at)) if first.member.name != compiled.member.name => {
                    diagnostics.push(
                        Diagnostic::error(
                            Code::SharedClusterObject,
                            format!(
                                "{kind} `{name}` is cluster-scoped and customer `{}` in the same cluster also emits it",
                                first.member.name
                            ),
                        )
                        .at(at.clone())
                        .note((*first_at).clone(), "the other customer names it here")
                        .help("give each customer in a cluster its own name (the default names carry the customer), or deploy them to different clusters"),
                    );
                }
                Some(_) => {}
                None => {
                    owners.insert(key, (compiled, at));
                }
            }
        }
    }
    diagnostics
}

/// The profile at `path` merged over its layers, for `explain` and for `compile_one`.
pub fn merged(path: &Path, cache: &LayerCache, diagnostics: &mut Vec<Diagnostic>) -> Option<Node> {
    let (_, root) = load::load_file(path, diagnostics);
    crate::layer::resolve(&root?, path, cache, diagnostics)
}

/// Where a profile names a cluster-scoped object of `kind`.
fn cluster_object_pointer(kind: &str) -> &'static str {
    match kind {
        "Namespace" => "/spec/namespace",
        "VolumeSnapshotClass" => "/spec/backup/snapshots/volumeSnapshotClassName",
        _ => "/metadata/name",
    }
}

/// The customer with what the fleet needs of its objects, none of the output.
fn compiled(
    root: &Node,
    customer: Customer,
    objects: Vec<(ObjectKind, String)>,
    input: String,
) -> Compiled {
    let cluster_objects = objects
        .iter()
        .filter(|(kind, _)| !kind.namespaced)
        .map(|(kind, name)| {
            (
                kind.kind.clone(),
                name.clone(),
                load::locate(root, cluster_object_pointer(&kind.kind)),
            )
        })
        .collect();
    Compiled {
        member: Member::of(&customer),
        customer: Some(Box::new(customer)),
        name_at: load::locate(root, "/metadata/name"),
        project_at: load::locate(root, "/spec/argocd/project"),
        kinds: distinct_kinds(objects),
        cluster_objects,
        output: None,
        reused: false,
        input,
    }
}

/// Each kind once: the AppProject lists kinds, not objects, and a fleet keeps these to
/// the end (from the objects' own vector they cost 3 KB per customer).
fn distinct_kinds(objects: Vec<(ObjectKind, String)>) -> Vec<ObjectKind> {
    let mut kinds: Vec<ObjectKind> = objects.into_iter().map(|(kind, _)| kind).collect();
    kinds.sort();
    kinds.dedup();
    kinds.shrink_to_fit();
    kinds
}

/// The customer of an unchanged profile whose folder is current: the merged profile is the
/// one the lock records (same digest) and this compiler compiled it without an error, so
/// the schema, emitting and packaging would give the same bytes again. The checks between
/// fields still run, so their warnings are the same either way.
fn reuse_current(
    root: &Node,
    document: &serde_json::Value,
    reuse: &Reuse,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Compiled> {
    let profile: Profile = serde_json::from_value(document.clone()).ok()?;
    let name = profile.metadata.as_ref()?.name.as_ref()?.0.clone();
    let input = package::input_digest(&profile);
    let head = package::lock_head(package::Format::Kustomize, &input);
    let objects = reuse(&name, &head)?;
    let mut found = check::check(&profile, root);
    let customer = model::build(profile, root, &mut found)?;
    found.extend(check::effective(&customer, root));
    if found.iter().any(Diagnostic::is_error) || customer.name != name {
        return None;
    }
    diagnostics.extend(found);
    let mut compiled = compiled(root, customer, objects, input);
    compiled.reused = true;
    Some(compiled)
}

fn compile_one(
    path: &Path,
    cache: &LayerCache,
    reuse: Option<&Reuse>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Compiled> {
    let root = merged(path, cache, diagnostics)?;
    let document = root.to_json();
    if let Some(compiled) =
        reuse.and_then(|reuse| reuse_current(&root, &document, reuse, diagnostics))
    {
        return Some(compiled);
    }
    let schema = validate::check_schema(&root, &document);
    let malformed = !schema.diagnostics.is_empty();
    diagnostics.extend(schema.diagnostics);
    // Every problem at once: without the members that break the schema, the rest still
    // makes a profile whose rules between fields are checked in the same run.
    let mut document = document;
    let left_out = validate::leave_out(&mut document, &schema.broken)?;
    let profile: Profile = match serde_json::from_value(document) {
        Ok(profile) => profile,
        Err(_) if malformed => return None,
        Err(error) => {
            diagnostics.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    format!("profile does not match the schema: {error}"),
                )
                .at(root.location.clone()),
            );
            return None;
        }
    };
    let mut later = check::check(&profile, &root);
    let customer = model::build(profile, &root, &mut later);
    if let Some(customer) = &customer {
        later.extend(check::effective(customer, &root));
    }
    later.retain(|d| !validate::follows_from(d, &left_out));
    diagnostics.extend(later);
    let customer = customer?;
    if malformed || diagnostics.iter().any(Diagnostic::is_error) {
        return None;
    }
    let objects = emit::emit(&customer);
    let linked: Vec<(String, &serde_json::Value)> =
        objects.iter().map(|o| (o.path(), &o.value)).collect();
    let prerequisites = link::prerequisites(&customer, &linked);
    let unresolved = link::check(&linked, &prerequisites);
    if !unresolved.is_empty() {
        // Never the profile's fault alone: the emitters and the declared prerequisites
        // disagree. Reported like any error, so nothing is written.
        for problem in unresolved {
            diagnostics.push(
                Diagnostic::error(Code::UnresolvedReference, problem.to_string())
                    .at(load::locate(&root, "/metadata/name"))
                    .help("a gitopsc bug unless the profile names the object: report it with this profile"),
            );
        }
        return None;
    }
    let output = package::kustomize(&customer, &objects, &prerequisites);
    let heads = objects
        .iter()
        .map(|object| (ObjectKind::of(object), object.name.clone()))
        .collect();
    let input = package::input_digest(&customer.profile);
    let mut compiled = compiled(&root, customer, heads, input);
    compiled.output = Some(output);
    Some(compiled)
}
