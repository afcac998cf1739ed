//! `gitopsc audit`: the shipped profiles pass every control, and each control fails, alone
//! (besides CHG-1, which any edit breaks), on an output mutated the way it guards against,
//! with evidence at the mutated file.

use std::path::Path;

use serde_json::Value;

use super::{render_ok, run, text, workspace};

fn audit_json(dir: &Path) -> (Option<i32>, Value) {
    let output = run(dir, &["audit", "--format", "json"]);
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "audit JSON:\n{}{}",
            text(&output.stdout),
            text(&output.stderr)
        )
    });
    (output.status.code(), report)
}

/// (control, customer) pairs that failed, with the files of their failing evidence.
fn failures(report: &Value) -> Vec<(String, String, Vec<String>)> {
    let mut failed = Vec::new();
    for customer in report["customers"].as_array().expect("customers") {
        for verdict in customer["verdicts"].as_array().expect("verdicts") {
            if verdict["outcome"] == "fail" || verdict["outcome"] == "excepted" {
                let files = verdict["evidence"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|e| e["holds"] == false)
                    .map(|e| format!("{}:{}", e["file"].as_str().unwrap_or(""), e["line"]))
                    .collect();
                failed.push((
                    customer["name"].as_str().unwrap_or("").to_string(),
                    verdict["control"].as_str().unwrap_or("").to_string(),
                    files,
                ));
            }
        }
    }
    failed
}

