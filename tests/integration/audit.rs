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
            if verdict["passed"] == false {
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

/// A risk acceptance suppresses exactly its control and customers while it is current; an
/// expired one, one that covers nothing and a malformed file are errors; the most specific
/// entry wins wherever it is listed; change management cannot be excepted.
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
    let entry = |control: &str, customers: &str, expires: &str| {
        format!(
            "  - control: {control}\n    customers: \"{customers}\"\n    reason: two members while the third zone is rebuilt\n    approver: jane.doe@vendor.example\n    expires: {expires}\n"
        )
    };
    let write = |entries: &[String]| {
        std::fs::write(
            work.path().join("exceptions.yaml"),
            format!("exceptions:\n{}", entries.concat()),
        )
        .expect("write");
    };
    let audit = || {
        let output = run(
            work.path(),
            &[
                "audit",
                "--format",
                "json",
                "--exceptions",
                "exceptions.yaml",
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
        entry("K8S-AV-1", "*", "2000-01-01"),
        entry("K8S-AV-1", "ac*", "2999-12-31"),
    ]);
    let (code, report, stderr) = audit();
    assert_eq!(code, Some(1), "{stderr}{report}");
    assert!(
        report["exception_problems"]
            .to_string()
            .contains("covers no failing control"),
        "the catch-all is never the one used: {report}"
    );
    write(&[entry("K8S-AV-1", "ac*", "2999-12-31")]);
    let (code, report, stderr) = audit();
    assert_eq!(code, Some(0), "{stderr}{report}");
    assert_eq!(
        excepted(&report),
        vec![("acme".to_string(), "K8S-AV-1".to_string())]
    );
    // Listed as excepted in the text report, never hidden.
    let text_report = text(&run(work.path(), &["audit", "--exceptions", "exceptions.yaml"]).stdout);
    assert!(
        text_report.contains("excepted (risk accepted, not passed)"),
        "{text_report}"
    );
    assert!(
        text_report.contains("jane.doe@vendor.example"),
        "{text_report}"
    );

    write(&[entry("K8S-AV-1", "ac*", "2000-01-01")]);
    let (code, report, _) = audit();
    assert_eq!(code, Some(1));
    assert!(
        report["exception_problems"]
            .to_string()
            .contains("expired on 2000-01-01"),
        "{report}"
    );

    write(&[
        entry("K8S-AV-1", "ac*", "2999-12-31"),
        entry("GCP-AV-1", "globex", "2999-12-31"),
    ]);
    let (code, report, _) = audit();
    assert_eq!(code, Some(1));
    assert!(
        report["exception_problems"]
            .to_string()
            .contains("covers no failing control"),
        "{report}"
    );

    // Malformed: refused at its line, exit 2.
    for (file, wanted) in [
        (
            "exceptions:\n  - control: K8S-AV-1\n    customers: acme\n    reason: r\n    expires: 2999-12-31\n",
            "exceptions.yaml:2: the exception needs approver",
        ),
        (
            "exceptions:\n  - control: K8S-AV-1\n    customers: acme\n    reason: \"  \"\n    approver: x@vendor.example\n    expires: 2999-12-31\n",
            "`reason` is empty",
        ),
        (
            "exceptions:\n  - control: K8S-AV-1\n    customers: acme\n    reason: r\n    approver: x@vendor.example\n    expires: 2026-13-45\n",
            "`expires: 2026-13-45` is not a date",
        ),
        (
            "exceptions:\n  - control: K8S-AV-1\n    customers: acme\n    reason: r\n    approver: x@vendor.example\n    expires: 2999-12-31\n    expiry: 2000-01-01\n",
            "exceptions.yaml:7: `expiry` is not a field of an exception",
        ),
        (
            "exceptions:\n  - control: CHG-1\n    customers: acme\n    reason: r\n    approver: x@vendor.example\n    expires: 2999-12-31\n",
            "CHG-1 cannot be excepted",
        ),
    ] {
        std::fs::write(work.path().join("exceptions.yaml"), file).expect("write");
        let (code, _, stderr) = audit();
        assert_eq!(code, Some(2), "{file}");
        assert!(stderr.contains(wanted), "{wanted}: {stderr}");
    }
}

/// SARIF for code scanning validates against the official SARIF 2.1.0 schema, names each
/// failing control as a rule with a repo-relative location and a stable fingerprint; the
/// markdown summary carries the matrix and the failure.
#[test]
fn sarif_and_markdown_reports_show_the_failure() {
    let work = workspace("audit-sarif");
    render_ok(work.path(), &["render"]);
    std::fs::remove_file(
        work.path()
            .join("out/acme/network/networkpolicy-default-deny.yaml"),
    )
    .expect("delete");
    let sarif = run(work.path(), &["audit", "--format", "sarif"]);
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
    for result in results {
        let uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .expect("uri");
        assert!(uri.starts_with("out/acme/"), "{uri}");
        assert!(result["partialFingerprints"]["gitopsc/v1"].is_string());
    }
    let rules = report["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules");
    assert!(rules.iter().all(|r| r["help"]["text"].is_string()));
    let schema = super::root().join("../shared/schemas/sarif-schema-2.1.0.json");
    if let Some(python) = super::python_with("jsonschema") {
        if schema.is_file() {
            let file = work.path().join("audit.sarif");
            std::fs::write(&file, &sarif.stdout).expect("write");
            let check = std::process::Command::new(python)
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
                "SARIF invalid:\n{}",
                text(&check.stderr)
            );
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
    assert!(
        !html.contains("http://") && !html.contains("https://"),
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
