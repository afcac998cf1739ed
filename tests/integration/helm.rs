//! The customer charts under the Helm CLI (v3.17.3, installed by scripts/test.sh): with
//! their default values they give exactly the objects `render` writes; a value changed with
//! `--set` gives exactly what the same change in the profile compiles to (a property test);
//! a value the schema or the chart's checks refuse fails the install with their message.

use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;
use serde_json::Value;

use super::{TempDir, copy_tree, parse_yaml, render_ok, root, run, text, tool};

type Objects = std::collections::BTreeMap<(String, String), Value>;

/// `helm template` of a chart into `namespace`: its objects, or Helm's error.
fn helm_template(
    helm: &Path,
    chart: &Path,
    namespace: &str,
    set: &[String],
) -> Result<Objects, String> {
    let mut command = Command::new(helm);
    command
        .args(["template", namespace])
        .arg(chart)
        .args(["--namespace", namespace]);
    for value in set {
        match (value.strip_prefix("string:"), value.strip_prefix("file:")) {
            (Some(text), _) => command.args(["--set-string", text]),
            (_, Some(path)) => command.args(["--values", path]),
            _ => command.args(["--set", value]),
        };
    }
    let output = command.output().expect("helm runs");
    if !output.status.success() {
        return Err(text(&output.stderr));
    }
    let mut objects = Objects::new();
    for document in text(&output.stdout).split("\n---\n") {
        let body: String = document
            .lines()
            .filter(|l| !l.starts_with("# Source:") && *l != "---")
            .map(|l| format!("{l}\n"))
            .collect();
        if body.trim().is_empty() {
            continue;
        }
        let object = parse_yaml(&body);
        let key = (
            object["kind"].as_str().unwrap_or_default().to_string(),
            object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        assert!(
            objects.insert(key.clone(), object).is_none(),
            "{key:?} twice"
        );
    }
    Ok(objects)
}

/// The objects of a compiled customer folder.
fn compiled(folder: &Path) -> Objects {
    let mut objects = Objects::new();
    for (path, bytes) in super::tree(folder) {
        if !path.contains('/') || path.starts_with("terraform/") {
            continue;
        }
        let object = parse_yaml(&text(&bytes));
        objects.insert(
            (
                object["kind"].as_str().unwrap_or_default().to_string(),
                object["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            ),
            object,
        );
    }
    objects
}

fn namespace_of(folder: &Path, customer: &str) -> String {
    let namespace = super::tree(folder)
        .into_iter()
        .find(|(p, _)| p.starts_with("app/namespace-"))
        .map(|(p, _)| p["app/namespace-".len()..p.len() - ".yaml".len()].to_string());
    namespace.unwrap_or_else(|| customer.to_string())
}

/// `helm lint --strict` of a chart in the namespace it installs into: Helm's output, or
/// `None` when it passes.
pub fn helm_lint(helm: &Path, chart: &Path, namespace: &str) -> Option<String> {
    let output = Command::new(helm)
        .arg("lint")
        .arg(chart)
        .args(["--namespace", namespace, "--strict"])
        .output()
        .expect("helm runs");
    (!output.status.success()).then(|| format!("{}{}", text(&output.stdout), text(&output.stderr)))
}

fn helm() -> Option<PathBuf> {
    tool("helm")
}

#[test]
fn charts_with_their_default_values_give_the_compiled_objects() {
    let Some(helm) = helm() else { return };
    let work = TempDir::new("helm-defaults");
    let mut folders = vec![];
    for folder in super::profile_folders() {
        let name = folder
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        copy_tree(&folder, &work.path().join(&name));
        folders.push(name);
    }
    let mut compared = 0;
    for folder in &folders {
        let out = format!("out-{folder}");
        let charts = format!("charts-{folder}");
        render_ok(work.path(), &["render", folder, "--out", &out]);
        render_ok(
            work.path(),
            &["render", folder, "--format", "helm", "--out", &charts],
        );
        for entry in std::fs::read_dir(work.path().join(&charts))
            .expect("charts")
            .flatten()
        {
            let customer = entry.file_name().to_string_lossy().to_string();
            let compiled_folder = work.path().join(&out).join(&customer);
            let namespace = namespace_of(&compiled_folder, &customer);
            let want = compiled(&compiled_folder);
            let got = helm_template(&helm, &entry.path(), &namespace, &[])
                .unwrap_or_else(|e| panic!("{folder}/{customer}: {e}"));
            assert_eq!(
                got.keys().collect::<Vec<_>>(),
                want.keys().collect::<Vec<_>>(),
                "{folder}/{customer}: the same objects"
            );
            for (key, object) in &want {
                assert_eq!(&got[key], object, "{folder}/{customer}: {key:?}");
            }
            // Helm's own lint passes, in the namespace the chart expects.
            let lint = helm_lint(&helm, &entry.path(), &namespace);
            assert!(lint.is_none(), "{folder}/{customer}: {lint:?}");
            compared += 1;
        }
    }
    assert!(compared >= 10, "charts compared: {compared}");
    // docs/helm.md's table is the shipped charts' schemas, row for row.
    let schemas: Vec<Value> = ["acme", "globex", "initech"]
        .iter()
        .map(|chart| {
            let path = work
                .path()
                .join("charts-profiles")
                .join(chart)
                .join("values.schema.json");
            serde_json::from_str(&std::fs::read_to_string(path).expect("schema")).expect("json")
        })
        .collect();
    let table = values_table(&schemas);
    let docs = std::fs::read_to_string(root().join("docs/helm.md")).expect("docs/helm.md");
    assert!(
        docs.contains(&table),
        "docs/helm.md's value table is not the charts' schemas; it should read:\n{table}"
    );
}

/// The value table of docs/helm.md: one row per value any of the schemas offers, with its
/// type, what the schema refuses and its description.
fn values_table(schemas: &[Value]) -> String {
    fn rows(schema: &Value, path: String, out: &mut std::collections::BTreeMap<String, String>) {
        match schema["properties"].as_object() {
            Some(properties) if !path.ends_with("parameters") => {
                for (key, child) in properties {
                    let child_path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    rows(child, child_path, out);
                }
            }
            _ => {
                let kind = match &schema["type"] {
                    Value::Array(types) => types
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("/"),
                    other => other.as_str().unwrap_or_default().to_string(),
                };
                let mut rules = Vec::new();
                if path.ends_with("parameters") {
                    rules.push("a known name with a valid value".to_string());
                }
                if let Some(min) = schema.get("minimum") {
                    rules.push(format!("≥ {min}"));
                }
                if let Some(max) = schema.get("maximum") {
                    rules.push(format!("≤ {max}"));
                }
                if schema.get("allOf").is_some() {
                    rules.push("a positive Kubernetes quantity".into());
                }
                if schema.get("pattern").is_some() && !path.ends_with("parameters") {
                    rules.push("five cron fields or a macro".into());
                }
                let about = schema["description"]
                    .as_str()
                    .unwrap_or_default()
                    .replace('\n', " ");
                out.insert(
                    path.clone(),
                    format!("| `{path}` | {kind} | {} | {about} |", rules.join(", ")),
                );
            }
        }
    }
    let mut all = std::collections::BTreeMap::new();
    for schema in schemas {
        rows(schema, String::new(), &mut all);
    }
    let mut table =
        String::from("| Value | Type | Refused unless | What it does |\n|---|---|---|---|\n");
    for row in all.values() {
        table.push_str(row);
        table.push('\n');
    }
    table
}

/// The shipped acme and globex (autoscaling on and off), a profile layer on top that makes
/// the change, and their charts.
struct Case {
    work: TempDir,
}

impl Case {
    fn new() -> Self {
        let work = TempDir::new("helm-values");
        copy_tree(&root().join("profiles"), &work.path().join("base"));
        render_ok(
            work.path(),
            &["render", "base", "--format", "helm", "--out", "charts"],
        );
        Case { work }
    }

    /// What `render` gives for `customer` with `spec` layered on its profile: its objects,
    /// or the compiler's errors.
    fn render(&self, customer: &str, spec: &Value) -> Result<Objects, String> {
        let dir = self.work.path().join("case");
        let _ = std::fs::remove_dir_all(&dir);
        copy_tree(&root().join("profiles"), &dir);
        // The profile becomes a layer (without its metadata, which only a profile sets)
        // under a profile that adds the change.
        let mut layer = parse_yaml(
            &std::fs::read_to_string(dir.join(format!("{customer}.yaml"))).expect("profile"),
        );
        let metadata = layer
            .as_object_mut()
            .and_then(|o| o.remove("metadata"))
            .expect("metadata");
        std::fs::write(dir.join("_customer.yaml"), layer.to_string()).expect("layer");
        let profile = serde_json::json!({
            "apiVersion": "gitopsc/v1alpha1",
            "kind": "CustomerProfile",
            "metadata": metadata,
            "extends": ["_customer.yaml"],
            "spec": spec,
        });
        std::fs::write(
            dir.join(format!("{customer}.yaml")),
            serde_json::to_string_pretty(&profile).expect("json"),
        )
        .expect("write");
        let profile_path = format!("case/{customer}.yaml");
        let output = run(
            self.work.path(),
            &["render", &profile_path, "--out", "case-out"],
        );
        if output.status.code() != Some(0) {
            return Err(text(&output.stderr));
        }
        Ok(compiled(&self.work.path().join("case-out").join(customer)))
    }

    fn helm(&self, helm: &Path, customer: &str, set: &[String]) -> Result<Objects, String> {
        helm_template(
            helm,
            &self.work.path().join("charts").join(customer),
            customer,
            set,
        )
    }
}

/// One change: its `--set` argument and the same value in the profile's `spec`.
fn change(path: &str, value: &Value) -> (String, Value) {
    let text = match value {
        Value::String(s) => s.replace(',', "\\,"),
        other => other.to_string(),
    };
    let mut spec = value.clone();
    for segment in path.rsplit('.') {
        spec = serde_json::json!({ segment: spec });
    }
    (format!("{path}={text}"), spec)
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, value) => *slot = value,
    }
}

fn changes() -> impl Strategy<Value = Vec<(&'static str, Value)>> {
    let text = |options: &'static [&'static str]| {
        proptest::sample::select(options).prop_map(|s| Value::String(s.to_string()))
    };
    let count = |low: u64, high: u64| (low..=high).prop_map(Value::from);
    let choices: Vec<BoxedStrategy<(&'static str, Value)>> = vec![
        count(1, 8)
            .prop_map(|v| ("app.autoscaling.minReplicas", v))
            .boxed(),
        count(3, 20)
            .prop_map(|v| ("app.autoscaling.maxReplicas", v))
            .boxed(),
        count(40, 140)
            .prop_map(|v| ("database.pgpool.numInitChildren", v))
            .boxed(),
        count(1, 3)
            .prop_map(|v| ("database.pgpool.maxPool", v))
            .boxed(),
        count(150, 600)
            .prop_map(|v| ("database.parameters.max_connections", v))
            .boxed(),
        text(&["512MB", "768MB", "1GB", "131072", "3GB"])
            .prop_map(|v| ("database.parameters.shared_buffers", v))
            .boxed(),
        text(&["1MB", "2MB", "4096kB", "16MB"])
            .prop_map(|v| ("database.parameters.work_mem", v))
            .boxed(),
        text(&["1.1", "2", "4.5"])
            .prop_map(|v| ("database.parameters.random_page_cost", v))
            .boxed(),
        prop_oneof![
            Just(Value::Bool(false)),
            Just(Value::Bool(true)),
            text(&["on", "off"])
        ]
        .prop_map(|v| ("database.parameters.jit", v))
        .boxed(),
        text(&["1GB", "512MB"])
            .prop_map(|v| ("database.parameters.wal_keep_size", v))
            .boxed(),
        text(&["10s", "1min"])
            .prop_map(|v| ("database.parameters.log_min_duration_statement", v))
            .boxed(),
        Just((
            "database.parameters.hot_standby_feedback",
            Value::Bool(true),
        ))
        .boxed(),
        text(&["500m", "1", "1500m"])
            .prop_map(|v| ("database.resources.requests.cpu", v))
            .boxed(),
        text(&["2", "3", "2500m"])
            .prop_map(|v| ("database.resources.limits.cpu", v))
            .boxed(),
        text(&["3Gi", "4Gi", "6Gi", "8Gi"])
            .prop_map(|v| ("database.resources.limits.memory", v))
            .boxed(),
        text(&["2Gi", "4Gi"])
            .prop_map(|v| ("database.resources.requests.memory", v))
            .boxed(),
        text(&["100m", "250m", "500m"])
            .prop_map(|v| ("database.pgpool.resources.requests.cpu", v))
            .boxed(),
        text(&["256Mi", "1Gi", "768Mi"])
            .prop_map(|v| ("database.pgpool.resources.limits.memory", v))
            .boxed(),
        text(&["0 */4 * * *", "30 1 * * *", "@hourly", "15 */2 * * 1-5"])
            .prop_map(|v| ("backup.snapshots.schedule", v))
            .boxed(),
        count(1, 90)
            .prop_map(|v| ("backup.snapshots.retain", v))
            .boxed(),
    ];
    proptest::sample::subsequence(choices, 1..=6).prop_flat_map(|picked| picked)
}

