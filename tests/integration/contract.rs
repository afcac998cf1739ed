//! The output contract of DESIGN §3, one test per rule.

use std::process::Stdio;
use std::time::Duration;

use super::{TempDir, copy_tree, gitopsc, render_ok, run, text, tree, workspace};

/// A work folder holding a copy of the shipped profiles.

#[test]
fn two_renders_are_byte_identical() {
    let work = workspace("twice");
    render_ok(work.path(), &["render", "--out", "a"]);
    render_ok(work.path(), &["render", "--out", "b"]);
    let a = tree(&work.path().join("a"));
    assert!(a.len() > 10, "render wrote the customers");
    assert_eq!(a, tree(&work.path().join("b")));
}

#[test]
fn output_does_not_depend_on_jobs() {
    let work = TempDir::new("jobs");
    super::fleet::write(&work.path().join("profiles"), 40).expect("fleet");
    render_ok(work.path(), &["render", "--jobs", "1", "--out", "one"]);
    render_ok(work.path(), &["render", "--jobs", "4", "--out", "four"]);
    assert_eq!(
        tree(&work.path().join("one")),
        tree(&work.path().join("four"))
    );
}

#[test]
fn output_does_not_depend_on_input_order() {
    let work = workspace("order");
    let files = [
        "profiles/acme.yaml",
        "profiles/globex.yaml",
        "profiles/initech.yaml",
    ];
    render_ok(
        work.path(),
        &["render", files[0], files[1], files[2], "--out", "forward"],
    );
    render_ok(
        work.path(),
        &["render", files[2], files[0], files[1], "--out", "shuffled"],
    );
    let forward = tree(&work.path().join("forward"));
    assert!(!forward.is_empty());
    assert_eq!(forward, tree(&work.path().join("shuffled")));
}

