//! Hostile conditions while writing: renders started together, a folder that cannot be
//! replaced, a full disk, a killed render, and things in `out/` gitopsc did not write. Each
//! must leave every folder of `out/` wholly old or wholly new, `_argocd/` naming the
//! customers actually there, nothing foreign touched and no staging folder behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{TempDir, gitopsc, render_ok, run, text, tree, workspace};

/// Sets the shared layer's snapshot retention, which changes every customer's output.
fn set_retention(work: &Path, days: usize) {
    set_in_layer(work, "retain: ", days);
}

/// Sets the number after `key` in the shared layer.
fn set_in_layer(work: &Path, key: &str, value: usize) {
    let layer = work.join("profiles/_defaults.yaml");
    let old = std::fs::read_to_string(&layer).expect("layer");
    let at = old.find(key).expect("the layer sets the key") + key.len();
    let end = at + old[at..].find('\n').expect("line end");
    let new = format!("{}{value}{}", &old[..at], &old[end..]);
    std::fs::write(&layer, new).expect("write layer");
}

/// The hidden staging folders in `out`.
fn staging_folders(out: &Path) -> Vec<String> {
    std::fs::read_dir(out)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".gitopsc-staging"))
                .collect()
        })
        .unwrap_or_default()
}

/// Every folder in `out` is one that gitopsc wrote whole: its lock lists exactly its files,
/// each with its digest.
fn assert_every_folder_whole(out: &Path) {
    for entry in std::fs::read_dir(out).expect("out").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let gitopsc::write::OnDisk::Folder(files) =
            gitopsc::write::current(out, &name).expect("read folder")
        else {
            panic!("{name}: not a folder");
        };
        let lock = files
            .get(gitopsc::package::LOCK)
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .and_then(gitopsc::package::parse_lock)
            .unwrap_or_else(|| panic!("{name}: no readable lock"));
        assert_eq!(files.len(), lock.len() + 1, "{name}: files vs lock");
        for (path, digest) in &lock {
            let bytes = files
                .get(path)
                .unwrap_or_else(|| panic!("{name}/{path} missing"));
            assert_eq!(
                &gitopsc::serialize::digest(bytes),
                digest,
                "{name}/{path} half-written"
            );
        }
    }
}

/// Renders and requires `render --check` to agree and no staging folder to remain.
fn assert_rendered(work: &Path) {
    render_ok(work, &["render"]);
    render_ok(work, &["render", "--check"]);
    assert_eq!(staging_folders(&work.join("out")), Vec::<String>::new());
}

