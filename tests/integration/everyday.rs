//! Everyday use in a fleet repository (docs/usage.md): output that stays readable at fleet
//! scale, and the hooks platform teams wire gitopsc into.

use std::path::Path;

use super::{TempDir, fleet, run, text};

/// A generated fleet whose every profile opens an external entry without an `sslPolicy`:
/// the same warning (W0103) in each profile, at its own line.
fn fleet_with_a_shared_warning(count: usize) -> TempDir {
    let work = TempDir::new("fleet-warning");
    for (name, content) in fleet::generate(count) {
        let content = match name.strip_suffix(".yaml") {
            Some(customer) if !name.starts_with('_') => content.replace(
                "  database:\n",
                &format!(
                    "    external:\n      enabled: true\n      hosts: [{customer}.example.com]\n      \
                     allowedSourceRanges: [203.0.113.0/24]\n      tls: managed\n      \
                     cloudArmorPolicy: {customer}-allowlist\n      staticIpName: {customer}-ip\n  database:\n"
                ),
            ),
            _ => content,
        };
        std::fs::write(work.path().join(&name), content).expect("write profile");
    }
    work
}

fn stderr_of(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let output = run(dir, args);
    (
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

#[test]
fn one_warning_shared_by_a_fleet_is_printed_once() {
    let fleet = fleet_with_a_shared_warning(1000);
    let (code, stdout, stderr) = stderr_of(fleet.path(), &["validate", "."]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "");
    assert!(stderr.lines().count() < 30, "{stderr}");
    insta::assert_snapshot!(stderr);

    // --verbose names every place.
    let (_, _, verbose) = stderr_of(fleet.path(), &["validate", "--verbose", "."]);
    for i in 1..1000 {
        let place = format!("    customer-{i:05}.yaml:27:16\n");
        assert!(verbose.contains(&place), "--verbose omits {place}");
    }

    // JSON stays one record per diagnostic.
    let (_, _, json) = stderr_of(fleet.path(), &["validate", "--message-format", "json", "."]);
    let records: Vec<serde_json::Value> = json
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    // Each profile: the default SSL policy (W0103) and the audit control it fails (W0105).
    assert_eq!(records.len(), 2000);
    assert!(
        records
            .iter()
            .all(|r| r["code"] == "W0103" || r["code"] == "W0105")
    );

    // --quiet prints only errors: here nothing.
    let (code, stdout, quiet) = stderr_of(fleet.path(), &["validate", "--quiet", "."]);
    assert_eq!((code, stdout.as_str(), quiet.as_str()), (Some(0), "", ""));
}

#[test]
fn denied_warnings_fail_validate_and_stop_render() {
    let fleet = fleet_with_a_shared_warning(3);
    let (code, _, stderr) = stderr_of(fleet.path(), &["validate", "--deny-warnings", "."]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("error[W0103]"), "{stderr}");
    assert!(
        stderr.contains(
            "error: 6 errors (0 warnings, warnings denied by --deny-warnings) in 3 files"
        ),
        "{stderr}"
    );
    let (code, _, stderr) = stderr_of(
        fleet.path(),
        &["render", "--deny-warnings", "--quiet", "--out", "out", "."],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        !fleet.path().join("out").exists(),
        "render wrote with a denied warning"
    );
    // Without the flag the same fleet renders.
    let (code, _, stderr) = stderr_of(fleet.path(), &["render", "--out", "out", "."]);
    assert_eq!(code, Some(0), "{stderr}");
}

/// A generated fleet rendered into `out/`.
fn rendered_fleet(count: usize) -> TempDir {
    let work = TempDir::new("fleet-diff");
    fleet::write(work.path(), count).expect("write fleet");
    let (code, _, stderr) = stderr_of(work.path(), &["render", "--out", "out", "."]);
    assert_eq!(code, Some(0), "{stderr}");
    work
}

fn edit(path: &Path, from: &str, to: &str) {
    let content = std::fs::read_to_string(path).expect("read");
    assert!(content.contains(from), "{}: no {from:?}", path.display());
    std::fs::write(path, content.replacen(from, to, 1)).expect("write");
}

#[test]
fn a_layer_change_over_a_fleet_is_shown_once_with_the_customers_it_touches() {
    let fleet = rendered_fleet(1000);
    edit(
        &fleet.path().join("_defaults.yaml"),
        "  backup:\n    snapshots:\n",
        "  backup:\n    snapshots:\n      retain: 21\n",
    );
    let (code, markdown, stderr) = stderr_of(
        fleet.path(),
        &["diff", "--format", "markdown", "--out", "out", "."],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(markdown.len() < 65_536, "{} bytes", markdown.len());
    // The script's two changed lines, once, not the whole script per customer.
    assert_eq!(markdown.matches("+retain=21").count(), 1, "{markdown}");
    insta::assert_snapshot!(markdown);
    // JSON keeps every change of every customer.
    let (_, json, _) = stderr_of(
        fleet.path(),
        &["diff", "--format", "json", "--out", "out", "."],
    );
    let report: serde_json::Value = serde_json::from_str(&json).expect("JSON report");
    let folders = report["folders"].as_array().expect("folders");
    assert_eq!(folders.len(), 1000);
    assert!(folders.iter().all(|f| f["changed"] == 2), "{json:.2000}");
}

#[test]
fn a_diff_longer_than_a_comment_is_cut_and_says_where_the_rest_is() {
    let fleet = rendered_fleet(300);
    // Every customer changed differently: nothing to group.
    for i in 0..300 {
        edit(
            &fleet.path().join(format!("customer-{i:05}.yaml")),
            &format!("CUSTOMER_ID: \"{i}\""),
            &format!("CUSTOMER_ID: \"{i}-renamed\"\n      REGION_HINT: r{i}"),
        );
    }
    let (code, markdown, stderr) = stderr_of(
        fleet.path(),
        &["diff", "--format", "markdown", "--out", "out", "."],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(markdown.len() <= 65_536, "{} bytes", markdown.len());
    assert!(
        markdown.contains("300 folders would change."),
        "{markdown:.600}"
    );
    let footer = markdown.lines().last().expect("a footer");
    assert!(
        footer.contains("of 300 sets shown") && footer.contains("gitopsc diff --format json"),
        "{footer}"
    );
    // What is shown is whole: every details block is closed.
    assert_eq!(
        markdown.matches("<details>").count(),
        markdown.matches("</details>").count()
    );
    let (_, text, _) = stderr_of(fleet.path(), &["diff", "--out", "out", "."]);
    assert_eq!(
        text.matches("REGION_HINT").count(),
        300,
        "text keeps every customer"
    );

    // The text piped into `head`: more than a pipe holds, so gitopsc finds the pipe closed.
    assert!(text.len() > 65_536 + 16_384, "{} bytes", text.len());
    closed_pipe_ends_quietly(fleet.path(), &["diff", "--out", "out", "."]);
}

fn closed_pipe_ends_quietly(dir: &Path, args: &[&str]) {
    use std::io::Read;
    let mut child = super::gitopsc(dir)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("gitopsc runs");
    let mut first = [0u8; 16];
    let mut stdout = child.stdout.take().expect("stdout");
    stdout.read_exact(&mut first).expect("some output");
    drop(stdout);
    let output = child.wait_with_output().expect("gitopsc ends");
    assert!(
        !text(&output.stderr).contains("panicked"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn version_names_the_release_and_the_commit() {
    let output = run(&super::root(), &["--version"]);
    assert_eq!(output.status.code(), Some(0));
    let version = text(&output.stdout);
    let expected = format!("gitopsc {} (", env!("CARGO_PKG_VERSION"));
    assert!(version.starts_with(&expected), "{version}");
    let commit = version
        .trim_end()
        .strip_prefix(&expected)
        .and_then(|rest| rest.strip_suffix(')'))
        .expect("a commit in parentheses");
    // Built from a git checkout: the commit is the checkout's HEAD.
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(super::root())
        .output();
    if let Some(head) = head.ok().filter(|h| h.status.success()) {
        assert_eq!(commit, text(&head.stdout).trim());
    } else {
        assert_eq!(commit, "unknown");
    }
}

#[test]
fn completions_and_the_manual_come_from_the_command_line_definition() {
    let here = super::root();
    let bash = run(&here, &["completions", "bash"]);
    assert_eq!(bash.status.code(), Some(0));
    let script = text(&bash.stdout);
    for word in [
        "validate",
        "render",
        "diff",
        "audit",
        "explain",
        "--deny-warnings",
        "--no-cache",
    ] {
        assert!(script.contains(word), "bash completion lacks {word}");
    }
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(script.as_bytes())?;
            child.wait()
        })
        .expect("bash runs");
    assert!(syntax.success(), "bash -n refuses the completion script");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let output = run(&here, &["completions", shell]);
        assert_eq!(output.status.code(), Some(0), "{shell}");
        assert!(text(&output.stdout).contains("render"), "{shell}");
    }
    assert_eq!(run(&here, &["completions", "tcsh"]).status.code(), Some(2));

    let man = text(&run(&here, &["man"]).stdout);
    assert!(
        man.starts_with(".ie") && man.contains(".TH gitopsc 1"),
        "{man:.300}"
    );
    for command in [
        "validate",
        "render",
        "diff",
        "audit",
        "schema",
        "explain",
        "completions",
    ] {
        assert!(
            man.contains(&format!("gitopsc\\-{command}(1)")),
            "man lacks {command}"
        );
    }
}

/// Runs `pre-commit try-repo` of this repository's hooks in `repo`, with the gitopsc under
/// test first on PATH; returns success and the output.
fn pre_commit(pre_commit: &Path, repo: &Path, home: &Path, hook: &str) -> (bool, String) {
    let bin = Path::new(env!("CARGO_BIN_EXE_gitopsc"))
        .parent()
        .expect("bin folder")
        .to_path_buf();
    let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH");
    let output = std::process::Command::new(pre_commit)
        .args(["try-repo"])
        .arg(super::root())
        .args([hook, "--all-files", "--color", "never"])
        .current_dir(repo)
        .env("PATH", path)
        .env("PRE_COMMIT_HOME", home)
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .expect("pre-commit runs");
    (
        output.status.success(),
        format!("{}{}", text(&output.stdout), text(&output.stderr)),
    )
}

#[test]
fn pre_commit_hooks_pass_a_good_fleet_and_stop_a_bad_profile() {
    let Some(pre_commit_bin) = super::tool("pre-commit") else {
        return;
    };
    let work = TempDir::new("pre-commit");
    let repo = work.path().join("fleet");
    super::copy_tree(&super::root().join("profiles"), &repo.join("profiles"));
    super::copy_tree(&super::root().join("out"), &repo.join("out"));
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .args(args)
            .current_dir(&repo)
            .env("GIT_AUTHOR_NAME", "test")
            .env("GIT_AUTHOR_EMAIL", "test@example.com")
            .env("GIT_COMMITTER_NAME", "test")
            .env("GIT_COMMITTER_EMAIL", "test@example.com")
            .output()
            .expect("git runs");
        assert!(
            status.status.success(),
            "git {args:?}: {}",
            text(&status.stderr)
        );
    };
    git(&["init", "--quiet", "--initial-branch=main"]);
    git(&["add", "."]);
    git(&["commit", "--quiet", "-m", "fleet"]);
    let home = work.path().join("pre-commit-home");
    for hook in ["gitopsc-validate", "gitopsc-render-check"] {
        let (ok, output) = pre_commit(&pre_commit_bin, &repo, &home, hook);
        assert!(ok, "{hook} on the shipped fleet: {output}");
        assert!(output.contains("Passed"), "{hook}: {output}");
    }
    // A typo in a profile: both hooks stop the commit, validate saying where.
    let acme = repo.join("profiles/acme.yaml");
    let content = std::fs::read_to_string(&acme).expect("acme");
    std::fs::write(
        &acme,
        content.replacen("  app:\n", "  app:\n    replicaz: 3\n", 1),
    )
    .expect("write");
    git(&["add", "."]);
    let (ok, output) = pre_commit(&pre_commit_bin, &repo, &home, "gitopsc-validate");
    assert!(!ok, "validate passed a bad profile: {output}");
    assert!(
        output.contains("profiles/acme.yaml:") && output.contains("E0100"),
        "{output}"
    );
    let (ok, output) = pre_commit(&pre_commit_bin, &repo, &home, "gitopsc-render-check");
    assert!(!ok, "render --check passed a bad profile: {output}");
}

#[test]
fn the_action_is_what_the_pull_request_workflow_runs_and_its_scripts_pass_shellcheck() {
    let action = super::parse_yaml(
        &std::fs::read_to_string(super::root().join("action.yml")).expect("action.yml"),
    );
    assert_eq!(action["runs"]["using"], "composite");
    let workflow = std::fs::read_to_string(super::root().join(".github/workflows/gitops-pr.yml"))
        .expect("gitops-pr.yml");
    assert!(
        workflow.contains("      - uses: ./\n"),
        "the PR workflow runs the action"
    );
    // Every input the workflow passes is one the action declares (actionlint checks the
    // same in delivery::workflows_pass_actionlint, which reads action.yml for `uses: ./`).
    let Some(shellcheck) = super::tool("shellcheck") else {
        return;
    };
    let steps = action["runs"]["steps"].as_array().expect("steps");
    let scripts: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    assert!(scripts.len() >= 5, "{} scripts", scripts.len());
    for script in scripts {
        assert!(
            !script.contains("${{"),
            "inputs reach scripts through env, never inline: {script}"
        );
        let mut child = std::process::Command::new(&shellcheck)
            .args(["--shell=bash", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("shellcheck runs");
        {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(script.as_bytes())
                .expect("script");
        }
        let output = child.wait_with_output().expect("shellcheck ends");
        assert!(
            output.status.success(),
            "{script}\n{}",
            text(&output.stdout)
        );
    }
}

#[test]
fn new_writes_the_fields_the_layer_leaves_unset_and_validates_once_they_are_filled() {
    let work = super::workspace("new-profile");
    let (code, stdout, stderr) = stderr_of(work.path(), &["new", "hooli"]);
    assert_eq!(code, Some(0), "{stderr}");
    let path = work.path().join("profiles/hooli.yaml");
    let written = std::fs::read_to_string(&path).expect("the new profile");
    insta::assert_snapshot!("new_profile", written);
    insta::assert_snapshot!("new_listing", stdout);

    // The placeholders are not values: the profile is invalid until each is replaced.
    let (code, _, stderr) = stderr_of(work.path(), &["validate", "profiles/hooli.yaml"]);
    assert_eq!(code, Some(1), "{stderr}");
    for (_, line) in stdout
        .lines()
        .skip(2)
        .filter_map(|l| l.trim().split_once(':'))
    {
        let line = line.split_whitespace().next().expect("a line number");
        assert!(
            stderr.contains(&format!("profiles/hooli.yaml:{line}:")),
            "line {line}: {stderr}"
        );
    }
    let filled = written
        .replace(
            "credentials: ~",
            "credentials:\n      existingSecret: hooli-db",
        )
        .replace("network: ~", "network: hooli-vpc")
        .replace("projectId: ~", "projectId: hooli-prod")
        .replace("region: ~", "region: europe-west1")
        .replace("subnetwork: ~", "subnetwork: hooli-gke")
        .replace(
            "notificationChannels: ~",
            "notificationChannels:\n        - projects/hooli-prod/notificationChannels/4242",
        )
        .replace(
            "masterIpv4CidrBlock: ~",
            "masterIpv4CidrBlock: 172.16.9.0/28",
        );
    // Without the etcd key the customer would fail its audit, and validate says which
    // control, at the field's line.
    let keyless = filled.replace("secretsEncryptionKey: ~", "");
    std::fs::write(&path, &keyless).expect("fill in");
    let (code, _, stderr) = stderr_of(work.path(), &["validate", "profiles/hooli.yaml"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("warning[W0105]: `gitopsc audit` would fail GCP-ENC-1"),
        "{stderr}"
    );
    let filled = filled.replace(
        "secretsEncryptionKey: ~",
        "secretsEncryptionKey: projects/hooli-prod/locations/europe-west1/keyRings/gke/cryptoKeys/etcd",
    );
    assert!(!filled.contains(": ~"), "{filled}");
    std::fs::write(&path, filled).expect("fill in");
    // Filled in, the customer validates without a warning, renders, lands in its own
    // cluster and passes every control of the audit.
    let (code, _, stderr) = stderr_of(work.path(), &["--deny-warnings", "validate"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, _, stderr) = stderr_of(work.path(), &["render"]);
    assert_eq!(code, Some(0), "{stderr}");
    let application =
        std::fs::read_to_string(work.path().join("out/_argocd/applications/hooli.yaml"))
            .expect("the Application");
    let application = super::parse_yaml(&application);
    assert_eq!(application["spec"]["destination"]["name"], "hooli-gke");
    assert!(application["spec"]["destination"]["server"].is_null());
    let (code, audit, stderr) = stderr_of(work.path(), &["audit"]);
    assert_eq!(code, Some(0), "{audit}{stderr}");

    // Never overwrites; refuses a name that cannot be a customer and a missing layer.
    let before = std::fs::read(&path).expect("profile");
    let (code, _, stderr) = stderr_of(work.path(), &["new", "hooli"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("never overwrites"), "{stderr}");
    assert_eq!(std::fs::read(&path).expect("profile"), before);
    let (code, _, stderr) = stderr_of(work.path(), &["new", "Hooli_EU"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("cannot name a customer"), "{stderr}");
    let (code, _, stderr) = stderr_of(
        work.path(),
        &["new", "pied-piper", "--from", "_nothing.yaml"],
    );
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("profiles/_nothing.yaml does not exist"),
        "{stderr}"
    );
    assert!(!work.path().join("profiles/pied-piper.yaml").exists());
}

/// The README's five-minute tour, replayed on a copy of the repository: each command runs
/// and prints what the README says (the `#` text after it), with the exit code it names.
#[test]
fn the_readme_tour_replays_as_written() {
    let Some(git) = super::tool("git") else {
        return;
    };
    let readme = std::fs::read_to_string(super::root().join("README.md")).expect("README");
    let tour = readme
        .split("## Five-minute tour")
        .nth(1)
        .and_then(|rest| rest.split("```sh\n").nth(1))
        .and_then(|rest| rest.split("\n```").next())
        .expect("the tour's sh block");
    let work = super::workspace("tour");
    super::copy_tree(&super::root().join("out"), &work.path().join("out"));
    let bin_dir = TempDir::new("tour-bin");
    let bin = bin_dir.path();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_gitopsc"), bin.join("gitopsc")).expect("link");
    let sh = |command: &str| {
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let output = std::process::Command::new("sh")
            .args(["-c", command])
            .current_dir(work.path())
            .env("PATH", path)
            .env("NO_COLOR", "1")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .expect("sh runs");
        let printed = format!("{}{}", text(&output.stdout), text(&output.stderr));
        (output.status.code(), printed)
    };
    let (code, printed) = sh(&format!(
        "{} init -q && {0} add -A && {0} commit -qm tour",
        git.display()
    ));
    assert_eq!(code, Some(0), "{printed}");
    let mut steps: Vec<(String, Vec<String>)> = Vec::new();
    for line in tour.lines() {
        let (code_part, comment) = match line.split_once('#') {
            Some((code_part, comment)) => (code_part.trim(), Some(comment.trim())),
            None => (line.trim(), None),
        };
        if code_part.is_empty() {
            // An indented `#` continues the command above; one at the start is prose.
            if let (Some(comment), true, Some(step)) =
                (comment, line.starts_with(' '), steps.last_mut())
            {
                step.1.push(comment.to_string());
            }
            continue;
        }
        steps.push((
            code_part.to_string(),
            comment.map(str::to_string).into_iter().collect(),
        ));
    }
    assert!(steps.len() >= 8, "{steps:?}");
    for (command, expected) in steps {
        if command.starts_with("cargo build") {
            continue;
        }
        let (code, printed) = sh(&command);
        let exit = expected
            .iter()
            .find_map(|e| e.strip_prefix("exit ").and_then(|n| n.parse().ok()))
            .unwrap_or(0);
        assert_eq!(code, Some(exit), "`{command}` exited {code:?}:\n{printed}");
        for text in expected.iter().filter(|e| !e.starts_with("exit ")) {
            assert!(
                printed.contains(text.as_str()),
                "`{command}` does not print `{text}`:\n{printed}"
            );
        }
    }
    let (_, status) = sh(&format!("{} status --porcelain", git.display()));
    assert_eq!(status, "", "the tour's last command restores the checkout");
}

/// The audit keeps a record over the period: a workflow on main's pushes and a schedule
/// keeps attested reports; the exceptions file the action reads by default is watched by
/// the pull-request workflow and owned in CODEOWNERS.
#[test]
fn the_audit_has_a_record_on_main_and_its_exceptions_an_owner() {
    let read = |path: &str| std::fs::read_to_string(super::root().join(path)).expect(path);
    let action = read("action.yml");
    let exceptions = "audit-exceptions.yaml";
    assert!(
        action.contains(&format!("-f {exceptions}")),
        "the action's default"
    );
    let pr = super::parse_yaml(&read(".github/workflows/gitops-pr.yml"));
    let paths = pr["on"]["pull_request"]["paths"].to_string();
    assert!(paths.contains(exceptions), "{paths}");
    let owners = read(".github/CODEOWNERS");
    assert!(
        owners
            .lines()
            .any(|l| l.starts_with(&format!("/{exceptions} @"))),
        "{owners}"
    );
    let audit = super::parse_yaml(&read(".github/workflows/gitops-audit.yml"));
    assert_eq!(audit["on"]["push"]["branches"][0], "main");
    assert!(audit["on"]["schedule"][0]["cron"].is_string());
    assert_eq!(audit["permissions"]["attestations"], "write");
    assert_eq!(audit["permissions"]["id-token"], "write");
    let steps = audit["jobs"]["audit"]["steps"].to_string();
    for needed in [
        "actions/attest-build-provenance",
        "actions/upload-artifact",
        "for format in json html",
        exceptions,
    ] {
        assert!(steps.contains(needed), "{needed}: {steps}");
    }
}
