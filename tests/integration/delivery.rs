//! GitOps delivery (docs/delivery.md): Argo CD objects and sync waves, the review diff, Helm
//! charts, the customer overlay, the pull-request workflow.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::netpol::{Cluster, Endpoint, Pod};
use super::{TempDir, copy_tree, parse_yaml, render_ok, root, run, text, tool, tree, workspace};

fn yaml_files(dir: &Path) -> Vec<(String, Value)> {
    tree(dir)
        .into_iter()
        .filter(|(p, _)| p.ends_with(".yaml"))
        .map(|(p, bytes)| (p, parse_yaml(&text(&bytes))))
        .collect()
}

#[test]
fn argocd_objects_fence_and_sync_each_customer() {
    let out = root().join("out/_argocd");
    let files = yaml_files(&out);
    let get = |path: &str| {
        files
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, v)| v.clone())
            .expect(path)
    };
    for customer in ["acme", "globex", "initech"] {
        let app = get(&format!("applications/{customer}.yaml"));
        assert_eq!(app["spec"]["source"]["path"], format!("out/{customer}"));
        assert_eq!(
            app["spec"]["syncPolicy"]["automated"],
            serde_json::json!({"prune": true, "selfHeal": true})
        );
        let options = app["spec"]["syncPolicy"]["syncOptions"].to_string();
        assert!(
            options.contains("ServerSideApply=true") && options.contains("PruneLast=true"),
            "{options}"
        );
        assert!(app["spec"]["syncPolicy"]["retry"]["backoff"].is_object());
        let project = get(&format!(
            "projects/{}.yaml",
            app["spec"]["project"].as_str().expect("project")
        ));
        assert_eq!(
            project["spec"]["sourceRepos"],
            serde_json::json!(["https://github.com/vendor/gitops-fleet.git"])
        );
        assert_eq!(
            project["spec"]["destinations"][0]["namespace"], customer,
            "only the customer's namespace"
        );
        // Cluster-scoped kinds: exactly those the customer's output holds.
        let mut cluster_kinds = std::collections::BTreeSet::new();
        for (path, object) in yaml_files(&root().join("out").join(customer)) {
            if path != "kustomization.yaml" && object["metadata"]["namespace"].is_null() {
                let group = object["apiVersion"]
                    .as_str()
                    .and_then(|v| v.rsplit_once('/'))
                    .map_or("", |(g, _)| g)
                    .to_string();
                cluster_kinds.insert(format!("{group}/{}", object["kind"].as_str().unwrap_or("")));
            }
        }
        let whitelisted: std::collections::BTreeSet<String> =
            project["spec"]["clusterResourceWhitelist"]
                .as_array()
                .expect("whitelist")
                .iter()
                .map(|k| {
                    format!(
                        "{}/{}",
                        k["group"].as_str().unwrap_or(""),
                        k["kind"].as_str().unwrap_or("")
                    )
                })
                .collect();
        assert_eq!(
            whitelisted, cluster_kinds,
            "cluster-scoped kinds: exactly what the stack holds"
        );
        assert_eq!(project["spec"]["orphanedResources"]["warn"], true);
    }
    // The HPA-owned replica count: omitted from the Deployment, and ignored if set elsewhere.
    // Only the app's: Pgpool's replica count is the profile's and must reach the cluster.
    let deployment_ignores = |customer: &str| -> Vec<serde_json::Value> {
        let application = get(&format!("applications/{customer}.yaml"));
        let ignores = application["spec"]["ignoreDifferences"].as_array().cloned();
        ignores
            .unwrap_or_default()
            .into_iter()
            .filter(|i| i["kind"] == "Deployment")
            .collect()
    };
    assert_eq!(
        deployment_ignores("acme"),
        vec![
            serde_json::json!({"group": "apps", "kind": "Deployment", "name": "app",
            "jsonPointers": ["/spec/replicas"]})
        ]
    );
    assert!(deployment_ignores("globex").is_empty(), "globex has no HPA");
    // Every Application either path makes is admitted by its AppProject, by Argo CD's own
    // rule (`AppProject.isDestinationMatched`, pkg/apis/application/v1alpha1): some
    // destination whose name or server glob-matches, and whose namespace glob-matches.
    let set = get("applicationset/fleet.yaml");
    let template = serde_json::to_string(&set["spec"]["template"]).expect("template");
    let elements = set["spec"]["generators"][0]["list"]["elements"]
        .as_array()
        .expect("a list generator")
        .clone();
    assert_eq!(elements.len(), 3, "one element per customer");
    let mut checked = 0;
    for element in &elements {
        let mut generated = template.clone();
        for (key, value) in element.as_object().expect("element") {
            generated = generated.replace(&format!("{{{{{key}}}}}"), value.as_str().expect("text"));
        }
        let generated: serde_json::Value = serde_json::from_str(&generated).expect("application");
        let compiled = get(&format!(
            "applications/{}.yaml",
            generated["metadata"]["name"].as_str().expect("name")
        ));
        for app in [&generated, &compiled] {
            let project = get(&format!(
                "projects/{}.yaml",
                app["spec"]["project"].as_str().expect("project")
            ));
            assert!(
                admitted(&project, &app["spec"]["destination"]),
                "{} is refused by its project:\n{}\n{}",
                app["metadata"]["name"],
                app["spec"]["destination"],
                project["spec"]["destinations"]
            );
            checked += 1;
        }
        assert_eq!(generated["spec"]["source"], compiled["spec"]["source"]);
        assert_eq!(generated["spec"]["project"], compiled["spec"]["project"]);
    }
    assert_eq!(checked, 6);
}