#[test]
fn the_shipped_profiles_pass_every_control() {
    let work = workspace("audit-pass");
    render_ok(work.path(), &["render"]);
    let (code, report) = audit_json(work.path());
    assert_eq!(failures(&report), vec![]);
    assert_eq!(code, Some(0));
    let verdicts: usize = report["customers"]
        .as_array()
        .expect("customers")
        .iter()
        .map(|c| c["verdicts"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(
        verdicts,
        3 * report["controls"].as_array().expect("controls").len()
    );
    // Every verdict shows its evidence: a file and a line.
    for customer in report["customers"].as_array().expect("customers") {
        for verdict in customer["verdicts"].as_array().expect("verdicts") {
            let evidence = verdict["evidence"].as_array().expect("evidence");
            assert!(!evidence.is_empty(), "{verdict}");
            assert!(
                evidence
                    .iter()
                    .all(|e| e["line"].as_u64().unwrap_or(0) >= 1)
            );
        }
    }
    // Every verdict names the profile line behind it, through the layers.
    let mut places = Vec::new();
    for customer in report["customers"].as_array().expect("customers") {
        for verdict in customer["verdicts"].as_array().expect("verdicts") {
            let place = verdict["profile"]
                .as_str()
                .expect("profile line")
                .to_string();
            let (file, line) = place.rsplit_once(':').expect("file:line");
            assert!(
                file.starts_with("profiles/") && line.parse::<usize>().is_ok_and(|n| n >= 1),
                "{place}"
            );
            places.push(place);
        }
    }
    assert!(
        places
            .iter()
            .any(|p| p.starts_with("profiles/_defaults.yaml:")),
        "a layer's line"
    );
    assert!(
        places.iter().any(|p| p.starts_with("profiles/acme.yaml:")),
        "a profile's line"
    );
    let text_report = text(&run(work.path(), &["audit"]).stdout);
    assert!(text_report.contains("not a certification"), "{text_report}");
    // A control whose subject is absent is not applicable, never passed: globex and initech
    // serve nothing to the internet, initech compiles no firewall rule, and a subnetwork
    // the Terraform reads hands its flow logs to its owner.
    let outcome = |customer: &str, control: &str| -> String {
        report["customers"]
            .as_array()
            .expect("customers")
            .iter()
            .filter(|c| c["name"] == customer)
            .flat_map(|c| c["verdicts"].as_array().into_iter().flatten())
            .find(|v| v["control"] == control)
            .map(|v| format!("{} {}", v["outcome"], v["passed"]))
            .unwrap_or_default()
    };
    assert_eq!(outcome("acme", "GCP-EDGE-1"), "\"pass\" true");
    for (customer, control) in [
        ("globex", "GCP-EDGE-1"),
        ("initech", "GCP-EDGE-1"),
        ("initech", "GCP-NET-1"),
    ] {
        assert_eq!(
            outcome(customer, control),
            "\"n/a\" false",
            "{customer} {control}"
        );
    }
    assert_eq!(report["summary"]["n/a"], 3);
    assert!(
        report
            .to_string()
            .contains("its VPC flow logs are the duty of its owner"),
        "the duty handed on is recorded"
    );
    assert!(
        text_report.contains(" pass, 3 not applicable, 0 excepted, 0 fail"),
        "{text_report}"
    );
}

/// Every report names the repository's commit (and whether the audited files differ from
/// it), the compiler's version and commit, the UTC time and the day judged, the scope, and
/// the digest of each lock and of the exceptions file; an audit of part of the fleet cannot
/// vouch for `_argocd/`; an edit to a file every customer's delivery reads fails every
/// customer's CHG-1.
#[test]
fn reports_name_their_commit_time_and_digests() {
    let work = workspace("audit-provenance");
    render_ok(work.path(), &["render"]);
    let git = |args: &[&str]| {
        let output = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=Auditor",
                "-c",
                "user.email=a@vendor.example",
            ])
            .args(["-c", "commit.gpgsign=false"])
            .args(args)
            .current_dir(work.path())
            .output()
            .expect("git runs");
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            text(&output.stderr)
        );
        text(&output.stdout).trim().to_string()
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "fleet"]);
    let head = git(&["rev-parse", "HEAD"]);
    let audit = |args: &[&str]| {
        let output = super::gitopsc(work.path())
            .env("SOURCE_DATE_EPOCH", "1796294245")
            .args(["audit"])
            .args(args)
            .output()
            .expect("gitopsc runs");
        (output.status.code(), text(&output.stdout))
    };
    let (code, json) = audit(&["--format", "json"]);
    assert_eq!(code, Some(0), "{json}");
    let report: Value = serde_json::from_str(&json).expect("JSON");
    let provenance = &report["provenance"];
    assert_eq!(provenance["repository"]["commit"], head.as_str());
    assert_eq!(provenance["repository"]["dirty"], false);
    assert_eq!(provenance["generated_at"], "2026-12-03T10:37:25Z");
    assert_eq!(provenance["as_of"], "2026-12-03");
    assert_eq!(provenance["compiler"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(provenance["compiler"]["commit"].is_string());
    assert_eq!(provenance["whole_fleet"], true);
    let locks = provenance["locks"].as_array().expect("locks");
    assert_eq!(locks.len(), 4, "three customers and _argocd");
    for lock in locks {
        let file = lock["file"].as_str().expect("file");
        let bytes = std::fs::read(work.path().join(file)).expect("the lock");
        use sha2::Digest;
        let hex: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(lock["digest"], format!("sha256:{hex}"), "{file}");
    }
    // Each human format carries the same facts.
    for format in ["text", "markdown", "html"] {
        let (_, report) = audit(&["--format", format]);
        for fact in [
            head.as_str(),
            "2026-12-03T10:37:25Z",
            env!("CARGO_PKG_VERSION"),
        ] {
            assert!(report.contains(fact), "{format} lacks {fact}");
        }
    }
    let (_, html) = audit(&["--format", "html"]);
    assert!(html.contains("out/_argocd/gitopsc.lock sha256:"), "{html}");

    // A change git has not committed is named.
    let acme = work.path().join("profiles/acme.yaml");
    let profile = std::fs::read_to_string(&acme).expect("acme");
    std::fs::write(&acme, format!("{profile}# reviewed\n")).expect("write");
    let (_, json) = audit(&["--format", "json"]);
    let report: Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(report["provenance"]["repository"]["dirty"], true);
    std::fs::write(&acme, profile).expect("restore");

    // Part of the fleet: `_argocd/` is not compiled, so CHG-1 cannot hold.
    let (code, json) = audit(&["--format", "json", "profiles/acme.yaml"]);
    assert_eq!(code, Some(1));
    let report: Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(report["provenance"]["whole_fleet"], false);
    assert_eq!(
        failures(&report),
        vec![(
            "acme".to_string(),
            "CHG-1".to_string(),
            vec!["_argocd/applications/acme.yaml:1".to_string()]
        )]
    );

    // The ApplicationSet every customer's delivery reads: every customer's CHG-1 fails.
    let fleet = work.path().join("out/_argocd/applicationset/fleet.yaml");
    let before = std::fs::read_to_string(&fleet).expect("fleet");
    std::fs::write(&fleet, before.replace("selfHeal: true", "selfHeal: false")).expect("write");
    let (code, json) = audit(&["--format", "json"]);
    assert_eq!(code, Some(1));
    let report: Value = serde_json::from_str(&json).expect("JSON");
    let failed: Vec<(String, String)> = failures(&report)
        .into_iter()
        .map(|(customer, control, _)| (customer, control))
        .collect();
    assert_eq!(
        failed,
        ["acme", "globex", "initech"]
            .iter()
            .map(|c| (c.to_string(), "CHG-1".to_string()))
            .collect::<Vec<_>>()
    );
}

enum Edit {
    Delete,
    Replace(&'static str, &'static str),
}

#[test]
fn each_control_fails_on_the_output_it_guards_against() {
    use Edit::{Delete, Replace};
    let cases: &[(&str, &str, Edit)] = &[
        (
            "K8S-NET-1",
            "acme/network/networkpolicy-default-deny.yaml",
            Delete,
        ),
        (
            "K8S-NET-2",
            "acme/network/networkpolicy-allow-app.yaml",
            Delete,
        ),
        (
            "K8S-SEC-1",
            "acme/app/deployment-app.yaml",
            Replace(
                "            - name: PGHOST\n",
                "            - name: LEAK\n              value: postgres://app:hunter2@db:5432/app\n            - name: PGHOST\n",
            ),
        ),
        (
            "K8S-SEC-2",
            "acme/pgpool/deployment-pgpool.yaml",
            Replace("            items:\n", "            itemz:\n"),
        ),
        (
            "K8S-POD-1",
            "acme/app/deployment-app.yaml",
            Replace(
                "allowPrivilegeEscalation: false",
                "allowPrivilegeEscalation: true",
            ),
        ),
        (
            "K8S-RBAC-1",
            "acme/database/role-postgres.yaml",
            Replace("      - get\n", "      - \"*\"\n"),
        ),
        (
            "K8S-TLS-1",
            "acme/access/ingress-app.yaml",
            Replace("    networking.gke.io/managed-certificates: app\n", ""),
        ),
        (
            "K8S-AV-1",
            "acme/pgpool/poddisruptionbudget-pgpool.yaml",
            Delete,
        ),
        (
            "K8S-BAK-1",
            "acme/monitoring/prometheusrule-stack.yaml",
            Replace("alert: SnapshotTooOld", "alert: SnapshotAged"),
        ),
        (
            "K8S-MON-1",
            "acme/monitoring/podmonitor-pgpool.yaml",
            Delete,
        ),
        (
            "GCP-GKE-1",
            "acme/terraform/cluster.tf.json",
            Replace(
                "\"enable_private_nodes\": true",
                "\"enable_private_nodes\": false",
            ),
        ),
        (
            "GCP-GKE-2",
            "acme/terraform/cluster.tf.json",
            Replace("\"mode\": \"GKE_METADATA\"", "\"mode\": \"GCE_METADATA\""),
        ),
        (
            "GCP-GKE-3",
            "acme/terraform/cluster.tf.json",
            Replace("\"auto_upgrade\": true", "\"auto_upgrade\": false"),
        ),
        (
            "GCP-EDGE-1",
            "acme/terraform/edge.tf.json",
            Replace("\"deny(403)\"", "\"allow\""),
        ),
        (
            "GCP-NET-1",
            "acme/terraform/edge.tf.json",
            Replace("\"10.20.0.0/16\"", "\"0.0.0.0/0\""),
        ),
        (
            "GCP-IAM-1",
            "acme/terraform/cluster.tf.json",
            Replace("roles/container.defaultNodeServiceAccount", "roles/editor"),
        ),
        (
            "GCP-LOG-1",
            "acme/terraform/cluster.tf.json",
            Replace("\"WORKLOADS\"", "\"APISERVER\""),
        ),
        (
            "GCP-IAM-2",
            "acme/terraform/cluster.tf.json",
            Replace(
                "serviceAccount:${google_service_account.nodes.email}",
                "serviceAccount:${google_service_account.app.email}",
            ),
        ),
        (
            "GCP-AV-1",
            "acme/terraform/cluster.tf.json",
            Replace(
                "\"deletion_protection\": true",
                "\"deletion_protection\": false",
            ),
        ),
        (
            "K8S-ENC-1",
            "acme/database/statefulset-postgres.yaml",
            Replace(
                "storageClassName: premium-rwo",
                "storageClassName: local-nvme",
            ),
        ),
        (
            "GCP-ENC-1",
            "acme/terraform/cluster.tf.json",
            Replace("\"state\": \"ENCRYPTED\"", "\"state\": \"DECRYPTED\""),
        ),
        (
            "GCP-LOG-2",
            "acme/terraform/logging.tf.json",
            Replace(
                "\"log_type\": \"DATA_READ\"",
                "\"log_type\": \"ADMIN_READ\"",
            ),
        ),
        (
            "GCP-STATE-1",
            "acme/terraform/state.tf.json",
            Replace(
                "\"public_access_prevention\": \"enforced\"",
                "\"public_access_prevention\": \"inherited\"",
            ),
        ),
        (
            "CHG-1",
            "acme/app/service-app.yaml",
            Replace("kind: Service\n", "kind: Service\n# edited by hand\n"),
        ),
        // A credential anywhere in the output: a script of a ConfigMap, a Terraform string.
        (
            "K8S-SEC-1",
            "acme/pgpool/configmap-pgpool.yaml",
            Replace(
                "    ssl = on\n",
                "    ssl = on\n    # aws: AKIAIOSFODNN7EXAMPLE\n",
            ),
        ),
        (
            "K8S-SEC-1",
            "acme/terraform/edge.tf.json",
            Replace(
                "\"The allow-list of acme's external entry point\"",
                "\"key AIzaSyA-1234567890abcdefghijklmnopqrstu\"",
            ),
        ),
        // Supply chain: no enforcing policy, or an image by tag.
        (
            "GCP-SUP-1",
            "acme/terraform/cluster.tf.json",
            Replace("\"PROJECT_SINGLETON_POLICY_ENFORCE\"", "\"DISABLED\""),
        ),
        (
            "GCP-SUP-1",
            "acme/terraform/admission.tf.json",
            Replace("\"ALWAYS_DENY\"", "\"ALWAYS_ALLOW\""),
        ),
        (
            "GCP-SUP-1",
            "acme/app/deployment-app.yaml",
            Replace(
                "@sha256:9f2c0a8b6d4e1f3a5c7b9d0e2f4a6c8e0b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a",
                ":latest",
            ),
        ),
        // Values, not presence: the internet in two halves is still the internet.
        (
            "GCP-GKE-1",
            "acme/terraform/cluster.tf.json",
            Replace(
                "\"cidr_block\": \"10.20.0.0/16\"",
                "\"cidr_block\": \"0.0.0.0/1\"",
            ),
        ),
        (
            "GCP-EDGE-1",
            "acme/terraform/edge.tf.json",
            Replace("\"203.0.113.0/24\"", "\"0.0.0.0/1\", \"128.0.0.0/1\""),
        ),
        (
            "GCP-NET-1",
            "acme/terraform/edge.tf.json",
            Replace("\"10.20.0.0/16\"", "\"0.0.0.0/1\", \"128.0.0.0/1\""),
        ),
        // No SSL policy: GCP's default, which accepts TLS 1.0.
        (
            "K8S-TLS-1",
            "acme/access/ingress-app.yaml",
            Replace("    networking.gke.io/v1beta1.FrontendConfig: app\n", ""),
        ),
        (
            "K8S-TLS-1",
            "acme/pgpool/configmap-pgpool.yaml",
            Replace("hostssl all  all  0.0.0.0/0", "host    all  all  0.0.0.0/0"),
        ),
        (
            "K8S-TLS-1",
            "acme/pgpool/configmap-pgpool.yaml",
            Replace("    ssl = on\n", "    # ssl = on\n    ssl = off\n"),
        ),
        (
            "K8S-AV-1",
            "acme/database/statefulset-postgres.yaml",
            Replace("  replicas: 3\n", "  replicas: 1\n"),
        ),
        (
            "K8S-AV-1",
            "acme/pgpool/poddisruptionbudget-pgpool.yaml",
            Replace("  maxUnavailable: 1\n", "  maxUnavailable: 0\n"),
        ),
        (
            "K8S-AV-1",
            "acme/app/poddisruptionbudget-app.yaml",
            Replace("  maxUnavailable: 1\n", "  minAvailable: 100%\n"),
        ),
        (
            "K8S-BAK-1",
            "acme/backup/cronjob-postgres-snapshot.yaml",
            Replace("schedule: 0 */6 * * *\n", "schedule: 0 0 1 1 *\n"),
        ),
        (
            "K8S-BAK-1",
            "acme/backup/cronjob-postgres-snapshot.yaml",
            Replace(
                "schedule: 0 */6 * * *\n",
                "schedule: 0 */6 * * *\n  suspend: true\n",
            ),
        ),
        (
            "K8S-BAK-1",
            "acme/backup/configmap-postgres-snapshot.yaml",
            Replace("retain=28\n", "retain=1\n"),
        ),
        (
            "K8S-RST-1",
            "acme/database/cronjob-postgres-restore-test.yaml",
            Replace("  schedule: 0 4 * * 3\n", "  schedule: 0 4 1 * *\n"),
        ),
        (
            "K8S-RST-1",
            "acme/database/cronjob-postgres-restore-test.yaml",
            Replace(
                "  schedule: 0 4 * * 3\n",
                "  schedule: 0 4 * * 3\n  suspend: true\n",
            ),
        ),
        (
            "K8S-RBAC-1",
            "acme/database/role-postgres.yaml",
            Replace(
                "    resources:\n      - configmaps\n",
                "    resources:\n      - configmaps\n      - secrets\n",
            ),
        ),
        (
            "K8S-LOG-1",
            "acme/database/configmap-postgres-patroni.yaml",
            Replace(
                "        log_connections: \"on\"\n",
                "        log_connections: \"off\"\n",
            ),
        ),
        (
            "K8S-LOG-1",
            "acme/access/backendconfig-app.yaml",
            Replace("    enable: true\n", "    enable: false\n"),
        ),
        (
            "K8S-CAP-1",
            "acme/app/deployment-app.yaml",
            Replace(
                "              cpu: \"1\"\n              memory: 512Mi\n",
                "              cpu: \"1\"\n",
            ),
        ),
        (
            "K8S-ALR-1",
            "acme/monitoring/prometheusrule-stack.yaml",
            Replace(
                "            runbook_url: https://github.com/vendor/gitopsc/blob/main/docs/runbooks/AppUnavailable.md\n",
                "",
            ),
        ),
        (
            "GCP-BAK-1",
            "acme/terraform/archive.tf.json",
            Replace(
                "\"retention_duration_seconds\": 1209600",
                "\"retention_duration_seconds\": 86400",
            ),
        ),
        (
            "GCP-LOG-3",
            "acme/terraform/logging.tf.json",
            Replace(
                "\n          \"projects/acme-prod-4821/notificationChannels/1480039427364209311\"\n",
                "\n",
            ),
        ),
        (
            "GCP-LOG-3",
            "acme/terraform/logging.tf.json",
            Replace(
                "\"retention_period\": \"34560000\"",
                "\"retention_period\": \"2592000\"",
            ),
        ),
        // What Argo CD reads of the customer is change-managed too.
        (
            "CHG-1",
            "_argocd/applications/acme.yaml",
            Replace("      selfHeal: true\n", "      selfHeal: false\n"),
        ),
        (
            "CHG-1",
            "_argocd/applications/acme.yaml",
            Replace("    path: out/acme\n", "    path: out/globex\n"),
        ),
        (
            "CHG-1",
            "_argocd/applications/acme.yaml",
            Replace("      prune: true\n", "      prune: false\n"),
        ),
    ];
    let work = workspace("audit-fail");
    render_ok(work.path(), &["render"]);
    let out = work.path().join("out");
    let pristine = super::tree(&out);
    let catalogue: Vec<String> = audit_json(work.path()).1["controls"]
        .as_array()
        .expect("controls")
        .iter()
        .map(|c| c["id"].as_str().unwrap_or("").to_string())
        .collect();
    let mut covered: Vec<&str> = Vec::new();
    for (control, file, edit) in cases {
        let path = out.join(file);
        let before = std::fs::read_to_string(&path).expect("file");
        match edit {
            Delete => std::fs::remove_file(&path).expect("delete"),
            Replace(from, to) => {
                assert!(before.contains(from), "{file} holds {from:?}");
                std::fs::write(&path, before.replace(from, to)).expect("write");
            }
        }
        let (code, report) = audit_json(work.path());
        assert_eq!(code, Some(1), "{control}");
        let failed = failures(&report);
        let controls: Vec<&str> = failed
            .iter()
            .filter(|(customer, _, _)| customer == "acme")
            .map(|(_, c, _)| c.as_str())
            .collect();
        let mut expected = vec![*control];
        if *control != "CHG-1" {
            expected.push("CHG-1");
        }
        let mut sorted = controls.clone();
        sorted.sort();
        expected.sort();
        assert_eq!(sorted, expected, "{control}: {failed:?}");
        assert!(
            failed.iter().all(|(customer, _, _)| customer == "acme"),
            "{control}: {failed:?}"
        );
        if matches!(edit, Replace(..)) {
            let evidence = &failed
                .iter()
                .find(|(_, c, _)| c == control)
                .expect("the control failed")
                .2;
            assert!(
                evidence.iter().any(|e| e.starts_with(file)),
                "{control}: evidence {evidence:?}"
            );
        }
        std::fs::write(&path, &before).expect("restore");
        covered.push(control);
    }
    assert_eq!(super::tree(&out), pristine, "every edit was undone");
    covered.sort();
    covered.dedup();
    let mut all: Vec<&str> = catalogue.iter().map(String::as_str).collect();
    all.sort();
    assert_eq!(covered, all, "every control has a failing case");
}

/// docs/audit.md's table lists every control with its criteria, as the catalogue has them.
#[test]
fn the_documented_catalogue_is_the_code() {
    let work = workspace("audit-docs");
    render_ok(work.path(), &["render"]);
    let docs = std::fs::read_to_string(super::root().join("docs/audit.md")).expect("docs");
    let (_, report) = audit_json(work.path());
    for control in report["controls"].as_array().expect("controls") {
        let criteria: Vec<&str> = control["criteria"]
            .as_array()
            .expect("criteria")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let row = format!(
            "| {} | {} |",
            control["id"].as_str().expect("id"),
            criteria.join(", ")
        );
        assert!(docs.contains(&row), "docs/audit.md lacks `{row}`");
    }
}

/// Every anchor the catalogue cites is in the source it names, as pinned in
/// `schema/audit-anchors.json` (`scripts/audit-anchors.py` over kubescape/regolibrary and
/// prowler-cloud/prowler at a commit): a Kubescape id is an active control of its SOC 2
/// framework, a Prowler check is one Prowler's GCP SOC 2 mapping lists; and each maps the
/// idea to a criterion the control names, but for the disagreements written down here.
/// Every criterion is one of the 2017 Trust Services Criteria.
#[test]
fn every_anchor_is_in_its_pinned_source() {
    // (anchor, control, why gitopsc maps it elsewhere).
    const DISAGREEMENTS: &[(&str, &str, &str)] = &[(
        "Kubescape C-0264",
        "K8S-ENC-1",
        "Kubescape files volume encryption under CC1.1 and CC6.7 (transmission); encryption at rest is CC6.1's point of focus",
    )];
    let sources: Value = serde_json::from_str(
        &std::fs::read_to_string(super::root().join("schema/audit-anchors.json"))
            .expect("schema/audit-anchors.json"),
    )
    .expect("JSON");
    assert_eq!(
        sources["kubescape"]["commit"].as_str().map(str::len),
        Some(40)
    );
    assert_eq!(
        sources["prowler"]["commit"].as_str().map(str::len),
        Some(40)
    );
    let criteria_of = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    let tsc = |criterion: &str| -> bool {
        let Some((series, number)) = criterion.split_once('.') else {
            return false;
        };
        let number: u32 = number.parse().unwrap_or(0);
        match series {
            "CC1" | "CC2" | "CC3" | "CC4" | "CC5" => (1..=4).contains(&number),
            "CC6" => (1..=8).contains(&number),
            "CC7" => (1..=5).contains(&number),
            "CC8" => number == 1,
            "CC9" => (1..=2).contains(&number),
            "A1" => (1..=3).contains(&number),
            "C1" => (1..=2).contains(&number),
            "PI1" => (1..=5).contains(&number),
            _ => false,
        }
    };
    let work = workspace("audit-anchors");
    render_ok(work.path(), &["render"]);
    let (_, report) = audit_json(work.path());
    let mut checked = 0;
    for control in report["controls"].as_array().expect("controls") {
        let id = control["id"].as_str().expect("id");
        let criteria = criteria_of(&control["criteria"]);
        for criterion in &criteria {
            assert!(tsc(criterion), "{id}: {criterion} is not a criterion");
        }
        for anchor in control["anchors"].as_array().expect("anchors") {
            let anchor = anchor.as_str().expect("anchor");
            let mapped = if let Some(kubescape) = anchor.strip_prefix("Kubescape ") {
                let entry = &sources["kubescape"]["controls"][kubescape];
                assert!(
                    entry.is_object(),
                    "{id}: {anchor} is not in Kubescape's SOC 2 framework"
                );
                criteria_of(&entry["criteria"])
            } else if let Some(check) = anchor.strip_prefix("Prowler ") {
                let entry = &sources["prowler"]["checks"][check];
                assert!(
                    entry.is_array(),
                    "{id}: {anchor} is not in Prowler's GCP SOC 2 mapping"
                );
                criteria_of(entry)
            } else {
                continue;
            };
            checked += 1;
            let meets = mapped.iter().any(|c| criteria.contains(c));
            let disagreed = DISAGREEMENTS
                .iter()
                .any(|(a, c, _)| *a == anchor && *c == id);
            assert!(
                meets != disagreed,
                "{id} ({criteria:?}) cites {anchor}, mapped to {mapped:?}{}",
                if disagreed {
                    ": the recorded disagreement is stale"
                } else {
                    ""
                }
            );
        }
    }
    assert!(checked >= 15, "{checked} anchors checked");
}

/// The log-based metrics gitopsc compiles are those Prowler's checks look for, word for
/// word (`metric_filter in metric.filter`, read from Prowler at the pinned commit): every
/// metric-filter check GCP-LOG-3 cites finds its filter in every customer's Terraform, with
/// an alert policy that counts the metric and names a channel.
#[test]
fn every_watched_change_is_prowlers_filter() {
    let sources: Value = serde_json::from_str(
        &std::fs::read_to_string(super::root().join("schema/audit-anchors.json"))
            .expect("schema/audit-anchors.json"),
    )
    .expect("JSON");
    let work = workspace("audit-prowler-filters");
    render_ok(work.path(), &["render"]);
    let (_, report) = audit_json(work.path());
    let cited: Vec<String> = report["controls"]
        .as_array()
        .expect("controls")
        .iter()
        .filter(|c| c["id"] == "GCP-LOG-3")
        .flat_map(|c| c["anchors"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str()?.strip_prefix("Prowler ").map(str::to_string))
        .filter(|check| check.starts_with("logging_log_metric_filter"))
        .collect();
    assert_eq!(cited.len(), 7, "{cited:?}");
    for customer in ["acme", "globex", "initech"] {
        let file = work
            .path()
            .join(format!("out/{customer}/terraform/logging.tf.json"));
        let logging: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("logging")).expect("JSON");
        let metrics = logging["resource"]["google_logging_metric"]
            .as_object()
            .expect("metrics");
        let policies = logging["resource"]["google_monitoring_alert_policy"]
            .as_object()
            .expect("policies");
        for check in &cited {
            let wanted = sources["prowler"]["metric_filters"][check]
                .as_str()
                .unwrap_or_else(|| panic!("{check}: no filter at the pinned commit"));
            let (address, _) = metrics
                .iter()
                .find(|(_, m)| m["filter"].as_str().is_some_and(|f| f.contains(wanted)))
                .unwrap_or_else(|| panic!("{customer}: no metric has {check}'s filter"));
            let reference = format!("${{google_logging_metric.{address}.name}}");
            let policy = policies
                .values()
                .find(|p| p.to_string().contains(&reference))
                .unwrap_or_else(|| panic!("{customer}: no policy counts {address}"));
            assert!(
                !policy["notification_channels"]
                    .as_array()
                    .is_none_or(Vec::is_empty),
                "{customer} {address}"
            );
        }
    }
}

/// A risk acceptance suppresses exactly its control and customers from its approval through
/// its expiry, judged as of `--as-of` (so an old verdict is reproduced on its day); an
/// expired one, one not yet approved, one that covers nothing and a malformed file are
/// errors; the most specific entry wins wherever it is listed; change management cannot be
/// excepted; no entry runs longer than the policy's term.
#[test]
fn exceptions_suppress_exactly_their_control_until_they_expire() {
    let work = workspace("audit-exceptions");
    // Two database members: compiled from the profile (no drift), below K8S-AV-1's three.
    let profile = work.path().join("profiles/acme.yaml");
    let text_of = std::fs::read_to_string(&profile).expect("acme");
    std::fs::write(
        &profile,
        text_of.replacen("  database:\n", "  database:\n    replicas: 2\n", 1),
    )
    .expect("write");
    render_ok(work.path(), &["render"]);
    let entry = |control: &str, customers: &str, approved: &str, expires: &str| {
        format!(
            "  - control: {control}\n    customers: \"{customers}\"\n    reason: two members while the third zone is rebuilt\n    approver: jane.doe@vendor.example\n    ticket: RISK-142\n    approved: {approved}\n    expires: {expires}\n"
        )
    };
    let write = |entries: &[String]| {
        std::fs::write(
            work.path().join("exceptions.yaml"),
            format!("exceptions:\n{}", entries.concat()),
        )
        .expect("write");
    };
    let audit = |as_of: &str| {
        let output = run(
            work.path(),
            &[
                "audit",
                "--format",
                "json",
                "--exceptions",
                "exceptions.yaml",
                "--as-of",
                as_of,
            ],
        );
        let report: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        (output.status.code(), report, text(&output.stderr))
    };
    let excepted = |report: &Value| -> Vec<(String, String)> {
        report["customers"]
            .as_array()
            .expect("customers")
            .iter()
            .flat_map(|c| {
                c["verdicts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|v| !v["excepted"].is_null())
                    .map(move |v| {
                        (
                            c["name"].as_str().unwrap_or("").to_string(),
                            v["control"].as_str().unwrap_or("").to_string(),
                        )
                    })
            })
            .collect()
    };
    // An expired catch-all listed first does not hide the current specific entry.
    write(&[
        entry("K8S-AV-1", "*", "2026-01-05", "2026-03-31"),
        entry("K8S-AV-1", "ac*", "2026-06-01", "2026-09-30"),
    ]);
    let (code, report, stderr) = audit("2026-06-15");
    assert_eq!(code, Some(1), "{stderr}{report}");
    assert!(
        report["exception_problems"]
            .to_string()
            .contains("covers no failing control"),
        "the catch-all is never the one used: {report}"
    );
    write(&[entry("K8S-AV-1", "ac*", "2026-06-01", "2026-09-30")]);
    let (code, report, stderr) = audit("2026-06-15");
    assert_eq!(code, Some(0), "{stderr}{report}");
    assert_eq!(
        excepted(&report),
        vec![("acme".to_string(), "K8S-AV-1".to_string())]
    );
    assert_eq!(report["provenance"]["as_of"], "2026-06-15");
    assert_eq!(
        report["customers"][0]["verdicts"][8]["excepted"]["ticket"],
        "RISK-142"
    );
    // Listed as excepted in the text report, never hidden.
    let text_report = text(
        &run(
            work.path(),
            &[
                "audit",
                "--exceptions",
                "exceptions.yaml",
                "--as-of",
                "2026-09-30",
            ],
        )
        .stdout,
    );
    assert!(
        text_report.contains("excepted (risk accepted, not passed)"),
        "{text_report}"
    );
    assert!(
        text_report.contains("jane.doe@vendor.example on 2026-06-01 under RISK-142"),
        "{text_report}"
    );

    // The same file, the day after expiry and the day before approval: the control fails.
    for (as_of, wanted) in [
        ("2026-10-01", "expired on 2026-09-30"),
        (
            "2026-05-31",
            "approved from 2026-06-01, after the audit's date 2026-05-31",
        ),
    ] {
        let (code, report, _) = audit(as_of);
        assert_eq!(code, Some(1), "{as_of}");
        assert!(excepted(&report).is_empty(), "{as_of}: {report}");
        assert!(
            report["exception_problems"].to_string().contains(wanted),
            "{wanted}: {report}"
        );
    }

    write(&[
        entry("K8S-AV-1", "ac*", "2026-06-01", "2026-09-30"),
        entry("GCP-AV-1", "globex", "2026-06-01", "2026-09-30"),
    ]);
    let (code, report, _) = audit("2026-06-15");
    assert_eq!(code, Some(1));
    assert!(
        report["exception_problems"]
            .to_string()
            .contains("covers no failing control"),
        "{report}"
    );

    // Malformed: refused at its line, exit 2, with a JSON error object instead of a report.
    let whole = |extra: &str| {
        format!(
            "exceptions:\n  - control: K8S-AV-1\n    customers: acme\n    reason: r\n    approver: x@vendor.example\n    ticket: RISK-1\n    approved: 2026-06-01\n    expires: 2026-09-30\n{extra}"
        )
    };
    for (file, wanted) in [
        (
            "exceptions:\n  - control: K8S-AV-1\n    customers: acme\n    reason: r\n    ticket: RISK-1\n    approved: 2026-06-01\n    expires: 2026-09-30\n".to_string(),
            "exceptions.yaml:2: the exception needs approver",
        ),
        (
            whole("").replace("reason: r", "reason: \"  \""),
            "`reason` is empty",
        ),
        (
            whole("").replace("ticket: RISK-1", "ticket: \"\""),
            "`ticket` is empty",
        ),
        (
            whole("").replace("2026-09-30", "2026-13-45"),
            "`expires: 2026-13-45` is not a date",
        ),
        (
            whole("").replace("approved: 2026-06-01", "approved: 2026-10-01"),
            "`expires: 2026-09-30` is before `approved: 2026-10-01`",
        ),
        (
            whole("").replace("2026-09-30", "2027-06-01"),
            "runs 365 days from its approval, longer than the 180 days",
        ),
        (
            format!("maximumTermDays: 90\n{}", whole("")),
            "runs 121 days from its approval, longer than the 90 days",
        ),
        (
            format!("maximumTermDays: 5000\n{}", whole("")),
            "`maximumTermDays` is a whole number of days from 1 to 366",
        ),
        (
            whole("    expiry: 2026-09-01\n"),
            "exceptions.yaml:9: `expiry` is not a field of an exception",
        ),
        (
            format!("{}policy: lax\n", whole("")),
            "exceptions.yaml:9: `policy` is not a key of the exceptions file",
        ),
        (
            whole("").replace("control: K8S-AV-1", "control: CHG-1"),
            "CHG-1 cannot be excepted",
        ),
    ] {
        std::fs::write(work.path().join("exceptions.yaml"), &file).expect("write");
        let (code, report, stderr) = audit("2026-06-15");
        assert_eq!(code, Some(2), "{file}");
        assert!(stderr.contains(wanted), "{wanted}: {stderr}");
        assert!(
            report["error"]["problems"].to_string().contains(wanted),
            "{wanted}: {report}"
        );
        assert!(report["customers"].is_null(), "no verdicts: {report}");
    }
    // A day that is not one is refused before anything is judged.
    let (code, report, _) = audit("2026-02-30");
    assert_eq!(code, Some(2));
    assert!(report["error"].is_object(), "{report}");
}

/// SARIF for code scanning validates against the official SARIF 2.1.0 schema and follows
/// GitHub's conventions: locations relative to the repository root under `%SRCROOT%` even
/// when `--out` is absolute, `security-severity` and tags on every rule, one result per
/// failing observation with its own stable fingerprint; an audit that cannot run is a
/// failed invocation, not a clean analysis. The markdown summary carries the matrix and
/// the failure.
#[test]
fn sarif_and_markdown_reports_show_the_failure() {
    let work = workspace("audit-sarif");
    render_ok(work.path(), &["render"]);
    for file in [
        "out/acme/network/networkpolicy-default-deny.yaml",
        "out/acme/network/networkpolicy-allow-app.yaml",
    ] {
        std::fs::remove_file(work.path().join(file)).expect("delete");
    }
    let absolute = work.path().join("out");
    let sarif = run(
        work.path(),
        &[
            "audit",
            "--format",
            "sarif",
            "--out",
            absolute.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(sarif.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&sarif.stdout).expect("SARIF is JSON");
    let results = report["runs"][0]["results"].as_array().expect("results");
    let rule_ids: Vec<&str> = results
        .iter()
        .filter_map(|r| r["ruleId"].as_str())
        .collect();
    assert!(
        rule_ids.contains(&"K8S-NET-1") && rule_ids.contains(&"CHG-1"),
        "{rule_ids:?}"
    );
    // One result per failing observation: each deleted file is its own CHG-1 finding.
    let changes: Vec<&Value> = results.iter().filter(|r| r["ruleId"] == "CHG-1").collect();
    assert_eq!(changes.len(), 2, "{changes:?}");
    let mut fingerprints: Vec<&str> = results
        .iter()
        .filter_map(|r| r["partialFingerprints"]["gitopsc/v1"].as_str())
        .collect();
    assert_eq!(fingerprints.len(), results.len());
    fingerprints.sort_unstable();
    fingerprints.dedup();
    assert_eq!(
        fingerprints.len(),
        results.len(),
        "fingerprints are distinct"
    );
    for result in results {
        let location = &result["locations"][0]["physicalLocation"]["artifactLocation"];
        let uri = location["uri"].as_str().expect("uri");
        assert!(uri.starts_with("out/acme/"), "{uri}");
        assert_eq!(location["uriBaseId"], "%SRCROOT%");
        assert!(
            result["message"]["text"]
                .as_str()
                .is_some_and(|m| m.starts_with("acme: ")),
            "{result}"
        );
    }
    assert!(
        !text(&sarif.stdout).contains(work.path().to_str().expect("utf-8")),
        "no absolute path in the report"
    );
    let rules = report["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules");
    for rule in rules {
        assert!(rule["help"]["text"].is_string());
        let severity: f64 = rule["properties"]["security-severity"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("security-severity is a number in a string");
        assert!((0.1..=10.0).contains(&severity), "{rule}");
        let tags = rule["properties"]["tags"].to_string();
        assert!(
            tags.contains("\"security\"") && tags.contains("\"soc2/"),
            "{rule}"
        );
    }
    // An invalid profile: the audit cannot run; exit 2 and a failed invocation.
    let acme = work.path().join("profiles/acme.yaml");
    let valid = std::fs::read_to_string(&acme).expect("acme");
    std::fs::write(
        &acme,
        valid.replacen("  database:\n", "  database:\n    replicas: many\n", 1),
    )
    .expect("write");
    let broken = run(work.path(), &["audit", "--format", "sarif"]);
    assert_eq!(broken.status.code(), Some(2));
    let failed: Value = serde_json::from_slice(&broken.stdout).expect("SARIF is JSON");
    assert_eq!(
        failed["runs"][0]["invocations"][0]["executionSuccessful"],
        false
    );
    assert!(
        failed["runs"][0]["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"]
            .as_str()
            .is_some_and(|m| m.contains("acme.yaml:")),
        "{failed}"
    );
    std::fs::write(&acme, valid).expect("restore");
    let schema = super::root().join("../shared/schemas/sarif-schema-2.1.0.json");
    if let Some(python) = super::python_with("jsonschema") {
        if schema.is_file() {
            for (name, document) in [("audit", &sarif.stdout), ("failed", &broken.stdout)] {
                let file = work.path().join(format!("{name}.sarif"));
                std::fs::write(&file, document).expect("write");
                let check = std::process::Command::new(&python)
                    .args([
                        "-c",
                        "import json, sys, jsonschema\nschema = json.load(open(sys.argv[1]))\njsonschema.validators.validator_for(schema)(schema).validate(json.load(open(sys.argv[2])))",
                    ])
                    .arg(&schema)
                    .arg(&file)
                    .output()
                    .expect("python runs");
                assert!(
                    check.status.success(),
                    "{name} SARIF invalid:\n{}",
                    text(&check.stderr)
                );
            }
        }
    }
    let markdown = text(&run(work.path(), &["audit", "--format", "markdown"]).stdout);
    assert!(
        markdown.contains("| control | criteria | acme | globex | initech |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| K8S-NET-1 | CC6.6 | **FAIL** | pass | pass |"),
        "{markdown}"
    );
    assert!(markdown.contains("acme **K8S-NET-1**"), "{markdown}");
    assert!(markdown.len() < 65_536);
}

/// The HTML evidence report is self-contained and renders in headless Chromium: the DOM has
/// the fleet matrix, and the screenshot shows it, a failing cell in its colour included.
#[test]
fn the_html_report_renders_the_matrix_in_chromium() {
    let Some(chromium) = super::tool("chromium") else {
        return;
    };
    let Some(python) = super::python_with("zlib") else {
        return;
    };
    let work = workspace("audit-html");
    render_ok(work.path(), &["render"]);
    std::fs::remove_file(
        work.path()
            .join("out/acme/network/networkpolicy-default-deny.yaml"),
    )
    .expect("delete");
    let report = run(work.path(), &["audit", "--format", "html"]);
    assert_eq!(report.status.code(), Some(1));
    let html = text(&report.stdout);
    // Evidence may quote a URL (an alert's runbook) as text; nothing is loaded from one.
    assert!(
        !html.contains(" src=") && !html.contains("<link") && !html.contains("href=\"http"),
        "no external assets"
    );
    let page = work.path().join("audit.html");
    std::fs::write(&page, &html).expect("write");
    let url = format!("file://{}", page.display());
    let chrome = |args: &[&str]| {
        std::process::Command::new(&chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
            ])
            .args(args)
            .arg(&url)
            .output()
            .expect("chromium runs")
    };
    let dom = text(&chrome(&["--dump-dom"]).stdout);
    assert!(
        dom.contains("id=\"matrix\"") && dom.contains("<th>acme</th>"),
        "{dom}"
    );
    let png = work.path().join("audit.png");
    let shot = chrome(&[
        "--window-size=1100,800",
        &format!("--screenshot={}", png.display()),
    ]);
    assert!(png.is_file(), "{}", text(&shot.stderr));
    // Decode the PNG (8-bit RGB or RGBA, as Chromium writes it) and count the pixels of the
    // failing cell's colour (#f6d0d0) and of the passing cells' (#d8f0d8).
    let script = r#"
import struct, sys, zlib
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n'
pos, idat, width, height, kind = 8, b'', 0, 0, 0
while pos < len(data):
    length, tag = struct.unpack('>I4s', data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    if tag == b'IHDR':
        width, height, depth, kind = struct.unpack('>IIBB', body[:10])
    elif tag == b'IDAT':
        idat += body
    pos += 12 + length
channels = {2: 3, 6: 4}[kind]
raw = zlib.decompress(idat)
stride = width * channels
rows, previous, i = [], bytearray(stride), 0
for _ in range(height):
    mode, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
    i += 1 + stride
    for x in range(stride):
        a = line[x - channels] if x >= channels else 0
        b = previous[x]
        c = previous[x - channels] if x >= channels else 0
        if mode == 1: line[x] = (line[x] + a) & 255
        elif mode == 2: line[x] = (line[x] + b) & 255
        elif mode == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif mode == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(line)
    previous = line
def count(rgb):
    return sum(1 for row in rows for x in range(0, stride, channels) if tuple(row[x:x + 3]) == rgb)
print(width, height, count((0xf6, 0xd0, 0xd0)), count((0xd8, 0xf0, 0xd8)))
"#;
    let measured = std::process::Command::new(python)
        .args(["-c", script])
        .arg(&png)
        .output()
        .expect("python runs");
    let numbers: Vec<u64> = text(&measured.stdout)
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    assert_eq!(
        numbers.len(),
        4,
        "{}{}",
        text(&measured.stdout),
        text(&measured.stderr)
    );
    assert_eq!((numbers[0], numbers[1]), (1100, 800));
    assert!(numbers[2] > 500, "failing cells visible: {numbers:?}");
    assert!(numbers[3] > 5_000, "passing cells visible: {numbers:?}");
}

/// Where a control mirrors a checkov check, the audit and checkov agree: both pass the
/// pristine file, and both fail the same file once it is mutated.
#[test]
fn the_audit_and_checkov_agree_on_mirrored_checks() {
    let Some(checkov) = super::tool("checkov") else {
        return;
    };
    let cases: &[(&str, &str, &str, &str, &str, &str)] = &[
        (
            "K8S-POD-1",
            "CKV_K8S_20",
            "kubernetes",
            "acme/app/deployment-app.yaml",
            "allowPrivilegeEscalation: false",
            "allowPrivilegeEscalation: true",
        ),
        (
            "GCP-GKE-3",
            "CKV_GCP_10",
            "terraform_json",
            "acme/terraform/cluster.tf.json",
            "\"auto_upgrade\": true",
            "\"auto_upgrade\": false",
        ),
        (
            "GCP-STATE-1",
            "CKV_GCP_78",
            "terraform_json",
            "acme/terraform/state.tf.json",
            "\"enabled\": true",
            "\"enabled\": false",
        ),
        (
            "GCP-GKE-2",
            "CKV_GCP_68",
            "terraform_json",
            "acme/terraform/cluster.tf.json",
            "\"enable_secure_boot\": true",
            "\"enable_secure_boot\": false",
        ),
        (
            "K8S-CAP-1",
            "CKV_K8S_13",
            "kubernetes",
            "acme/app/deployment-app.yaml",
            "              cpu: \"1\"\n              memory: 512Mi\n",
            "              cpu: \"1\"\n",
        ),
    ];
    let work = workspace("audit-checkov");
    render_ok(work.path(), &["render"]);
    let out = work.path().join("out");
    let checkov_fails = |check: &str, framework: &str, file: &Path| -> bool {
        let output = std::process::Command::new(&checkov)
            .args([
                "--framework",
                framework,
                "--check",
                check,
                "--skip-download",
                "--quiet",
                "-o",
                "json",
                "-f",
            ])
            .arg(file)
            .output()
            .expect("checkov runs");
        let report: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("checkov JSON:\n{}", text(&output.stdout)));
        assert_eq!(report["summary"]["parsing_errors"], 0, "{report}");
        report["summary"]["failed"].as_u64().unwrap_or(0) > 0
    };
    let audit_fails = |control: &str, file: &str| -> bool {
        let (_, report) = audit_json(work.path());
        failures(&report).iter().any(|(customer, c, evidence)| {
            customer == "acme" && c == control && evidence.iter().any(|e| e.starts_with(file))
        })
    };
    for (control, check, framework, file, from, to) in cases {
        let path = out.join(file);
        assert!(
            !checkov_fails(check, framework, &path),
            "{check} passes the pristine {file}"
        );
        assert!(
            !audit_fails(control, file),
            "{control} passes the pristine {file}"
        );
        let before = std::fs::read_to_string(&path).expect("file");
        std::fs::write(&path, before.replace(from, to)).expect("mutate");
        assert!(
            checkov_fails(check, framework, &path),
            "{check} fails the mutated {file}"
        );
        assert!(
            audit_fails(control, file),
            "{control} fails the mutated {file}"
        );
        std::fs::write(&path, before).expect("restore");
    }
}

/// The profile choices behind GCP-STATE-1 and GCP-ENC-1: a bucket managed elsewhere and a
/// cluster without the customer's key leave no evidence, so both fail at the line that
/// shows it; and a bucket that is managed but never adopted fails too.
#[test]
fn the_state_and_key_controls_follow_the_profile() {
    let work = workspace("audit-profile-choices");
    let profile = work.path().join("profiles/acme.yaml");
    let original = std::fs::read_to_string(&profile).expect("profile");
    render_ok(work.path(), &["render"]);
    let imports = work.path().join("out/acme/terraform/imports.tf.json");
    let adopted = std::fs::read_to_string(&imports).expect("imports");
    std::fs::write(
        &imports,
        adopted.replace("google_storage_bucket.state", "google_storage_bucket.other"),
    )
    .expect("mutate");
    let failed = failures(&audit_json(work.path()).1);
    assert!(
        failed
            .iter()
            .any(|(customer, control, evidence)| customer == "acme"
                && control == "GCP-STATE-1"
                && evidence
                    .iter()
                    .any(|e| e.starts_with("acme/terraform/state.tf.json"))),
        "{failed:?}"
    );
    std::fs::write(&imports, adopted).expect("restore");

    let key = original
        .lines()
        .find(|l| l.trim_start().starts_with("secretsEncryptionKey:"))
        .expect("the shipped profile names a key");
    let edited = original.replace(&format!("{key}\n"), "").replace(
        "  infrastructure:\n",
        "  infrastructure:\n    state:\n      manageBucket: false\n",
    );
    assert_ne!(edited, original);
    std::fs::write(&profile, edited).expect("edit profile");
    // The bucket leaves this Terraform: the guard asks for the customer to be named.
    render_ok(work.path(), &["render", "--allow-destroy", "acme"]);
    assert!(!imports.exists(), "no adoption without manageBucket");
    let (code, report) = audit_json(work.path());
    assert_eq!(code, Some(1));
    let mut failed: Vec<(String, Vec<String>)> = failures(&report)
        .into_iter()
        .map(|(customer, control, evidence)| {
            assert_eq!(customer, "acme");
            (control, evidence)
        })
        .collect();
    failed.sort();
    let controls: Vec<&str> = failed.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(controls, ["GCP-ENC-1", "GCP-STATE-1"], "{failed:?}");
    assert!(failed[0].1[0].starts_with("acme/terraform/cluster.tf.json:"));
    assert!(failed[1].1[0].starts_with("acme/terraform/providers.tf.json:"));
}