#[test]
fn renders_started_together_take_turns() {
    let work = workspace("concurrent");
    for round in 0..12 {
        set_retention(work.path(), 20 + round);
        let writers: Vec<_> = (0..4)
            .map(|_| {
                gitopsc(work.path())
                    .arg("render")
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        let reader = gitopsc(work.path())
            .args(["render", "--check"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        for writer in writers {
            let output = writer.wait_with_output().expect("wait");
            assert_eq!(
                output.status.code(),
                Some(0),
                "round {round}: {}",
                text(&output.stderr)
            );
        }
        // A reader sees the tree before or after a render, never between: drift or none.
        let output = reader.wait_with_output().expect("wait");
        assert!(
            matches!(output.status.code(), Some(0 | 1)),
            "round {round}: {}",
            text(&output.stderr)
        );
        let out = work.path().join("out");
        assert_eq!(staging_folders(&out), Vec::<String>::new(), "round {round}");
        assert_every_folder_whole(&out);
        render_ok(work.path(), &["render", "--check"]);
    }
}

#[test]
fn a_killed_render_leaves_whole_folders_and_the_next_render_completes() {
    let work = TempDir::new("killed");
    crate::fleet::write(&work.path().join("profiles"), 60).expect("fleet");
    render_ok(work.path(), &["render"]);
    for (round, delay_ms) in [15u64, 40, 80, 120, 200].into_iter().enumerate() {
        set_in_layer(work.path(), "max_connections: ", 200 + round);
        let mut child = gitopsc(work.path())
            .arg("render")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        assert_every_folder_whole(&work.path().join("out"));
        assert_rendered(work.path());
    }
}

#[test]
fn leftovers_of_a_killed_render_are_cleared_without_following_links() {
    let work = workspace("leftovers");
    render_ok(work.path(), &["render"]);
    let out = work.path().join("out");
    std::fs::create_dir_all(out.join(".acme.gitopsc-staging/deploy")).expect("mkdir");
    std::fs::write(
        out.join(".acme.gitopsc-staging/deploy/half.yaml"),
        "kind: Dep",
    )
    .expect("w");
    let elsewhere = work.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    std::fs::write(elsewhere.join("keep.txt"), "mine").expect("write");
    std::os::unix::fs::symlink(&elsewhere, out.join(".globex.gitopsc-staging")).expect("link");
    assert_rendered(work.path());
    assert_eq!(
        std::fs::read_to_string(elsewhere.join("keep.txt")).expect("kept"),
        "mine"
    );
}

#[test]
fn an_output_that_is_a_file_is_a_clear_error() {
    let work = workspace("out-file");
    std::fs::write(work.path().join("out"), "not a folder\n").expect("write");
    for args in [&["render"][..], &["render", "--check"], &["diff"]] {
        let output = run(work.path(), args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = text(&output.stderr);
        assert!(stderr.contains("out is not a folder"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert_eq!(
        std::fs::read_to_string(work.path().join("out")).expect("file"),
        "not a folder\n"
    );
}

#[test]
fn things_gitopsc_did_not_write_are_refused_until_forced() {
    let work = workspace("foreign");
    let out = work.path().join("out");
    let elsewhere = work.path().join("elsewhere");
    std::fs::create_dir_all(&out).expect("mkdir");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    std::fs::write(elsewhere.join("keep.txt"), "mine").expect("write");
    // A link where a customer's folder goes, a file where another's goes.
    std::os::unix::fs::symlink(&elsewhere, out.join("acme")).expect("link");
    std::fs::write(out.join("globex"), "notes").expect("write");
    // Things beside the folders, which gitopsc never owns.
    std::fs::write(out.join("README.md"), "fleet output").expect("write");
    std::fs::create_dir_all(out.join("notes")).expect("mkdir");
    std::fs::write(out.join("notes/todo.txt"), "x").expect("write");

    let output = run(work.path(), &["render"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("out/acme: a symbolic link, which gitopsc never writes"),
        "{stderr}"
    );
    assert!(
        stderr.contains("out/globex: a file where gitopsc writes a folder"),
        "{stderr}"
    );
    assert!(
        std::fs::symlink_metadata(out.join("acme"))
            .expect("link")
            .file_type()
            .is_symlink()
    );
    assert!(
        !out.join("initech").exists(),
        "nothing is written on refusal"
    );
    assert_eq!(staging_folders(&out), Vec::<String>::new());

    render_ok(work.path(), &["render", "--force"]);
    assert!(
        std::fs::symlink_metadata(out.join("acme"))
            .expect("dir")
            .is_dir()
    );
    assert!(out.join("globex").is_dir());
    assert_eq!(
        std::fs::read_to_string(elsewhere.join("keep.txt")).expect("kept"),
        "mine",
        "the link was replaced, not followed"
    );
    assert_eq!(std::fs::read_dir(&elsewhere).expect("dir").count(), 1);
    assert!(out.join("README.md").is_file() && out.join("notes/todo.txt").is_file());

    // A link inside a folder gitopsc wrote: refused, and removed (not followed) by --force.
    let secret = elsewhere.join("secret.txt");
    std::fs::write(&secret, "do not touch").expect("write");
    std::os::unix::fs::symlink(&secret, out.join("acme/extra.yaml")).expect("link");
    set_retention(work.path(), 33);
    let output = run(work.path(), &["render"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("extra.yaml: a symbolic link"),
        "{}",
        text(&output.stderr)
    );
    render_ok(work.path(), &["render", "--force"]);
    assert!(std::fs::symlink_metadata(out.join("acme/extra.yaml")).is_err());
    assert_eq!(
        std::fs::read_to_string(&secret).expect("kept"),
        "do not touch"
    );
    assert!(out.join("README.md").is_file() && out.join("notes/todo.txt").is_file());
}

/// `chattr -i` on drop, so a failing test still leaves a removable folder.
struct Immutable(PathBuf);

impl Immutable {
    fn set(path: &Path) -> Option<Immutable> {
        let status = Command::new("chattr").arg("+i").arg(path).status().ok()?;
        status.success().then(|| Immutable(path.to_path_buf()))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

/// `terraform init` and `apply` run where the docs say, in `out/<c>/terraform/`: what
/// Terraform writes there (its data folder, the provider lock, a bootstrap's local state)
/// is not drift, not a hand edit, and survives a render that rewrites the folder, as the
/// same files (hard links), the provider's link still a link.
#[test]
fn terraform_s_own_files_survive_renders() {
    let work = workspace("terraform-own");
    render_ok(work.path(), &["render"]);
    let root = work.path().join("out/acme/terraform");
    let own = [
        ".terraform/providers/registry.terraform.io/hashicorp/google/7.12.0/linux_amd64/terraform-provider-google",
        ".terraform/terraform.tfstate",
        ".terraform.lock.hcl",
        "bootstrap/terraform.tfstate",
        "bootstrap/terraform.tfstate.backup",
    ];
    for relative in own {
        let path = root.join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, relative).expect("write");
    }
    let cache = root.join(".terraform/providers/registry.terraform.io/hashicorp/cache");
    std::os::unix::fs::symlink("google/7.12.0", &cache).expect("link");
    let check = run(work.path(), &["render", "--check"]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));

    set_retention(work.path(), 35);
    render_ok(work.path(), &["render"]);
    assert_eq!(
        run(work.path(), &["render", "--check"]).status.code(),
        Some(0)
    );
    for relative in own {
        assert_eq!(
            std::fs::read_to_string(root.join(relative)).expect(relative),
            relative,
            "{relative} kept"
        );
    }
    assert_eq!(
        std::fs::read_link(&cache).expect("still a link"),
        Path::new("google/7.12.0")
    );
    assert_eq!(
        staging_folders(&work.path().join("out")),
        Vec::<String>::new()
    );

    // Not Terraform's: a file beside them is still a hand edit.
    std::fs::write(root.join("notes.tf.json"), "{}").expect("write");
    let output = run(work.path(), &["render"]);
    assert_eq!(output.status.code(), Some(2), "a hand edit beside them");
    let stderr = text(&output.stderr);
    assert!(stderr.contains("terraform/notes.tf.json"), "{stderr}");
    assert!(!stderr.contains(".terraform"), "{stderr}");
}

#[test]
fn a_folder_that_cannot_be_replaced_leaves_every_folder_as_it_was() {
    let work = workspace("immutable");
    render_ok(work.path(), &["render"]);
    let out = work.path().join("out");
    set_retention(work.path(), 35);
    let before = tree(&out);
    // Root ignores permission bits: only the immutable flag stops it renaming the folder.
    let Some(guard) = Immutable::set(&out.join("globex")) else {
        eprintln!("skipped: `chattr +i` is not available on this filesystem");
        return;
    };
    let output = run(work.path(), &["render"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("cannot write out/globex: Operation not permitted"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    assert_eq!(
        tree(&out),
        before,
        "acme was swapped in before globex failed"
    );
    assert_eq!(staging_folders(&out), Vec::<String>::new());

    // The same for a folder that must be removed: its customer's profile is gone.
    drop(guard);
    std::fs::remove_file(work.path().join("profiles/initech.yaml")).expect("rm");
    let _guard = Immutable::set(&out.join("initech")).expect("chattr worked above");
    let output = run(work.path(), &["render", "--allow-destroy", "initech"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert_eq!(tree(&out), before, "_argocd must still name initech");
    assert_eq!(staging_folders(&out), Vec::<String>::new());
    drop(_guard);
    render_ok(work.path(), &["render", "--allow-destroy", "initech"]);
    assert_rendered(work.path());
    assert!(!out.join("initech").exists());
}

/// A small tmpfs mounted on `out`, unmounted on drop.
struct Mounted(PathBuf);

impl Mounted {
    fn tmpfs(at: &Path, kilobytes: u64) -> Option<Mounted> {
        std::fs::create_dir_all(at).ok()?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kilobytes}k"), "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .ok()?;
        status.success().then(|| Mounted(at.to_path_buf()))
    }

    fn resize(&self, kilobytes: u64) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={kilobytes}k")])
            .arg(&self.0)
            .status()
            .expect("mount");
        assert!(status.success());
    }

    fn used_kilobytes(&self) -> u64 {
        let output = Command::new("df")
            .args(["--output=used", "-k"])
            .arg(&self.0)
            .output()
            .expect("df");
        text(&output.stdout)
            .lines()
            .nth(1)
            .and_then(|line| line.trim().parse().ok())
            .expect("df prints the used kilobytes")
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_midway_leaves_every_folder_as_it_was() {
    let work = workspace("full-disk");
    let out = work.path().join("out");
    let Some(disk) = Mounted::tmpfs(&out, 16 * 1024) else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root and mount(8))");
        return;
    };
    render_ok(work.path(), &["render"]);
    // Room for the tree and half of it again: a render that changes every folder stages a
    // whole new tree beside the old one, so it runs out of space midway.
    let used = disk.used_kilobytes();
    disk.resize(used * 3 / 2);
    set_retention(work.path(), 36);
    let before = tree(&out);
    let output = run(work.path(), &["render"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert_eq!(tree(&out), before);
    assert_eq!(staging_folders(&out), Vec::<String>::new());
    disk.resize(16 * 1024);
    assert_rendered(work.path());
}

/// Runs gitopsc, killing it after `seconds`: a hang is a failure, not a stuck suite.
fn run_bounded(dir: &Path, args: &[&str], seconds: u64) -> std::process::Output {
    let mut child = gitopsc(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("gitopsc {args:?} still running after {seconds} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn inputs_that_are_not_files_are_refused_without_reading_them() {
    let work = TempDir::new("not-files");
    let fifo = work.path().join("waiting.yaml");
    let status = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(status.success());
    // Reading /dev/zero never ends, opening a FIFO waits for a writer.
    let output = run_bounded(work.path(), &["validate", "/dev/zero", "waiting.yaml"], 60);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("cannot read /dev/zero: not a regular file"),
        "{stderr}"
    );
    assert!(
        stderr.contains("cannot read waiting.yaml: not a regular file"),
        "{stderr}"
    );
}

#[test]
fn a_mapping_of_many_keys_loads_and_merges_with_its_duplicates_found() {
    let work = TempDir::new("wide");
    let keys = 20_000;
    let mut layer = String::from(
        "apiVersion: gitopsc/v1alpha1\nkind: CustomerProfile\nspec:\n  app:\n    env:\n",
    );
    let mut profile = String::from(
        "apiVersion: gitopsc/v1alpha1\nkind: CustomerProfile\nextends: [_wide.yaml]\nmetadata: {name: wide}\nspec:\n  app:\n    env:\n",
    );
    for i in 0..keys {
        layer.push_str(&format!("      L{i}: a\n"));
        profile.push_str(&format!("      P{i}: b\n"));
    }
    // The profile's last key repeats its first: the index must still see it.
    profile.push_str("      P0: c\n");
    std::fs::write(work.path().join("_wide.yaml"), layer).expect("write");
    std::fs::write(work.path().join("wide.yaml"), profile).expect("write");
    // A scan per key made this 4.5 s of CPU with 24,000 keys each (docs/testing.md).
    let output = run_bounded(
        work.path(),
        &["--color", "never", "validate", "wide.yaml"],
        60,
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    let line = 8 + keys;
    assert!(
        stderr.contains(&format!(
            "wide.yaml:{line}:7: error[E0006]: duplicate key `P0`"
        )),
        "{}",
        &stderr[..stderr.len().min(2000)]
    );
    assert!(
        stderr.contains("note: wide.yaml:8:7: first defined here"),
        "{}",
        &stderr[..stderr.len().min(2000)]
    );
}

#[test]
fn more_profiles_than_one_run_compiles_is_a_clear_error() {
    let work = TempDir::new("many");
    let profiles = work.path().join("profiles");
    std::fs::create_dir_all(&profiles).expect("mkdir");
    for i in 0..=gitopsc::compiler::MAX_PROFILES {
        std::fs::write(profiles.join(format!("c{i:06}.yaml")), "").expect("write");
    }
    let output = run_bounded(work.path(), &["validate", "profiles"], 120);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("error[E0012]: 100001 profiles; one run compiles at most 100000"),
        "{stderr}"
    );
}
