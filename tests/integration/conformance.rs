//! Every compiled customer (shipped profiles and valid fixtures) against the real tools:
//! kubernetes-validate, kubectl kustomize, checkov, and an independent JSON Schema validator.
//! Without a tool the test prints "skipped: <tool> not installed"; with
//! GITOPSC_REQUIRE_TOOLS=1 (scripts/test.sh) it fails instead.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::{
    TempDir, copy_tree, parse_yaml as parse, profile_folders, root, run, text, tool, tree,
};

/// The Kubernetes minors the output is validated for (k8s-openapi is built for 1.35).
const SUPPORTED_MINORS: &[&str] = &["1.33.0", "1.34.0", "1.35.0", "1.36.0", "1.37.0"];

/// One folder holding every compiled customer, rendered once per test run.
fn compiled() -> &'static Path {
    static OUT: OnceLock<TempDir> = OnceLock::new();
    OUT.get_or_init(|| {
        let out = TempDir::new("conformance");
        // A generated fleet too: profiles nobody wrote by hand must pass the same checks.
        let generated = TempDir::new("generated-profiles");
        super::fleet::write(generated.path(), 6).expect("fleet");
        let output = run(
            &root(),
            &[
                "render",
                generated.path().to_str().expect("utf-8"),
                "--out",
                out.path().join("generated").to_str().expect("utf-8"),
            ],
        );
        assert_eq!(
            output.status.code(),
            Some(0),
            "generated fleet: {}",
            text(&output.stderr)
        );
        for folder in profile_folders() {
            // One output folder per profile folder: each is a whole fleet of its own.
            let target = out.path().join(folder.file_name().expect("folder name"));
            let output = run(
                &root(),
                &[
                    "render",
                    folder.to_str().expect("utf-8"),
                    "--out",
                    target.to_str().expect("utf-8"),
                ],
            );
            assert_eq!(
                output.status.code(),
                Some(0),
                "{}: {}",
                folder.display(),
                text(&output.stderr)
            );
        }
        out
    })
    .path()
}

pub fn customers() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(compiled())
        .expect("compiled")
        .flatten()
        .flat_map(|fleet| {
            std::fs::read_dir(fleet.path())
                .expect("fleet")
                .flatten()
                .map(|e| e.path())
        })
        .filter(|p| p.join("kustomization.yaml").is_file())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 6,
        "expected every customer compiled, found {dirs:?}"
    );
    dirs
}

/// The object files a folder lists in its kustomization.
pub fn object_files(customer: &Path) -> Vec<PathBuf> {
    let kustomization = parse(
        &std::fs::read_to_string(customer.join("kustomization.yaml")).expect("kustomization"),
    );
    kustomization["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| customer.join(r.as_str().expect("a path")))
        .collect()
}

#[test]
fn objects_pass_kubernetes_validate_strict() {
    let Some(validate) = tool("kubernetes-validate") else {
        return;
    };
    let files: Vec<PathBuf> = customers().iter().flat_map(|c| object_files(c)).collect();
    for minor in SUPPORTED_MINORS {
        let output = Command::new(&validate)
            .args(["--strict", "--quiet", "--kubernetes-version", minor])
            .args(&files)
            .output()
            .expect("kubernetes-validate runs");
        assert!(
            output.status.success(),
            "kubernetes-validate --strict -k {minor}:\n{}{}",
            text(&output.stdout),
            text(&output.stderr)
        );
    }
}

#[test]
fn kustomize_builds_exactly_the_compiled_objects() {
    let Some(kubectl) = tool("kubectl") else {
        return;
    };
    for customer in customers() {
        let output = Command::new(&kubectl)
            .arg("kustomize")
            .arg(&customer)
            .output()
            .expect("kubectl runs");
        assert!(
            output.status.success(),
            "{}: {}",
            customer.display(),
            text(&output.stderr)
        );
        let mut built: Vec<serde_json::Value> = text(&output.stdout)
            .split("\n---\n")
            .filter(|doc| !doc.trim().is_empty())
            .map(parse)
            .collect();
        let mut compiled: Vec<serde_json::Value> = object_files(&customer)
            .iter()
            .map(|f| parse(&std::fs::read_to_string(f).expect("read")))
            .collect();
        let key = |v: &serde_json::Value| {
            let field = |f: &str| v["metadata"][f].as_str().unwrap_or_default().to_string();
            (
                v["kind"].as_str().unwrap_or_default().to_string(),
                field("namespace"),
                field("name"),
            )
        };
        built.sort_by_key(key);
        compiled.sort_by_key(key);
        assert_eq!(
            built.len(),
            compiled.len(),
            "{}: object count",
            customer.display()
        );
        assert_eq!(
            built,
            compiled,
            "{}: kustomize changed an object",
            customer.display()
        );
    }
}

#[test]
fn checkov_reports_no_failed_check() {
    let Some(checkov) = tool("checkov") else {
        return;
    };
    let output = Command::new(&checkov)
        .args(["--directory"])
        .arg(compiled())
        .args([
            "--framework",
            "kubernetes",
            "--skip-download",
            "--output",
            "json",
            "--quiet",
            "--compact",
        ])
        .output()
        .expect("checkov runs");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "checkov JSON ({e}):\n{}\n{}",
            text(&output.stdout),
            text(&output.stderr)
        )
    });
    let summary = &report["summary"];
    assert!(
        summary["passed"].as_u64().unwrap_or(0) > 50,
        "checkov checked the objects: {summary}"
    );
    let failed: Vec<String> = report["results"]["failed_checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| format!("{} {} {}", c["check_id"], c["resource"], c["file_path"]))
        .collect();
    assert!(
        failed.is_empty(),
        "checkov failed checks:\n{}",
        failed.join("\n")
    );
    assert_eq!(summary["failed"].as_u64(), Some(0), "{summary}");
}

