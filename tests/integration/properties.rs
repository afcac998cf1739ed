//! Properties over generated profiles: the shipped `acme` profile with its name, namespace,
//! labels, autoscaling bounds and snapshot retention drawn at random (valid profiles), and
//! with any one value replaced by a value of any type (mostly invalid ones).

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::{TempDir, root, run, text};

/// The shipped acme profile as JSON (which is YAML, so it can be written back as a profile).
fn acme() -> Value {
    let path = root().join("profiles/acme.yaml");
    let mut diagnostics = Vec::new();
    let (_, node) = gitopsc::load::load_file(&path, &mut diagnostics);
    node.expect("acme loads").to_json()
}

#[derive(Debug, Clone)]
struct Variant {
    name: String,
    namespace: Option<String>,
    labels: BTreeMap<String, String>,
    min_replicas: u32,
    extra_replicas: u32,
    retain: u32,
}

fn variant() -> impl Strategy<Value = Variant> {
    (
        "[a-z][a-z0-9]{0,14}(-[a-z0-9]{1,20}){0,2}",
        proptest::option::of("[a-z][a-z0-9]{0,14}"),
        proptest::collection::btree_map("[a-z][a-z0-9]{0,10}", "[a-z0-9][a-z0-9]{0,10}", 0..4),
        2u32..6,
        0u32..20,
        1u32..=1000,
    )
        .prop_map(
            |(name, namespace, labels, min_replicas, extra_replicas, retain)| Variant {
                name,
                namespace,
                labels,
                min_replicas,
                extra_replicas,
                retain,
            },
        )
}

impl Variant {
    fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or(&self.name)
    }

    fn profile(&self) -> Value {
        let mut profile = acme();
        profile["metadata"]["name"] = json!(self.name);
        profile["metadata"]["labels"] = json!(self.labels);
        let spec = &mut profile["spec"];
        match &self.namespace {
            Some(namespace) => spec["namespace"] = json!(namespace),
            None => {
                spec.as_object_mut().expect("spec").remove("namespace");
            }
        }
        spec["argocd"]["project"] = json!(self.name);
        let autoscaling = &mut spec["app"]["autoscaling"];
        autoscaling["minReplicas"] = json!(self.min_replicas);
        autoscaling["maxReplicas"] = json!(self.min_replicas + self.extra_replicas);
        spec["app"]["replicas"] = json!(self.min_replicas);
        // Up to 25 pods × 4 within the 104 sessions acme's Pgpool serves (E0327).
        spec["app"]["databaseConnectionsPerPod"] = json!(4);
        spec["backup"]["snapshots"]["retain"] = json!(self.retain);
        profile
    }
}

/// A folder with the shipped layer and `profiles`, each as `<metadata.name>.yaml`.
fn fleet_folder(profiles: &[Value]) -> TempDir {
    let work = TempDir::new("property");
    let dir = work.path().join("profiles");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::copy(
        root().join("profiles/_defaults.yaml"),
        dir.join("_defaults.yaml"),
    )
    .expect("layer");
    for profile in profiles {
        let name = profile["metadata"]["name"].as_str().expect("name");
        let text = serde_json::to_string_pretty(profile).expect("json");
        std::fs::write(dir.join(format!("{name}.yaml")), text).expect("write");
    }
    work
}

fn compile(dir: &Path, jobs: usize) -> gitopsc::compiler::Fleet {
    let inputs = gitopsc::compiler::discover(&[dir.join("profiles")]).expect("discover");
    gitopsc::compiler::compile(&inputs.files, jobs)
}

fn errors(fleet: &gitopsc::compiler::Fleet) -> Vec<String> {
    fleet
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.render(false))
        .collect()
}