/// The code and message of each of the compiler's errors, e.g. `error[E0308]: …`.
fn errors(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.find("error[").map(|at| l[at..].to_string()))
        .collect()
}

#[test]
fn a_value_set_at_install_gives_what_the_same_profile_change_compiles_to() {
    let Some(helm) = helm() else { return };
    let case = Case::new();
    let config = ProptestConfig {
        cases: 40,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let compared = std::cell::Cell::new((0, 0));
    runner
        .run(&changes(), |picked| {
            let mut set = Vec::new();
            let mut spec = Value::Object(Default::default());
            for (path, value) in &picked {
                let (argument, layer) = change(path, value);
                set.push(argument);
                merge(&mut spec, layer);
            }
            let compiled = case.render("acme", &spec);
            let installed = case.helm(&helm, "acme", &set);
            match (compiled, installed) {
                (Ok(want), Ok(got)) => {
                    prop_assert_eq!(
                        got.keys().collect::<Vec<_>>(),
                        want.keys().collect::<Vec<_>>()
                    );
                    for (key, object) in &want {
                        prop_assert_eq!(&got[key], object, "{:?} with {:?}", key, set);
                    }
                    compared.set((compared.get().0 + 1, compared.get().1));
                }
                (Err(refused), installed) => {
                    // Helm stops at its first failure: one of the compiler's, word for word.
                    let helm_error = installed.err().unwrap_or_default();
                    prop_assert!(
                        errors(&refused)
                            .iter()
                            .any(|e| helm_error.contains(e.as_str())),
                        "compiler: {}\nhelm: {}\nwith {:?}",
                        refused,
                        helm_error,
                        set
                    );
                    compared.set((compared.get().0, compared.get().1 + 1));
                }
                (Ok(_), Err(helm_error)) => {
                    prop_assert!(
                        false,
                        "helm refused what compiles: {}\nwith {:?}",
                        helm_error,
                        set
                    );
                }
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let (equal, refused) = compared.get();
    assert!(
        equal >= 8 && refused >= 2,
        "equal renders: {equal}, refusals: {refused}"
    );
}

/// A values file is read as YAML, so its numbers reach the templates as floats: the chart
/// writes them as the profile's reading of the same YAML does.
#[test]
fn a_values_file_gives_what_the_same_profile_change_compiles_to() {
    let Some(helm) = helm() else { return };
    let case = Case::new();
    let yaml = "database:\n  parameters:\n    max_connections: 310\n    random_page_cost: 1.5\n    jit: false\n    effective_io_concurrency: 0\n  pgpool:\n    maxPool: 2\napp:\n  autoscaling:\n    minReplicas: 4\n";
    let file = case.work.path().join("acme-values.yaml");
    std::fs::write(&file, yaml).expect("values file");
    let got = case
        .helm(&helm, "acme", &[format!("file:{}", file.display())])
        .expect("installs");
    let want = case.render("acme", &parse_yaml(yaml)).expect("compiles");
    assert_eq!(got, want);
    let dynamic =
        want[&("ConfigMap".to_string(), "postgres-patroni".to_string())]["data"]["dynamic.yml"]
            .as_str()
            .unwrap_or_default()
            .to_string();
    assert!(dynamic.contains("max_connections: \"310\""), "{dynamic}");
}

#[test]
fn shared_buffers_at_install_changes_patroni_and_rolls_the_members() {
    let Some(helm) = helm() else { return };
    let case = Case::new();
    let set = ["database.parameters.shared_buffers=2GB".to_string()];
    let before = case.helm(&helm, "acme", &[]).expect("defaults");
    let after = case.helm(&helm, "acme", &set).expect("2GB");
    let want = case
        .render(
            "acme",
            &serde_json::json!({"database": {"parameters": {"shared_buffers": "2GB"}}}),
        )
        .expect("compiles");
    let key = |kind: &str, name: &str| (kind.to_string(), name.to_string());
    let patroni = |objects: &Objects| {
        objects[&key("ConfigMap", "postgres-patroni")]["data"]["patroni.yml"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let checksum = |objects: &Objects| {
        objects[&key("StatefulSet", "postgres")]["spec"]["template"]["metadata"]["annotations"]
            ["checksum/config"]
            .clone()
    };
    assert!(patroni(&before).contains("shared_buffers: 1GB"));
    assert!(
        patroni(&after).contains("shared_buffers: 2GB"),
        "{}",
        patroni(&after)
    );
    assert_ne!(checksum(&before), checksum(&after), "the members roll");
    assert_eq!(patroni(&after), patroni(&want));
    assert_eq!(checksum(&after), checksum(&want));
}

#[test]
fn values_outside_the_tunable_set_or_their_range_are_refused_by_the_schema() {
    let Some(helm) = helm() else { return };
    let case = Case::new();
    for (set, message) in [
        (
            "database.parameters.shared_bufers=2GB",
            "database.parameters: Additional property shared_bufers is not allowed",
        ),
        (
            "app.image=nginx:latest",
            "app: Additional property image is not allowed",
        ),
        (
            "database.pgpool.maxPool=1000",
            "database.pgpool.maxPool: Must be less than or equal to 100",
        ),
        // Patroni's floor (E0322) and PostgreSQL's bounds, per parameter.
        (
            "database.parameters.max_connections=10",
            "max_connections: Must be greater than or equal to 25",
        ),
        (
            "database.parameters.wal_level=minimal",
            "wal_level: Does not match pattern",
        ),
        (
            "database.parameters.work_mem=4XB",
            "work_mem: Does not match pattern",
        ),
        // A parameter gitopsc sets itself, and one the archive owns.
        (
            "database.parameters.ssl=off",
            "Additional property ssl is not allowed",
        ),
        (
            "database.parameters.archive_command=true",
            "Additional property archive_command is not allowed",
        ),
        (
            "database.resources.limits.memory=lots",
            "memory: Does not match pattern",
        ),
        (
            "database.parameters.max_connections=null",
            "max_connections is required",
        ),
        // autoscaling is on for acme: a fixed size would do nothing.
        (
            "app.replicas=3",
            "app: Additional property replicas is not allowed",
        ),
    ] {
        let refused = case.helm(&helm, "acme", &[set.to_string()]).expect_err(set);
        assert!(
            refused.contains("values don't meet the specifications of the schema")
                && refused.contains(message),
            "{set}: {refused}"
        );
    }
    // What a schema cannot state: the compiler's code and message.
    for (set, message) in [
        (
            "app.autoscaling.minReplicas=13",
            "error[E0302]: minReplicas (13) is greater than maxReplicas (12)",
        ),
        (
            "database.parameters.work_mem=3TB",
            "error[E0310]: `work_mem = 3TB`: outside the range 64–2147483647 (in units of kB)",
        ),
        (
            "string:database.parameters.max_connections=10",
            "error[E0322]: Patroni replaces `max_connections = 10` with its own default",
        ),
        (
            "database.parameters.shared_buffers=3GB",
            "error[E0326]: PostgreSQL may use 4784 MiB",
        ),
        (
            "database.resources.requests.cpu=3",
            "error[E0317]: cpu request (3) is larger than its limit (2)",
        ),
    ] {
        let refused = case.helm(&helm, "acme", &[set.to_string()]).expect_err(set);
        assert!(refused.contains(message), "{set}: {refused}");
    }
    // Another namespace than the objects name is refused, with the command to use.
    let refused = helm_template(&helm, &case.work.path().join("charts/acme"), "default", &[])
        .expect_err("namespace");
    assert!(refused.contains("--namespace acme"), "{refused}");
    // globex runs a fixed number of app pods, so there it is app.replicas that is tunable.
    let globex = case
        .helm(&helm, "globex", &["app.replicas=5".into()])
        .expect("globex");
    assert_eq!(
        globex[&("Deployment".to_string(), "app".to_string())]["spec"]["replicas"],
        5
    );
}