fn python_with_yaml_and_jsonschema() -> Option<PathBuf> {
    super::python_with("jsonschema, yaml")
}

/// Custom resources (BackendConfig, ManagedCertificate, ...) against their upstream CRD
/// schemas with `../shared/crds/validate.py`, which rejects unknown fields.
#[test]
fn custom_resources_pass_their_crd_schemas() {
    let crds = root().join("../shared/crds");
    if !crds.join("validate.py").is_file() {
        assert!(
            !super::tools_required(),
            "../shared/crds/validate.py is required but absent"
        );
        eprintln!("skipped: ../shared/crds not present");
        return;
    }
    let Some(python) = python_with_yaml_and_jsonschema() else {
        return;
    };
    let output = Command::new(&python)
        .arg(crds.join("validate.py"))
        .arg("--crds")
        .arg(&crds)
        .arg("--crds")
        .arg(crds.join("third_party"))
        .arg(compiled())
        .output()
        .expect("validate.py runs");
    let stdout = text(&output.stdout);
    let summary = stdout.lines().last().unwrap_or_default();
    let counts: Vec<u64> = summary
        .split([' ', ','])
        .filter_map(|w| w.parse().ok())
        .collect();
    // Every custom resource we emit but FrontendConfig (no published CRD) has a schema:
    // BackendConfig, ManagedCertificate, ExternalSecret, SecretStore, cert-manager's
    // Certificate and Issuer, the monitors and rules of both
    // monitoring providers, and Argo CD's Application, AppProject, ApplicationSet.
    let covered = [
        "/backendconfig-",
        "/externalsecret-",
        "/secretstore-",
        "/certificate-",
        "/issuer-",
        "/podmonitor-",
        "/volumesnapshotclass-",
        "/podmonitoring-",
        "/prometheusrule-",
        "/clusterrules-",
        "/managedcertificate-",
        "/applications/",
        "/applicationset/",
        "/projects/",
    ];
    let expected = tree(compiled())
        .iter()
        .filter(|(p, _)| covered.iter().any(|c| p.contains(c)))
        .count() as u64;
    assert!(
        output.status.success(),
        "validate.py:\n{stdout}{}",
        text(&output.stderr)
    );
    assert_eq!(counts.get(1), Some(&0), "{summary}");
    assert!(
        expected >= 10 && counts.first() == Some(&expected),
        "{summary}: expected {expected} checked"
    );
}

/// DESIGN §6.2: the profiles are valid under an independent implementation of the schema,
/// which rejects a typo just as gitopsc does.
#[test]
fn profiles_validate_with_an_independent_json_schema_validator() {
    let Some(python) = python_with_yaml_and_jsonschema() else {
        return;
    };
    let script = r#"
import json, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
validator = jsonschema.Draft202012Validator(schema)
bad = 0
for path in sys.argv[2:]:
    for error in validator.iter_errors(yaml.safe_load(open(path))):
        bad += 1
        print(f"{path}: {error.json_path}: {error.message}")
sys.exit(1 if bad else 0)
"#;
    let schema = root().join("schema/profile.schema.json");
    let mut files: Vec<PathBuf> = Vec::new();
    for folder in profile_folders() {
        files.extend(
            tree(&folder)
                .into_iter()
                .map(|(p, _)| folder.join(p))
                .filter(|p| p.extension().is_some_and(|e| e == "yaml")),
        );
    }
    let valid = Command::new(&python)
        .args(["-c", script])
        .arg(&schema)
        .args(&files)
        .output()
        .expect("python runs");
    assert!(
        valid.status.success(),
        "independent validator rejected a profile:\n{}{}",
        text(&valid.stdout),
        text(&valid.stderr)
    );
    let typo = root().join("tests/fixtures/invalid/unknown-field/acme.yaml");
    let invalid = Command::new(&python)
        .args(["-c", script])
        .arg(&schema)
        .arg(&typo)
        .output()
        .expect("python runs");
    assert!(
        !invalid.status.success(),
        "the independent validator must reject an unknown field"
    );
    assert!(
        text(&invalid.stdout).contains("replica"),
        "{}",
        text(&invalid.stdout)
    );
}