#[test]
fn output_does_not_depend_on_the_current_directory() {
    let work = workspace("cwd");
    render_ok(work.path(), &["render", "--out", "here"]);
    let elsewhere = TempDir::new("elsewhere");
    let profiles = work.path().join("profiles");
    let out = work.path().join("there");
    render_ok(
        elsewhere.path(),
        &[
            "render",
            profiles.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(tree(&work.path().join("here")), tree(&out));
    for (path, bytes) in tree(&out) {
        assert!(
            !text(&bytes).contains(work.path().to_str().expect("utf-8")),
            "{path} holds an absolute path"
        );
    }
}

#[test]
fn an_invalid_profile_anywhere_leaves_out_untouched() {
    let work = workspace("all-or-nothing");
    render_ok(work.path(), &["render"]);
    let before = tree(&work.path().join("out"));
    // One valid change and one invalid profile: neither may reach out/.
    let defaults = work.path().join("profiles/_defaults.yaml");
    let changed = std::fs::read_to_string(&defaults)
        .expect("read")
        .replace("LOG_LEVEL: info", "LOG_LEVEL: debug");
    std::fs::write(&defaults, changed).expect("write");
    std::fs::write(
        work.path().join("profiles/zeta.yaml"),
        "apiVersion: gitopsc/v1alpha1\nkind: CustomerProfile\nmetadata:\n  name: zeta\nextends: [_defaults.yaml]\nspec:\n  app:\n    replica: 3\n",
    )
    .expect("write");
    let output = run(work.path(), &["--color", "never", "render"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("profiles/zeta.yaml:8:5: error[E0100]"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(
        tree(&work.path().join("out")),
        before,
        "out/ changed although a profile is invalid"
    );
}

#[test]
fn hand_edits_are_refused_without_force() {
    let work = workspace("hand-edits");
    render_ok(work.path(), &["render"]);
    let stray = work.path().join("out/acme/app/extra.yaml");
    std::fs::write(&stray, "kind: ConfigMap\n").expect("write");
    let defaults = work.path().join("profiles/_defaults.yaml");
    let changed = std::fs::read_to_string(&defaults)
        .expect("read")
        .replace("LOG_LEVEL: info", "LOG_LEVEL: debug");
    std::fs::write(&defaults, changed).expect("write");
    let before = tree(&work.path().join("out"));

    let refused = run(work.path(), &["render"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("out/acme/app/extra.yaml: not listed in gitopsc.lock"),
        "{}",
        text(&refused.stderr)
    );
    assert_eq!(
        tree(&work.path().join("out")),
        before,
        "a refused render changed out/"
    );

    // An edit to a file the lock lists is a hand edit too.
    std::fs::remove_file(&stray).expect("remove");
    let deployment = work.path().join("out/globex/app/deployment-app.yaml");
    let edited = std::fs::read_to_string(&deployment)
        .expect("read")
        .replace("replicas: 4", "replicas: 5");
    std::fs::write(&deployment, edited).expect("write");
    let refused = run(work.path(), &["render"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        text(&refused.stderr).contains("deployment-app.yaml: changed since gitopsc wrote it"),
        "{}",
        text(&refused.stderr)
    );

    std::fs::write(&stray, "kind: ConfigMap\n").expect("write");
    render_ok(work.path(), &["render", "--force"]);
    assert!(
        !stray.exists(),
        "--force replaces the folder, stray file included"
    );
    render_ok(work.path(), &["render", "--check"]);
}

/// A folder gitopsc did not write (no lock) is never replaced without --force.
#[test]
fn folders_without_a_lock_are_not_taken_over() {
    let work = workspace("foreign");
    let foreign = work.path().join("out/acme");
    std::fs::create_dir_all(&foreign).expect("mkdir");
    std::fs::write(foreign.join("notes.txt"), "mine\n").expect("write");
    let output = run(work.path(), &["render"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("out/acme/gitopsc.lock: missing or unreadable"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(foreign.join("notes.txt")).expect("kept"),
        "mine\n"
    );
    assert!(
        !work.path().join("out/globex").exists(),
        "a refusal writes nothing at all"
    );
}

#[test]
fn check_names_drifting_files() {
    let work = workspace("check");
    render_ok(work.path(), &["render"]);
    let service = work.path().join("out/acme/app/service-app.yaml");
    let edited = std::fs::read_to_string(&service)
        .expect("read")
        .replace("port: 8080", "port: 8081");
    std::fs::write(&service, edited).expect("write");
    let output = run(work.path(), &["render", "--check"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("drift: out/acme/app/service-app.yaml: differs"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("globex"),
        "only the drifting file is named: {stderr}"
    );
}

#[test]
fn removed_profiles_and_objects_are_pruned() {
    let work = workspace("prune");
    render_ok(work.path(), &["render"]);
    assert!(
        work.path()
            .join("out/acme/app/horizontalpodautoscaler-app.yaml")
            .is_file()
    );
    std::fs::remove_file(work.path().join("profiles/initech.yaml")).expect("remove");
    let acme = work.path().join("profiles/acme.yaml");
    let fixed = std::fs::read_to_string(&acme).expect("read").replace(
        "    autoscaling:\n      enabled: true",
        "    autoscaling:\n      enabled: false",
    );
    std::fs::write(&acme, fixed).expect("write");
    let check = run(work.path(), &["render", "--check"]);
    assert_eq!(check.status.code(), Some(1));
    assert!(
        text(&check.stderr).contains("out/initech: no profile produces this folder"),
        "{}",
        text(&check.stderr)
    );
    // Removing a customer removes its database: the guard asks for it by name.
    let refused = run(work.path(), &["render"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(work.path().join("out/initech").is_dir(), "nothing written");
    render_ok(work.path(), &["render", "--allow-destroy", "initech"]);
    assert!(
        !work.path().join("out/initech").exists(),
        "a customer without a profile is removed"
    );
    assert!(
        !work
            .path()
            .join("out/acme/app/horizontalpodautoscaler-app.yaml")
            .exists(),
        "the HPA is gone"
    );
    let deployment = std::fs::read_to_string(work.path().join("out/acme/app/deployment-app.yaml"))
        .expect("read");
    assert!(
        deployment.contains("  replicas: 3\n"),
        "without the HPA the Deployment sets replicas"
    );
}

/// Kills renders at many points; every customer folder must be wholly old or wholly new.
#[test]
fn a_killed_render_leaves_the_old_or_the_new_tree() {
    let work = TempDir::new("kill");
    let profiles = work.path().join("profiles");
    super::fleet::write(&profiles, 200).expect("fleet");
    render_ok(work.path(), &["render", "--out", "old"]);
    let defaults = profiles.join("_defaults.yaml");
    let original = std::fs::read_to_string(&defaults).expect("read");
    std::fs::write(
        &defaults,
        original.replace("memory: 256Mi", "memory: 300Mi"),
    )
    .expect("write");
    render_ok(work.path(), &["render", "--out", "new"]);
    let old = tree(&work.path().join("old"));
    let new = tree(&work.path().join("new"));
    let customer_files = |all: &[(String, Vec<u8>)], name: &str| -> Vec<(String, Vec<u8>)> {
        all.iter()
            .filter(|(p, _)| p.starts_with(&format!("{name}/")))
            .cloned()
            .collect()
    };
    // The kill lands as the swaps begin: the render is killed as soon as the first customer
    // reads new, while most of the 200 are still to be swapped. (A fixed delay missed that
    // moment on a busy machine.)
    let mut saw_mix_of_old_and_new = false;
    for attempt in 0..8u64 {
        if saw_mix_of_old_and_new {
            break;
        }
        let out = work.path().join(format!("out-{attempt}"));
        copy_tree(&work.path().join("old"), &out);
        let mut child = gitopsc(work.path())
            .args([
                "render",
                "--jobs",
                "2",
                "--out",
                out.to_str().expect("utf-8"),
            ])
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let first = out.join("customer-00000/app/deployment-app.yaml");
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(120)
            && !std::fs::read_to_string(&first).is_ok_and(|t| t.contains("memory: 300Mi"))
            && matches!(child.try_wait(), Ok(None))
        {
            std::thread::sleep(Duration::from_micros(200));
        }
        let _ = child.kill();
        let _ = child.wait();
        let now = tree(&out);
        let mut old_count = 0;
        let mut new_count = 0;
        for i in 0..200 {
            let name = format!("customer-{i:05}");
            let here: Vec<_> = customer_files(&now, &name)
                .into_iter()
                .map(|(p, b)| (p.trim_start_matches(&format!("{name}/")).to_string(), b))
                .collect();
            let strip = |all: &[(String, Vec<u8>)]| -> Vec<(String, Vec<u8>)> {
                customer_files(all, &name)
                    .into_iter()
                    .map(|(p, b)| (p.trim_start_matches(&format!("{name}/")).to_string(), b))
                    .collect()
            };
            if here == strip(&old) {
                old_count += 1;
            } else if here == strip(&new) {
                new_count += 1;
            } else {
                panic!("attempt {attempt}: {name} is neither the old nor the new tree");
            }
        }
        saw_mix_of_old_and_new |= old_count > 0 && new_count > 0;
        // A later render clears the leftovers and finishes the job.
        render_ok(
            work.path(),
            &["render", "--out", out.to_str().expect("utf-8")],
        );
        assert_eq!(
            tree(&out),
            new,
            "attempt {attempt}: the next render completes the tree"
        );
    }
    assert!(
        saw_mix_of_old_and_new,
        "no kill landed mid-render in 8 attempts: the test proved nothing"
    );
}

/// Every JSON pointer the checks, the model and the compiler report at is a field the
/// profile schema defines: a typo would silently report at the parent field instead.
#[test]
fn every_reported_field_path_is_in_the_schema() {
    let mut checked = 0;
    let mut unknown = Vec::new();
    for file in ["src/check.rs", "src/model.rs", "src/compiler.rs"] {
        let source = std::fs::read_to_string(super::root().join(file)).expect("source");
        for literal in source.split('"').skip(1).step_by(2) {
            if !(literal.starts_with("/spec/") || literal.starts_with("/metadata/")) {
                continue;
            }
            // A formatted pointer is checked up to its first placeholder.
            let fixed = literal.split("/{").next().unwrap_or(literal);
            checked += 1;
            if !gitopsc::validate::defines(fixed) {
                unknown.push(format!("{file}: {literal}"));
            }
        }
    }
    assert!(checked > 40, "found only {checked} pointers");
    // The lookup itself tells a field from a typo, through Option wrappers and maps.
    assert!(gitopsc::validate::defines("/spec/backup/snapshots/image"));
    assert!(gitopsc::validate::defines(
        "/spec/database/parameters/work_mem"
    ));
    assert!(!gitopsc::validate::defines("/spec/backup/snapshot/image"));
    assert!(
        unknown.is_empty(),
        "pointers the schema does not define:\n{}",
        unknown.join("\n")
    );
}

/// An unset `max_connections` is sized for Pgpool above both kinds of reserved slot, so a
/// profile that reserves connections (`reserved_connections`, PostgreSQL 16) and leaves
/// `max_connections` to gitopsc compiles, and Pgpool can never take the reserved slots.
#[test]
fn computed_max_connections_leaves_every_reserved_slot_free() {
    let work = workspace("reserved-connections");
    let profiles = work.path().join("profiles");
    let mut unset = 0;
    for entry in std::fs::read_dir(&profiles).expect("profiles").flatten() {
        let path = entry.path();
        let text = std::fs::read_to_string(&path).expect("profile");
        let mut changed: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("max_connections:"))
            .map(|l| format!("{l}\n"))
            .collect();
        if path.ends_with("_defaults.yaml") {
            changed = changed.replace(
                "    parameters:\n",
                "    parameters:\n      reserved_connections: 20\n",
            );
        }
        unset += usize::from(changed.len() < text.len());
        std::fs::write(&path, changed).expect("write");
    }
    assert!(unset >= 2, "the profiles set max_connections");
    let files = gitopsc::compiler::discover(&[profiles])
        .expect("profiles")
        .files;
    let fleet = gitopsc::compiler::compile(&files, 2);
    assert!(!fleet.has_errors(), "{:?}", fleet.diagnostics);
    for compiled in &fleet.customers {
        let database = &crate::model(compiled).database;
        let max: u64 = database.parameters["max_connections"]
            .parse()
            .expect("number");
        let demand = u64::from(database.pgpool.replicas)
            * u64::from(database.pgpool.num_init_children)
            * u64::from(database.pgpool.max_pool);
        assert!(
            max >= demand + 3 + 20,
            "{}: max_connections {max} leaves Pgpool's {demand} inside the 23 reserved slots",
            compiled.member.name
        );
    }
}

/// The schema's `default`s, nested as a layer: every field that has one, on the path a
/// profile writes it (lists are skipped; their items have no defaults).
fn schema_defaults(schema: &serde_json::Value, here: &serde_json::Value) -> serde_json::Value {
    let mut here = here;
    while let Some(target) = here
        .get("$ref")
        .and_then(|r| r.as_str())
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|p| schema.pointer(p))
    {
        here = target;
    }
    let mut layer = serde_json::Map::new();
    for (name, field) in here
        .get("properties")
        .and_then(|p| p.as_object())
        .into_iter()
        .flatten()
    {
        if let Some(default) = field.get("default") {
            layer.insert(name.clone(), default.clone());
            continue;
        }
        let nested = schema_defaults(schema, field);
        if nested.as_object().is_some_and(|o| !o.is_empty()) {
            layer.insert(name.clone(), nested);
        }
    }
    serde_json::Value::Object(layer)
}

/// One default, one place: writing every schema `default` into a layer under each chain of
/// every shipped profile and valid fixture changes no output byte. A default the schema
/// documents but the model does not apply (or applies differently) shows up here.
#[test]
fn writing_every_schema_default_changes_nothing() {
    let schema = gitopsc::validate::schema();
    let mut spec = schema_defaults(schema, schema);
    let spec = spec
        .as_object_mut()
        .and_then(|root| root.remove("spec"))
        .expect("the schema has defaults under spec");
    assert!(
        spec.pointer("/app/port").is_some() && spec.pointer("/database/pgpool/maxPool").is_some(),
        "defaults reached the schema: {spec}"
    );
    let layer = serde_json::json!({
        "apiVersion": "gitopsc/v1alpha1",
        "kind": "CustomerProfile",
        "spec": spec,
    });
    for folder in super::profile_folders() {
        let work = TempDir::new("defaults");
        let as_written = work.path().join("as-written");
        let explicit = work.path().join("explicit");
        copy_tree(&folder, &as_written.join("profiles"));
        copy_tree(&folder, &explicit.join("profiles"));
        let profiles = explicit.join("profiles");
        // JSON is YAML: the layer is written as it is.
        std::fs::write(profiles.join("_schema-defaults.yaml"), layer.to_string())
            .expect("write layer");
        for (path, bytes) in tree(&profiles) {
            let yaml = String::from_utf8(bytes).expect("utf-8");
            if path.starts_with("_schema") || yaml.lines().any(|l| l.starts_with("extends:")) {
                continue;
            }
            // The root of each chain extends the defaults, so they sit under everything.
            let with_layer = yaml.replacen(
                "\nkind: CustomerProfile\n",
                "\nkind: CustomerProfile\nextends: [_schema-defaults.yaml]\n",
                1,
            );
            assert_ne!(with_layer, yaml, "{path} declares its kind on one line");
            std::fs::write(profiles.join(&path), with_layer).expect("write");
        }
        render_ok(&as_written, &["render"]);
        render_ok(&explicit, &["render"]);
        let a = tree(&as_written.join("out"));
        let b: Vec<_> = tree(&explicit.join("out"));
        // The lock's input digests differ (the inputs do); every other file must not.
        let outputs = |files: Vec<(String, Vec<u8>)>| -> Vec<(String, Vec<u8>)> {
            files
                .into_iter()
                .filter(|(p, _)| !p.ends_with("gitopsc.lock"))
                .collect()
        };
        assert!(!a.is_empty(), "{}", folder.display());
        assert_eq!(outputs(a), outputs(b), "{}", folder.display());
    }
}