/// Argo CD's `globMatch` for destinations: `*` any run, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    fn matches(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some('*'), _) => matches(&p[1..], t) || (!t.is_empty() && matches(p, &t[1..])),
            (Some('?'), Some(_)) => matches(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => matches(&p[1..], &t[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    matches(&p, &t)
}

fn admitted(project: &serde_json::Value, destination: &serde_json::Value) -> bool {
    let field = |v: &serde_json::Value, key: &str| v[key].as_str().unwrap_or("").to_string();
    let (name, server, namespace) = (
        field(destination, "name"),
        field(destination, "server"),
        field(destination, "namespace"),
    );
    project["spec"]["destinations"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|item| {
            let name_matched = !name.is_empty() && glob(&field(item, "name"), &name);
            let server_matched = !server.is_empty() && glob(&field(item, "server"), &server);
            (name_matched || server_matched) && glob(&field(item, "namespace"), &namespace)
        })
}

#[test]
fn argocd_destination_rule_refuses_what_argo_cd_refuses() {
    // The ApplicationSet this project used to generate (`name: <customer>`) against a
    // project that admits only the in-cluster server: refused, as Argo CD refused it.
    let project = serde_json::json!({"spec": {"destinations": [
        {"namespace": "acme", "server": "https://kubernetes.default.svc"}
    ]}});
    assert!(!admitted(
        &project,
        &serde_json::json!({"name": "acme", "namespace": "acme"})
    ));
    assert!(admitted(
        &project,
        &serde_json::json!({"server": "https://kubernetes.default.svc", "namespace": "acme", "name": ""})
    ));
    assert!(!admitted(
        &project,
        &serde_json::json!({"server": "https://kubernetes.default.svc", "namespace": "globex"})
    ));
}

/// Every compiled object carries a sync wave, in the order of DESIGN §5 "Packaging".
#[test]
fn sync_waves_order_the_stack() {
    let mut seen = std::collections::BTreeMap::new();
    for customer in ["acme", "globex", "initech"] {
        for (path, object) in yaml_files(&root().join("out").join(customer)) {
            if path == "kustomization.yaml" {
                continue;
            }
            let wave: i64 = object["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
                .as_str()
                .and_then(|w| w.parse().ok())
                .unwrap_or_else(|| panic!("{customer}/{path} has no sync wave"));
            let group = match (
                path.split('/').next().unwrap_or_default(),
                object["kind"].as_str().unwrap_or_default(),
            ) {
                (_, "Namespace") => "namespace",
                (
                    _,
                    "ConfigMap" | "ServiceAccount" | "Role" | "RoleBinding" | "ClusterRole"
                    | "ClusterRoleBinding" | "ExternalSecret" | "SecretStore" | "Issuer"
                    | "Certificate",
                )
                | ("network" | "monitoring", _) => "config",
                ("access", _) => "access",
                ("database" | "backup", _) => "database",
                ("pgpool", _) => "pgpool",
                _ => "app",
            };
            seen.entry(group)
                .or_insert_with(std::collections::BTreeSet::new)
                .insert(wave);
        }
    }
    let max = |g: &str| *seen[g].iter().max().expect("waves");
    let min = |g: &str| *seen[g].iter().min().expect("waves");
    assert!(max("namespace") < min("config"), "{seen:?}");
    assert!(max("config") < min("database"), "{seen:?}");
    assert!(max("database") < min("pgpool"), "{seen:?}");
    assert!(max("pgpool") < min("app"), "{seen:?}");
    assert!(max("app") < min("access"), "{seen:?}");
}

#[test]
fn argocd_folder_needs_the_whole_fleet() {
    let work = workspace("argocd-partial");
    render_ok(work.path(), &["render", "profiles/acme.yaml"]);
    assert!(work.path().join("out/acme").is_dir());
    assert!(
        !work.path().join("out/_argocd").exists(),
        "a partial render does not rewrite the fleet's Argo CD folder"
    );
    render_ok(work.path(), &["render"]);
    assert!(
        work.path()
            .join("out/_argocd/applications/initech.yaml")
            .is_file()
    );
}

/// The review diff on a fixture change: one field changed, objects added and removed.
#[test]
fn diff_reports_objects_and_fields_in_three_formats() {
    let work = workspace("diff");
    // Before: acme without an SSL policy (no FrontendConfig), initech autoscaled (an HPA).
    let acme = work.path().join("profiles/acme.yaml");
    let original = std::fs::read_to_string(&acme).expect("read");
    std::fs::write(&acme, original.replace("      sslPolicy: acme-tls12\n", "")).expect("write");
    render_ok(work.path(), &["render"]);
    assert_eq!(
        run(work.path(), &["diff"]).status.code(),
        Some(0),
        "nothing to show right after a render"
    );

    // After: the policy (a FrontendConfig appears), a lower ceiling (one field), and
    // initech on a fixed size (its HPA disappears).
    std::fs::write(
        &acme,
        original.replace("maxReplicas: 12", "maxReplicas: 10"),
    )
    .expect("write");
    let initech = work.path().join("profiles/initech.yaml");
    let fixed = std::fs::read_to_string(&initech).expect("read")
        + "  app:\n    autoscaling:\n      enabled: false\n";
    std::fs::write(&initech, fixed).expect("write");
    for format in ["text", "markdown", "json"] {
        let output = run(
            work.path(),
            &["--color", "never", "diff", "--format", format],
        );
        assert_eq!(
            output.status.code(),
            Some(1),
            "changes exit 1: {}",
            text(&output.stderr)
        );
        insta::assert_snapshot!(format!("diff__{format}"), text(&output.stdout));
    }
    let json: Value =
        serde_json::from_slice(&run(work.path(), &["diff", "--format", "json"]).stdout)
            .expect("json");
    let objects: Vec<(String, String)> = json["folders"]
        .as_array()
        .expect("folders")
        .iter()
        .flat_map(|f| f["objects"].as_array().expect("objects").iter())
        .map(|o| {
            (
                o["change"].as_str().unwrap_or_default().to_string(),
                o["file"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(
        objects.contains(&("added".into(), "access/frontendconfig-app.yaml".into())),
        "{objects:?}"
    );
    assert!(
        objects.contains(&(
            "removed".into(),
            "app/horizontalpodautoscaler-app.yaml".into()
        )),
        "{objects:?}"
    );
    assert!(
        objects.contains(&(
            "changed".into(),
            "app/horizontalpodautoscaler-app.yaml".into()
        )),
        "{objects:?}"
    );

    // Invalid profiles are an error (2), not "no changes".
    std::fs::write(&initech, "apiVersion: gitopsc/v1alpha1\nkind: CustomerProfile\nmetadata: {name: initech}\nspec: {app: {replica: 2}}\n").expect("write");
    assert_eq!(run(work.path(), &["diff"]).status.code(), Some(2));
}

#[test]
fn helm_charts_carry_the_compiled_objects() {
    let work = TempDir::new("helm");
    copy_tree(
        &root().join("tests/fixtures/valid/quoting"),
        &work.path().join("quoting"),
    );
    copy_tree(&root().join("profiles"), &work.path().join("profiles"));
    render_ok(work.path(), &["render", "profiles", "quoting"]);
    render_ok(
        work.path(),
        &[
            "render", "profiles", "quoting", "--format", "helm", "--out", "charts",
        ],
    );
    let charts = tree(&work.path().join("charts"));
    let out = tree(&work.path().join("out"));
    let mut carried = 0;
    for (path, bytes) in &out {
        let Some((customer, rest)) = path.split_once('/') else {
            continue;
        };
        if customer.starts_with('_') || rest == "kustomization.yaml" || rest == "gitopsc.lock" {
            continue;
        }
        // The checklist and the Terraform sit at the chart's root, beside Chart.yaml (and
        // out of the packaged chart, by .helmignore); objects no value reaches under objects/,
        // as they are; the others are templates (tests/integration/helm.rs renders them).
        let chart_path = if rest == "PREREQUISITES.md" || rest.starts_with("terraform/") {
            format!("{customer}/{rest}")
        } else {
            format!("{customer}/objects/{rest}")
        };
        let Some(in_chart) = charts.iter().find(|(p, _)| *p == chart_path) else {
            let template = format!("{customer}/templates/{rest}");
            assert!(
                charts.iter().any(|(p, _)| *p == template),
                "chart {customer} lacks {rest}"
            );
            continue;
        };
        assert_eq!(
            &in_chart.1, bytes,
            "{customer}/{rest} changed on its way into the chart"
        );
        carried += 1;
    }
    assert!(carried > 30, "objects compared: {carried}");
    let braces = charts.iter().any(|(p, b)| {
        p.starts_with("umbrella/objects/") && text(b).contains("{{ $labels.instance }} is down")
    });
    assert!(
        braces,
        "the Go-template text is in the chart as it was compiled"
    );

    // The version follows the compiler and the profile.
    let chart: Value = parse_yaml(&text(
        &charts
            .iter()
            .find(|(p, _)| p == "acme/Chart.yaml")
            .expect("Chart.yaml")
            .1,
    ));
    let lock = text(
        &out.iter()
            .find(|(p, _)| p == "acme/gitopsc.lock")
            .expect("lock")
            .1,
    );
    let digest = lock
        .lines()
        .find_map(|l| l.strip_prefix("input: sha256:"))
        .expect("input digest");
    assert_eq!(
        chart["version"],
        format!("{}+{}", env!("CARGO_PKG_VERSION"), &digest[..12])
    );

    // helm lint renders every chart; the objects are files, so their braces are never parsed.
    let Some(helm) = tool("helm") else {
        return;
    };
    for customer in ["acme", "globex", "initech", "umbrella"] {
        let lint =
            super::helm::helm_lint(&helm, &work.path().join("charts").join(customer), customer);
        assert!(lint.is_none(), "{customer}: {lint:?}");
    }
    // The control: the same object as a template fails lint, so the check above can fail.
    let broken = work.path().join("charts/umbrella");
    let object =
        std::fs::read_to_string(broken.join("objects/app/configmap-app-env.yaml")).expect("read");
    std::fs::write(broken.join("templates/inline.yaml"), object).expect("write");
    assert!(
        super::helm::helm_lint(&helm, &broken, "umbrella").is_some(),
        "an unescaped {{{{ $labels.instance }}}} must fail helm lint"
    );
}

#[test]
fn charts_never_land_in_the_manifest_folders() {
    let work = workspace("helm-into-out");
    render_ok(work.path(), &["render"]);
    let before = tree(&work.path().join("out"));
    // Charts go to their own folder by default.
    render_ok(work.path(), &["render", "--format", "helm"]);
    assert!(work.path().join("charts/acme/Chart.yaml").is_file());
    assert_eq!(tree(&work.path().join("out")), before, "out/ untouched");
    // Named explicitly, the manifests' folder is refused, even with --force.
    let output = run(
        work.path(),
        &["render", "--format", "helm", "--out", "out", "--force"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("holds gitopsc's kustomize output"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(
        tree(&work.path().join("out")),
        before,
        "nothing was written"
    );
}

/// `examples/overlay`: the compiled acme as a Kustomize base, extended without editing it.
#[test]
fn overlay_extends_the_base_and_the_queue_is_reachable() {
    let Some(kubectl) = tool("kubectl") else {
        return;
    };
    let output = Command::new(kubectl)
        .arg("kustomize")
        .arg(root().join("examples/overlay"))
        .output()
        .expect("kubectl runs");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let objects: Vec<Value> = text(&output.stdout)
        .split("\n---\n")
        .filter(|d| !d.trim().is_empty())
        .map(parse_yaml)
        .collect();
    let base_objects = tree(&root().join("out/acme"))
        .iter()
        .filter(|(p, _)| p.ends_with(".yaml") && p != "kustomization.yaml")
        .count();
    assert_eq!(
        objects.len(),
        base_objects + 4,
        "the base plus the queue's four objects"
    );
    let env = objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "app-env")
        .expect("app-env");
    assert_eq!(
        env["data"]["QUEUE_URL"],
        "amqp://message-queue.acme.svc.cluster.local:5672"
    );
    assert_eq!(env["data"]["LOG_LEVEL"], "info", "the base's values stay");

    let cluster = Cluster::new(objects.clone());
    let deployment = objects
        .iter()
        .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "app")
        .expect("app");
    let app = Endpoint::Pod(Pod::of_workload("acme", deployment));
    let queue = Endpoint::Pod(Pod::new(
        "acme",
        &[
            ("app.kubernetes.io/name", "message-queue"),
            ("app.kubernetes.io/instance", "acme"),
        ],
    ));
    let stranger = Endpoint::Pod(Pod::new("acme", &[("run", "debug")]));
    assert!(cluster.allows(&app, &queue, 5672, "TCP"), "app -> queue");
    assert!(
        !cluster.allows(&stranger, &queue, 5672, "TCP"),
        "nothing else reaches the queue"
    );
    assert!(!cluster.allows(&app, &queue, 15672, "TCP"), "only AMQP");
    assert!(
        !cluster.allows(
            &queue,
            &Endpoint::Ip("8.8.8.8".parse().expect("ip")),
            443,
            "TCP"
        ),
        "the queue stays inside"
    );
}

#[test]
fn workflows_pass_actionlint() {
    let Some(actionlint) = tool("actionlint") else {
        return;
    };
    let workflows: Vec<_> = tree(&root().join(".github/workflows"))
        .into_iter()
        .map(|(p, _)| root().join(".github/workflows").join(p))
        .collect();
    assert!(workflows.len() >= 2, "ci.yml and gitops-pr.yml");
    let output = Command::new(actionlint)
        .args(&workflows)
        .output()
        .expect("actionlint runs");
    assert!(
        output.status.success(),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// A Terraform-only change is in every format of the diff, named by block and argument,
/// with sensitive changes flagged and shown first; a file that goes is each of its blocks
/// removed.
#[test]
fn diff_shows_terraform_changes_per_block_and_argument() {
    let work = workspace("diff-terraform");
    let path = |name: &str| work.path().join(format!("profiles/{name}.yaml"));
    let read = |name: &str| std::fs::read_to_string(path(name)).expect("read");
    // Before: initech without its etcd key.
    let initech = read("initech");
    let key = initech
        .lines()
        .find(|l| l.trim_start().starts_with("secretsEncryptionKey:"))
        .expect("initech's key")
        .to_string();
    std::fs::write(path("initech"), initech.replace(&format!("{key}\n"), "")).expect("write");
    render_ok(work.path(), &["render"]);
    let diff = |format: &str| {
        let output = run(
            work.path(),
            &["--color", "never", "diff", "--format", format],
        );
        assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
        text(&output.stdout)
    };
    let expect = |cases: &[(&str, &[&str])]| {
        for (format, wanted) in cases {
            let shown = diff(format);
            for text in *wanted {
                assert!(shown.contains(text), "{format} lacks `{text}`:\n{shown}");
            }
        }
    };

    // Adding the key: the cluster's encryption, the service agent's grant, the project read.
    std::fs::write(path("initech"), &initech).expect("write");
    expect(&[
        (
            "text",
            &[
                "initech: Terraform: 1 changed, 3 added (touches IAM, cluster)",
                "  Terraform (applied by Terraform, not Argo CD):",
                "  ~ google_container_cluster.cluster  (terraform/cluster.tf.json)  [cluster]",
                "      database_encryption: (absent) → {2 fields}",
                "  + google_kms_crypto_key_iam_member.gke  (terraform/cluster.tf.json)  [IAM]",
                "  + data.google_project.project  (terraform/cluster.tf.json)",
                // The key's API, turned on by the bootstrap root before the customer's.
                "  + google_project_service.cloudkms  (terraform/bootstrap/services.tf.json)",
            ],
        ),
        (
            "markdown",
            &[
                "**⚠ Terraform changes touch IAM, cluster** in `initech`",
                "| `initech` | 0 | 0 | 0 | 4 ⚠ IAM, cluster |",
                "- **added** `google_kms_crypto_key_iam_member.gke` (`terraform/cluster.tf.json`) ⚠ IAM",
            ],
        ),
        (
            "json",
            &[
                "\"half\": \"terraform\"",
                "\"sensitive\": \"IAM\"",
                "\"terraform\": 4",
            ],
        ),
    ]);
    render_ok(work.path(), &["render"]);

    // A node pool's machine type.
    let acme = read("acme");
    std::fs::write(
        path("acme"),
        acme.replace("machineType: n2-highmem-4", "machineType: n2-highmem-8"),
    )
    .expect("write");
    expect(&[
        (
            "text",
            &[
                "acme: Terraform: 1 changed (touches cluster)",
                "  ~ google_container_node_pool.db  (terraform/cluster.tf.json)  [cluster]",
                "      node_config.machine_type: n2-highmem-4 → n2-highmem-8",
            ],
        ),
        (
            "markdown",
            &["  - `node_config.machine_type`: `n2-highmem-4` → `n2-highmem-8`"],
        ),
        ("json", &["\"path\": \"node_config.machine_type\""]),
    ]);
    std::fs::write(path("acme"), &acme).expect("write");

    // Credentials from an existing Secret: secrets.tf.json goes, each block removed; the
    // manifests' ExternalSecret goes too, under its own heading, after the Terraform.
    let existing = acme.replace(
        "      externalSecret:\n        secretStore: gcp-secret-manager\n        key: acme-db\n",
        "      existingSecret: acme-db-credentials\n",
    );
    assert_ne!(existing, acme, "acme names an external secret");
    std::fs::write(path("acme"), existing).expect("write");
    let text = diff("text");
    let terraform = text.find("  Terraform (applied by").expect(&text);
    let manifests = text.find("  Manifests (Argo CD applies").expect(&text);
    assert!(terraform < manifests, "sensitive Terraform first:\n{text}");
    for removed in [
        "  - google_secret_manager_secret.credentials  (terraform/secrets.tf.json)  [secrets]",
        "  - google_secret_manager_secret_iam_member.credentials  (terraform/secrets.tf.json)  [IAM]",
        "  - ExternalSecret/postgres-credentials",
    ] {
        assert!(text.contains(removed), "lacks `{removed}`:\n{text}");
    }
}