/// The committed out/ is what the committed profiles compile to.
#[test]
fn committed_out_is_up_to_date() {
    let output = run(&root(), &["render", "--check"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "run `cargo run -- render` and commit out/:\n{}",
        text(&output.stderr)
    );
}

/// A render of the shipped profiles into a copy of out/ changes nothing.
#[test]
fn render_of_committed_out_is_a_no_op() {
    let work = TempDir::new("noop");
    copy_tree(&root().join("out"), &work.path().join("out"));
    copy_tree(&root().join("profiles"), &work.path().join("profiles"));
    let before = tree(&work.path().join("out"));
    let output = run(work.path(), &["render"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(tree(&work.path().join("out")), before);
}

/// Every file of every compiled ConfigMap, as (customer folder, file name, content).
fn config_map_files() -> Vec<(PathBuf, String, String)> {
    let mut files = Vec::new();
    for customer in customers() {
        for object in object_files(&customer) {
            let value = parse(&std::fs::read_to_string(&object).expect("object"));
            if value["kind"] != "ConfigMap" {
                continue;
            }
            for (key, content) in value["data"].as_object().into_iter().flatten() {
                files.push((
                    object.clone(),
                    key.clone(),
                    content.as_str().unwrap_or_default().to_string(),
                ));
            }
        }
    }
    files
}

/// The scripts the pods run (Patroni's start and bootstrap, the config sidecar, Pgpool's
/// start) pass shellcheck as POSIX sh, exactly as compiled.
#[test]
fn compiled_scripts_pass_shellcheck() {
    let Some(shellcheck) = tool("shellcheck") else {
        return;
    };
    let scripts: Vec<(PathBuf, String, String)> = config_map_files()
        .into_iter()
        .filter(|(_, key, _)| key.ends_with(".sh"))
        .collect();
    assert!(
        scripts.len() >= 4 * 6,
        "expected the scripts of every customer"
    );
    let work = TempDir::new("shellcheck");
    for (i, (object, key, content)) in scripts.iter().enumerate() {
        let file = work.path().join(format!("{i}-{key}"));
        std::fs::write(&file, content).expect("write script");
        let output = Command::new(&shellcheck)
            .args(["--shell=sh", "--severity=style"])
            .arg(&file)
            .output()
            .expect("shellcheck runs");
        assert!(
            output.status.success(),
            "{} {key}:\n{}",
            object.display(),
            text(&output.stdout)
        );
    }
}

/// Pgpool-II 4.3 ignores a parameter name it does not know, so a typo would silently keep
/// a default. Every name in every compiled pgpool.conf must be one the installed Pgpool
/// documents (the `GUC-*` anchors of its reference pages; backend_*N without the index).
#[test]
fn pgpool_conf_uses_only_documented_parameters() {
    let docs = Path::new("/usr/share/doc/pgpool2");
    let Some(_) = tool("pgpool") else {
        return;
    };
    let mut documented = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(docs).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // Release notes mention parameters of other versions.
        if !name.ends_with(".html") || name.starts_with("release-") {
            continue;
        }
        let html = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for anchor in html.split("GUC-").skip(1) {
            let id: String = anchor
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            documented.insert(id.to_ascii_lowercase().replace('-', "_"));
        }
    }
    assert!(
        documented.len() > 100,
        "Pgpool's HTML reference is not installed under {}",
        docs.display()
    );
    let mut checked = 0;
    for (object, key, content) in config_map_files() {
        if key != "pgpool.conf" {
            continue;
        }
        for line in content.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let name = line.split('=').next().unwrap_or_default().trim();
            let generic = name.trim_end_matches(|c: char| c.is_ascii_digit());
            assert!(
                documented.contains(name) || documented.contains(generic),
                "{}: `{name}` is not a documented Pgpool-II parameter",
                object.display()
            );
            checked += 1;
        }
    }
    assert!(checked > 50 * 6, "checked only {checked} lines");
}

/// Credentials are references: no compiled object is a Secret, no container gets a
/// password as a literal environment value, and every password reaches a pod only as a
/// mounted Secret file or a `secretKeyRef`.
#[test]
fn no_secret_value_is_compiled() {
    let mut containers = 0;
    for customer in customers() {
        for object in object_files(&customer) {
            let value = parse(&std::fs::read_to_string(&object).expect("object"));
            assert_ne!(value["kind"], "Secret", "{}", object.display());
            let Some(pod) = value.pointer("/spec/template/spec") else {
                continue;
            };
            for container in pod["containers"].as_array().into_iter().flatten() {
                containers += 1;
                for env in container["env"].as_array().into_iter().flatten() {
                    let name = env["name"].as_str().unwrap_or_default().to_uppercase();
                    let secretish = ["PASSWORD", "SECRET", "TOKEN", "KEY"]
                        .iter()
                        .any(|w| name.contains(w));
                    assert!(
                        !(secretish && env.get("value").is_some()),
                        "{}: {name} has a literal value",
                        object.display()
                    );
                }
            }
        }
    }
    assert!(containers > 10, "checked only {containers} containers");
}