/// Every Kubernetes object of a compiled folder (Terraform, docs and the lock are not).
fn objects(files: &BTreeMap<String, String>) -> Vec<(String, Value)> {
    let mut objects = Vec::new();
    for (path, content) in files {
        if !path.ends_with(".yaml")
            || path == "kustomization.yaml"
            || path.starts_with("terraform/")
        {
            continue;
        }
        let value = crate::parse_yaml(content);
        if value.get("kind").is_some() {
            objects.push((path.clone(), value));
        }
    }
    objects
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// A valid profile compiles; every object is in the customer's namespace (or cluster
    /// scoped) and carries its labels; compiling again, or on more threads, gives the same
    /// bytes.
    #[test]
    fn generated_profiles_compile_into_the_customer_namespace(variant in variant()) {
        let work = fleet_folder(&[variant.profile()]);
        let fleet = compile(work.path(), 1);
        prop_assert!(errors(&fleet).is_empty(), "{:#?}", errors(&fleet));
        let compiled = &fleet.customers[0];
        let files = &compiled.output.as_ref().expect("output").files;
        let objects = objects(files);
        prop_assert!(objects.len() > 20, "{} objects", objects.len());
        for (path, object) in &objects {
            let metadata = &object["metadata"];
            if let Some(namespace) = metadata.get("namespace") {
                prop_assert_eq!(namespace.as_str(), Some(variant.namespace()), "{}", path);
            }
            for (key, value) in &variant.labels {
                prop_assert_eq!(
                    metadata["labels"][key].as_str(),
                    Some(value.as_str()),
                    "{} lacks label {}", path, key
                );
            }
        }
        // Every Compute Engine name and service account ID the Terraform gives passes the
        // provider's rule (gitopsc's copies, which `terraform::every_provider_rule_matches_its_pinned_source`
        // holds to the provider's source).
        for (path, text) in files.iter().filter(|(p, _)| p.ends_with(".tf.json")) {
            let document: Value = serde_json::from_str(text).expect("JSON");
            for (kind, blocks) in document["resource"].as_object().into_iter().flatten() {
                for body in blocks.as_object().into_iter().flatten().map(|(_, b)| b) {
                    if kind == "google_service_account" {
                        let id = body["account_id"].as_str().unwrap_or_default();
                        prop_assert!(gitopsc::syntax::service_account_id(id).is_ok(), "{}: {}", path, id);
                    } else if kind == "google_container_cluster" {
                        let name = body["name"].as_str().unwrap_or_default();
                        prop_assert!(gitopsc::syntax::gke_cluster_name_rule(name).is_ok(), "{}: {}", path, name);
                    } else if kind.starts_with("google_compute_") {
                        if let Some(name) = body["name"].as_str().filter(|n| !n.contains("${")) {
                            prop_assert!(gitopsc::syntax::gce_name_rule(name).is_ok(), "{}: {} {}", path, kind, name);
                        }
                    }
                }
            }
        }
        let again = compile(work.path(), 2);
        prop_assert_eq!(
            &again.customers[0].output.as_ref().expect("output").files,
            files
        );
    }

    /// Two customers compiled together are the same bytes as each alone, whatever the
    /// thread count: nothing of one leaks into the other.
    #[test]
    fn customers_do_not_influence_each_other(a in variant(), b in variant()) {
        prop_assume!(a.name != b.name && a.namespace() != b.namespace());
        let together = fleet_folder(&[a.profile(), b.profile()]);
        let fleet = compile(together.path(), 2);
        prop_assert!(errors(&fleet).is_empty(), "{:#?}", errors(&fleet));
        for variant in [&a, &b] {
            let alone = fleet_folder(&[variant.profile()]);
            let single = compile(alone.path(), 1);
            let in_fleet = fleet
                .customers
                .iter()
                .find(|c| c.member.name == variant.name)
                .expect("compiled");
            prop_assert_eq!(
                &in_fleet.output.as_ref().expect("output").files,
                &single.customers[0].output.as_ref().expect("output").files
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    /// `render` twice: the second run writes nothing and `--check` agrees.
    #[test]
    fn rendering_twice_writes_nothing_the_second_time(variant in variant()) {
        let work = fleet_folder(&[variant.profile()]);
        let first = run(work.path(), &["render"]);
        prop_assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
        let second = run(work.path(), &["render", "--no-cache"]);
        prop_assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr));
        prop_assert!(
            text(&second.stderr).contains(": 0 folders written, 2 unchanged"),
            "{}", text(&second.stderr)
        );
        let check = run(work.path(), &["render", "--check"]);
        prop_assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    }
}

/// Every value's JSON pointer in `value`.
fn pointers(value: &Value, at: String, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                pointers(
                    child,
                    format!("{at}/{}", key.replace('~', "~0").replace('/', "~1")),
                    into,
                );
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                pointers(child, format!("{at}/{index}"), into);
            }
        }
        _ => {}
    }
    into.push(at);
}

fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-5i64..5).prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-zA-Z0-9./:_-]{0,12}".prop_map(Value::from),
        Just(json!([])),
        Just(json!({})),
        Just(json!({"unexpected": 1})),
        Just(json!(["a", 1])),
    ]
}

/// The JSON Schema and the typed model agree: a document the schema finds well shaped
/// (at most a value breaking its format) deserialises into the typed profile, and one the
/// typed profile refuses, the schema refuses too, with a located diagnostic. Both
/// directions must actually be exercised, so the cases of each are counted.
#[test]
fn the_schema_and_the_typed_model_agree() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (accepted, refused) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let config = ProptestConfig {
        cases: 512,
        source_file: Some(file!()),
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let cases = (any::<prop::sample::Index>(), any_value());
    let result = runner.run(&cases, |(index, value)| {
        let mut document = acme();
        let mut all = Vec::new();
        pointers(&document, String::new(), &mut all);
        let pointer = index.get(&all).clone();
        if pointer.is_empty() {
            document = value;
        } else if let Some(slot) = document.pointer_mut(&pointer) {
            *slot = value;
        }
        let text = serde_json::to_string_pretty(&document).expect("json");
        let mut diagnostics = Vec::new();
        let (_, root) =
            gitopsc::load::parse_bytes("mutated.yaml".into(), text.into_bytes(), &mut diagnostics);
        let Some(root) = root else {
            // A document that is not a mapping (the whole profile replaced by a scalar).
            prop_assert!(!diagnostics.is_empty(), "{pointer}: refused without a word");
            return Ok(());
        };
        let document = root.to_json();
        let report = gitopsc::validate::check_schema(&root, &document);
        // Without what breaks the schema the rest is a profile, whose rules are then checked
        // in the same run (every problem at once).
        let mut rest = document.clone();
        if gitopsc::validate::leave_out(&mut rest, &report.broken).is_some() {
            let typed = serde_json::from_value::<gitopsc::profile::Profile>(rest);
            prop_assert!(
                typed.is_ok(),
                "{pointer}: leaving out {:?} does not make a profile: {:?}",
                report.broken,
                typed.err()
            );
        }
        let typed = serde_json::from_value::<gitopsc::profile::Profile>(document);
        if report.broken.is_empty() {
            prop_assert!(
                typed.is_ok(),
                "{pointer}: the schema accepts the shape, the type refuses: {:?}",
                typed.err()
            );
            accepted.fetch_add(1, Ordering::Relaxed);
        }
        if typed.is_err() {
            prop_assert!(
                !report.diagnostics.is_empty(),
                "{pointer}: only the type refuses"
            );
            for diagnostic in &report.diagnostics {
                prop_assert!(
                    diagnostic.location.is_some(),
                    "{}",
                    diagnostic.render(false)
                );
            }
            refused.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let (accepted, refused) = (accepted.into_inner(), refused.into_inner());
    eprintln!("{accepted} cases both accepted, {refused} both refused, of 512");
    assert!(
        accepted >= 20 && refused >= 20,
        "too few cases in one direction: {accepted} accepted, {refused} refused"
    );
}
