//! Stage 8: the only code that writes to disk.
//!
//! Each folder of the output (`out/<customer>/`, `out/_argocd/`, a chart) is built beside
//! itself in a hidden staging folder and swapped in with one atomic rename, so a crash or
//! kill leaves the old tree or the new one, never a mix. A folder is never replaced while it
//! holds files its `gitopsc.lock` does not vouch for (hand edits), unless `--force`, and
//! never by a folder of the other format (a chart over manifests), even with `--force`.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use crate::package::{Folder, Format, LOCK, lock_format, parse_lock};
use crate::serialize::digest;

const STAGING_SUFFIX: &str = ".gitopsc-staging";

/// What a symbolic link reads as among a folder's files: never the bytes of a file gitopsc
/// writes (its output holds no NUL), so a link is always a difference and never vouched.
const SYMLINK: &[u8] = b"\0gitopsc: a symbolic link";

/// Why a render cannot proceed, or a difference `--check` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A file in `out/<c>/` that the lock does not list, or whose bytes differ from it;
    /// or `out/<c>` itself when it is not a folder gitopsc wrote (a link, a file).
    HandEdited { path: PathBuf, why: &'static str },
    /// `--check`: a file that would be written differently, added or removed.
    Drift { path: PathBuf, why: &'static str },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::HandEdited { path, why } | Finding::Drift { path, why } => {
                write!(f, "{}: {why}", path.display())
            }
        }
    }
}

/// What a render changed.
#[derive(Debug, Default)]
pub struct Report {
    pub written: Vec<String>,
    pub unchanged: usize,
    pub removed: Vec<String>,
}

#[derive(Debug)]
pub enum WriteError {
    Io(PathBuf, io::Error),
    HandEdits(Vec<Finding>),
    /// The folder holds the other format's output (its lock says which).
    WrongFormat {
        folder: PathBuf,
        found: String,
    },
    /// `out` exists and is not a folder.
    NotAFolder(PathBuf),
    /// Everything was swapped in, but an old tree (the folder, its staging name) could not
    /// be removed; the next render tries again.
    OldTree(PathBuf, PathBuf, io::Error),
}

/// The files Terraform writes where it runs: its data folder, the provider lock it asks to
/// be committed, a local state. Running `terraform init` and `apply` in
/// `out/<c>/terraform/` (docs/bring-up.md) puts them there; they are Terraform's, not
/// gitopsc's: never compared, never counted as hand edits, and carried into every new
/// version of the folder.
const TERRAFORM_OWN: [&str; 5] = [
    ".terraform",
    ".terraform.lock.hcl",
    ".terraform.tfstate.lock.info",
    "terraform.tfstate",
    "terraform.tfstate.backup",
];

/// Whether `relative` (a path below an output folder) is one of Terraform's own entries in
/// one of the folder's Terraform roots (`terraform/`, `terraform/bootstrap/`, at any depth,
/// as a chart nests its folders).
fn terraform_own(relative: &str) -> bool {
    let parts: Vec<&str> = relative.split('/').collect();
    let Some((name, parents)) = parts.split_last() else {
        return false;
    };
    let root = matches!(parents, [.., "terraform"] | [.., "terraform", "bootstrap"]);
    root && TERRAFORM_OWN.contains(name)
}

fn relative_to(folder: &Path, path: &Path) -> String {
    path.strip_prefix(folder)
        .map(|p| {
            p.components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/")
        })
        .unwrap_or_default()
}

/// Every file below `folder`, as `/`-separated relative paths, sorted; Terraform's own
/// entries left out, unread (its data folder holds the provider, over 100 MB).
fn files_below(folder: &Path) -> io::Result<BTreeMap<String, Vec<u8>>> {
    let mut found = BTreeMap::new();
    let mut pending = vec![folder.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            let relative = relative_to(folder, &path);
            if terraform_own(&relative) {
                continue;
            }
            if kind.is_dir() {
                pending.push(path);
            } else {
                // A link is never followed: it may lead anywhere, and it is not gitopsc's.
                let bytes = if kind.is_symlink() {
                    SYMLINK.to_vec()
                } else {
                    std::fs::read(&path)?
                };
                found.insert(relative, bytes);
            }
        }
    }
    Ok(found)
}

/// Files in `folder` that its lock does not vouch for.
fn hand_edits(folder: &Path, files: &BTreeMap<String, Vec<u8>>) -> Vec<Finding> {
    let lock = files
        .get(LOCK)
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .and_then(parse_lock);
    let Some(lock) = lock else {
        return vec![Finding::HandEdited {
            path: folder.join(LOCK),
            why: "missing or unreadable, so this folder was not written by gitopsc",
        }];
    };
    let mut findings = Vec::new();
    for (relative, bytes) in files {
        if relative == LOCK {
            continue;
        }
        let why = match lock.get(relative) {
            _ if bytes == SYMLINK => "a symbolic link, which gitopsc never writes",
            None => "not listed in gitopsc.lock",
            Some(expected) if *expected != digest(bytes) => "changed since gitopsc wrote it",
            Some(_) => continue,
        };
        findings.push(Finding::HandEdited {
            path: folder.join(relative),
            why,
        });
    }
    findings
}

/// The folders of `out` that gitopsc owns in `format`: not hidden, with a lock of it.
fn owned_folders(out: &Path, format: Format) -> io::Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    match std::fs::read_dir(out) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry?;
                if !entry.file_type()?.is_dir() {
                    continue;
                }
                let name = entry.file_name().to_string_lossy().into_owned();
                let lock = std::fs::read_to_string(entry.path().join(LOCK)).unwrap_or_default();
                if !name.starts_with('.') && lock_format(&lock) == Some(format.as_str()) {
                    names.insert(name);
                }
            }
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    Ok(names)
}

/// What stands at `out/<name>` now.
#[derive(Debug)]
pub enum OnDisk {
    /// A folder and its files (none when nothing is there).
    Folder(BTreeMap<String, Vec<u8>>),
    /// A link or a file, which gitopsc never writes there (`foreign`).
    NotAFolder,
}

impl OnDisk {
    /// The folder's files; none for what is not a folder.
    pub fn into_files(self) -> BTreeMap<String, Vec<u8>> {
        match self {
            OnDisk::Folder(files) => files,
            OnDisk::NotAFolder => BTreeMap::new(),
        }
    }
}

/// What is at `out/<name>` now, read without following links.
pub fn current(out: &Path, name: &str) -> io::Result<OnDisk> {
    let folder = out.join(name);
    match std::fs::symlink_metadata(&folder) {
        Ok(meta) if meta.is_dir() => files_below(&folder).map(OnDisk::Folder),
        Ok(_) => Ok(OnDisk::NotAFolder),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            Ok(OnDisk::Folder(BTreeMap::new()))
        }
        Err(error) => Err(error),
    }
}

/// `out/<name>` when it exists and is not a folder (a link, a file): gitopsc did not write
/// it and replaces it only with `--force`.
fn foreign(out: &Path, name: &str) -> Option<Finding> {
    let path = out.join(name);
    let meta = std::fs::symlink_metadata(&path).ok()?;
    let why = if meta.file_type().is_symlink() {
        "a symbolic link, which gitopsc never writes; it is not followed"
    } else if meta.is_dir() {
        return None;
    } else {
        "a file where gitopsc writes a folder"
    };
    Some(Finding::HandEdited { path, why })
}

/// The files of `out/<name>/` when the folder is current without compiling it: its lock
/// starts with `head` (this compiler, this format, this input digest), lists exactly the
/// files on disk, and every file hashes to its entry, so a hand edit is still seen. `None`
/// when anything differs or cannot be read: the caller then compiles and compares.
pub fn vouched(out: &Path, name: &str, head: &str) -> Option<BTreeMap<String, Vec<u8>>> {
    let folder = out.join(name);
    if !std::fs::symlink_metadata(&folder).ok()?.is_dir() {
        return None;
    }
    let text = std::fs::read_to_string(folder.join(LOCK)).ok()?;
    if !text.starts_with(head) {
        return None;
    }
    let lock = parse_lock(&text)?;
    let files = files_below(&folder).ok()?;
    let listed = files.len() == lock.len() + 1
        && files.iter().all(|(relative, bytes)| {
            relative == LOCK || lock.get(relative).is_some_and(|d| *d == digest(bytes))
        });
    listed.then_some(files)
}

/// `render --check`: every file that differs between the compiled folders and `out`.
pub fn check(
    out: &Path,
    folders: &[Folder],
    format: Format,
    whole_fleet: bool,
    jobs: usize,
) -> io::Result<Vec<Finding>> {
    // Each folder is compared where it is read, so only one folder's files per thread are
    // in memory at a time, never the whole tree.
    let per_folder = crate::parallel_map(folders, jobs, |folder| check_folder(out, folder));
    let mut findings = Vec::new();
    for folder_findings in per_folder {
        findings.extend(folder_findings?);
    }
    for stale in stale_folders(out, &names(folders), format, whole_fleet)? {
        findings.push(Finding::Drift {
            path: out.join(stale),
            why: "no profile produces this folder: render would remove it",
        });
    }
    Ok(findings)
}

/// How one compiled folder differs from its copy under `out`.
pub fn check_folder(out: &Path, folder: &Folder) -> io::Result<Vec<Finding>> {
    let base = out.join(&folder.name);
    let OnDisk::Folder(on_disk) = current(out, &folder.name)? else {
        return Ok(vec![Finding::Drift {
            path: base,
            why: "not a folder but a link or a file: render would refuse it without --force",
        }]);
    };
    let mut findings = Vec::new();
    for (relative, content) in &folder.files {
        let why = match on_disk.get(relative) {
            None => "missing: render would add it",
            Some(bytes) if bytes.as_slice() != content.as_bytes() => {
                "differs from what the profiles compile to"
            }
            Some(_) => continue,
        };
        findings.push(Finding::Drift {
            path: base.join(relative),
            why,
        });
    }
    for relative in on_disk.keys().filter(|r| !folder.files.contains_key(*r)) {
        findings.push(Finding::Drift {
            path: base.join(relative),
            why: "not produced by the profiles: render would remove it",
        });
    }
    Ok(findings)
}

/// Owned folders that the compiled set no longer produces (only for a whole fleet).
pub fn stale_folders(
    out: &Path,
    compiled: &[&str],
    format: Format,
    whole_fleet: bool,
) -> io::Result<Vec<String>> {
    if !whole_fleet {
        return Ok(Vec::new());
    }
    let compiled: BTreeSet<&str> = compiled.iter().copied().collect();
    Ok(owned_folders(out, format)?
        .into_iter()
        .filter(|n| !compiled.contains(n.as_str()))
        .collect())
}

fn names(folders: &[Folder]) -> Vec<&str> {
    folders.iter().map(|f| f.name.as_str()).collect()
}

/// What `stage` found for one compiled folder.
#[derive(Debug)]
pub enum Staged {
    /// `out/<name>/` already holds exactly these files.
    Unchanged,
    /// The new folder is written beside the old one, for `commit` to swap in.
    Ready(String),
    /// The folder on disk holds files its lock does not vouch for; nothing was staged.
    Refused(Vec<Finding>),
}

/// An advisory lock on `out`, held until dropped: exclusive for a writing render, shared
/// for `render --check` and `diff`, so renders started together on one `out` (a developer
/// and a pre-commit hook, two CI jobs in one workspace) take turns and a reader never sees
/// a render half-committed. It is `flock` on the folder itself, so nothing is written into
/// `out` for it, and the kernel releases it when the process dies.
pub struct OutLock {
    _folder: std::fs::File,
}

/// Takes the lock on `out`, calling `waiting` once if another gitopsc holds it. A writer
/// makes `out` when it is missing (the caller removes it again if nothing was written); a
/// reader of a missing `out` needs no lock (`None`).
pub fn lock(
    out: &Path,
    exclusive: bool,
    waiting: &dyn Fn(),
) -> Result<Option<OutLock>, WriteError> {
    let io_error = |e| WriteError::Io(out.to_path_buf(), e);
    let mut waited = false;
    loop {
        match std::fs::metadata(out) {
            Ok(meta) if !meta.is_dir() => return Err(WriteError::NotAFolder(out.to_path_buf())),
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound && !exclusive => return Ok(None),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir_all(out).map_err(io_error)?;
            }
            Err(error) => return Err(io_error(error)),
        }
        let folder = match std::fs::File::open(out) {
            Ok(folder) => folder,
            // Removed between the two calls by a render that wrote nothing: look again.
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(io_error(error)),
        };
        if !flock(&folder, exclusive, false).map_err(io_error)? {
            if !waited {
                waiting();
                waited = true;
            }
            flock(&folder, exclusive, true).map_err(io_error)?;
        }
        // The holder we waited for may have removed `out` (it wrote nothing into a folder
        // it had made), and another render made it again: the lock must be on that one.
        if same_file(&folder, out) {
            return Ok(Some(OutLock { _folder: folder }));
        }
    }
}

#[cfg(unix)]
fn flock(folder: &std::fs::File, exclusive: bool, wait: bool) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    let mode = if exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    };
    let mode = if wait { mode } else { mode | libc::LOCK_NB };
    loop {
        // SAFETY: the descriptor is open for as long as `folder` lives.
        if unsafe { libc::flock(folder.as_raw_fd(), mode) } == 0 {
            return Ok(true);
        }
        let error = io::Error::last_os_error();
        match error.kind() {
            io::ErrorKind::Interrupted => {}
            io::ErrorKind::WouldBlock => return Ok(false),
            _ => return Err(error),
        }
    }
}

/// Without `flock`, renders on one `out` are not serialised.
#[cfg(not(unix))]
fn flock(_: &std::fs::File, _: bool, _: bool) -> io::Result<bool> {
    Ok(true)
}

#[cfg(unix)]
fn same_file(open: &std::fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (open.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::File, path: &Path) -> bool {
    path.is_dir()
}

/// Makes `out` and clears the staging folders a killed render left behind.
pub fn prepare(out: &Path) -> Result<(), WriteError> {
    let io_error = |e| WriteError::Io(out.to_path_buf(), e);
    std::fs::create_dir_all(out).map_err(io_error)?;
    recover(out).map_err(io_error)
}

/// Compares a compiled folder with `out/<name>/` and, when they differ and the folder on
/// disk may be replaced (no hand edits unless `force`, never the other format), writes the
/// new folder into its hidden staging folder. Nothing visible in `out` changes, so a
/// refusal elsewhere can still leave `out` exactly as it was (`abandon`).
pub fn stage(
    out: &Path,
    folder: &Folder,
    format: Format,
    force: bool,
) -> Result<Staged, WriteError> {
    let path = out.join(&folder.name);
    let io_error = |e| WriteError::Io(path.clone(), e);
    if let Some(finding) = foreign(out, &folder.name).filter(|_| !force) {
        return Ok(Staged::Refused(vec![finding]));
    }
    // With `--force`, a link or a file at `path` is replaced like an empty folder.
    let on_disk = current(out, &folder.name).map_err(io_error)?.into_files();
    let same = on_disk.len() == folder.files.len()
        && folder
            .files
            .iter()
            .all(|(p, c)| on_disk.get(p).is_some_and(|b| b == c.as_bytes()));
    if same {
        return Ok(Staged::Unchanged);
    }
    if !on_disk.is_empty() {
        refuse_wrong_format(&path, &on_disk, format)?;
        if !force {
            let refusals = hand_edits(&path, &on_disk);
            if !refusals.is_empty() {
                return Ok(Staged::Refused(refusals));
            }
        }
    }
    drop(on_disk);
    if let Err(error) = write_staging(out, folder) {
        // A full disk midway: nothing half-written stays behind.
        let _ = remove_entry(&staging(out, &folder.name));
        return Err(WriteError::Io(staging(out, &folder.name), error));
    }
    Ok(Staged::Ready(folder.name.clone()))
}

/// Hand edits in folders that would be removed (unless `force`).
pub fn refuse_stale(out: &Path, stale: &[String], force: bool) -> Result<Vec<Finding>, WriteError> {
    let mut refusals = Vec::new();
    if !force {
        for name in stale {
            let folder = out.join(name);
            let on_disk = files_below(&folder).map_err(|e| WriteError::Io(folder.clone(), e))?;
            refusals.extend(hand_edits(&folder, &on_disk));
        }
    }
    Ok(refusals)
}

/// Removes the staging folders of a render that refused to write.
pub fn abandon(out: &Path, staged: &[String]) {
    for name in staged {
        let _ = remove_entry(&staging(out, name));
    }
}

/// Swaps every staged folder in and removes `stale`, all or nothing: each folder is swapped
/// in with one atomic rename that keeps its old tree under the staging name, and only when
/// every rename succeeded are the old trees removed. When one fails (a folder that cannot
/// be moved), the renames done are undone and the staging folders removed, so every
/// folder, `_argocd/` included, stays as it was. The Argo CD folder is swapped last: a
/// render killed midway leaves it naming the customers as they were.
pub fn commit(
    out: &Path,
    staged: &[String],
    stale: &[String],
    jobs: usize,
) -> Result<(), WriteError> {
    let mut order: Vec<&String> = staged.iter().collect();
    order.sort_by_key(|name| name.as_str() == crate::package::argocd::FOLDER);
    let mut done: Vec<Move> = Vec::new();
    let moves = order
        .into_iter()
        .map(|name| (name, false))
        .chain(stale.iter().map(|name| (name, true)));
    for (name, removal) in moves {
        let moved = if removal {
            std::fs::rename(out.join(name), staging(out, name)).map(|()| Move::Removed(name))
        } else {
            swap_in(out, name)
        };
        match moved {
            Ok(moved) => done.push(moved),
            Err(error) => {
                for moved in done.iter().rev() {
                    // Best effort: these renames just succeeded the other way.
                    let _ = moved.undo(out);
                }
                abandon(out, staged);
                return Err(WriteError::Io(out.join(name), error));
            }
        }
    }
    // Every folder is in place; the old trees wait under the staging names.
    let old: Vec<String> = done
        .iter()
        .filter(|moved| !matches!(moved, Move::Added(_)))
        .map(|moved| moved.name().to_string())
        .collect();
    for (name, result) in old.iter().zip(crate::parallel_map(&old, jobs, |name| {
        remove_entry(&staging(out, name))
    })) {
        result.map_err(|e| WriteError::OldTree(out.join(name), staging(out, name), e))?;
    }
    Ok(())
}

/// One rename of `commit`, and how to take it back.
enum Move<'a> {
    /// `out/<name>` is new: the staging folder was renamed to it.
    Added(&'a str),
    /// `out/<name>` and its staging folder were exchanged.
    Replaced(&'a str),
    /// `out/<name>` was renamed to its staging name, to be removed.
    Removed(&'a str),
}

impl Move<'_> {
    fn name(&self) -> &str {
        match self {
            Move::Added(name) | Move::Replaced(name) | Move::Removed(name) => name,
        }
    }

    fn undo(&self, out: &Path) -> io::Result<()> {
        let (folder, staging) = (out.join(self.name()), staging(out, self.name()));
        match self {
            Move::Added(_) => std::fs::rename(folder, staging),
            Move::Replaced(_) => exchange(&staging, &folder),
            Move::Removed(_) => std::fs::rename(staging, folder),
        }
    }
}

/// Writes the compiled folders held in memory: `stage` each, then `commit` unless anything
/// was refused, in which case `out` is left exactly as it was.
pub fn write(
    out: &Path,
    folders: &[Folder],
    format: Format,
    whole_fleet: bool,
    force: bool,
    jobs: usize,
) -> Result<Report, WriteError> {
    prepare(out)?;
    let stale = stale_folders(out, &names(folders), format, whole_fleet)
        .map_err(|e| WriteError::Io(out.to_path_buf(), e))?;
    let staged = crate::parallel_map(folders, jobs, |folder| stage(out, folder, format, force));
    finish(out, staged, stale, force, jobs)
}

/// The end of every writing render: refuse (and clear the staging folders) if any folder
/// was refused or failed, else swap the staged folders in and remove the stale ones.
pub fn finish(
    out: &Path,
    staged: Vec<Result<Staged, WriteError>>,
    stale: Vec<String>,
    force: bool,
    jobs: usize,
) -> Result<Report, WriteError> {
    let mut report = Report::default();
    let mut refusals = Vec::new();
    let mut failure = None;
    for result in staged {
        match result {
            Ok(Staged::Unchanged) => report.unchanged += 1,
            Ok(Staged::Ready(name)) => report.written.push(name),
            Ok(Staged::Refused(found)) => refusals.extend(found),
            Err(error) => failure = failure.or(Some(error)),
        }
    }
    report.written.sort();
    let outcome = match failure {
        Some(error) => Err(error),
        None => refuse_stale(out, &stale, force),
    };
    match outcome {
        Ok(found) if refusals.is_empty() && found.is_empty() => {}
        Ok(found) => {
            abandon(out, &report.written);
            refusals.extend(found);
            return Err(WriteError::HandEdits(refusals));
        }
        Err(error) => {
            abandon(out, &report.written);
            return Err(error);
        }
    }
    commit(out, &report.written, &stale, jobs)?;
    report.removed = stale;
    Ok(report)
}

fn refuse_wrong_format(
    folder: &Path,
    on_disk: &BTreeMap<String, Vec<u8>>,
    format: Format,
) -> Result<(), WriteError> {
    let found = on_disk
        .get(LOCK)
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .and_then(lock_format);
    match found {
        Some(found) if found != format.as_str() => Err(WriteError::WrongFormat {
            folder: folder.to_path_buf(),
            found: found.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Removes staging folders left by a render that was killed.
fn recover(out: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(out)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.ends_with(STAGING_SUFFIX) {
            remove_entry(&entry.path())?;
        }
    }
    Ok(())
}

fn staging(out: &Path, name: &str) -> PathBuf {
    out.join(format!(".{name}{STAGING_SUFFIX}"))
}

/// Terraform's own entries in `folder` (`terraform_own`), as relative paths.
fn terraform_entries(folder: &Path) -> io::Result<Vec<String>> {
    let mut found = Vec::new();
    let mut pending = vec![folder.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        for entry in entries {
            let entry = entry?;
            let relative = relative_to(folder, &entry.path());
            if terraform_own(&relative) {
                found.push(relative);
            } else if entry.file_type()?.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Puts `from`'s Terraform entries into `to` as hard links (links as links), so the new
/// version of a folder has them while the old one keeps them until it is swapped out: an
/// abandoned or killed render loses nothing.
fn carry_terraform_entries(from: &Path, to: &Path) -> io::Result<()> {
    fn link(from: &Path, to: &Path) -> io::Result<()> {
        let kind = std::fs::symlink_metadata(from)?.file_type();
        if kind.is_symlink() {
            #[cfg(unix)]
            return std::os::unix::fs::symlink(std::fs::read_link(from)?, to);
            #[cfg(not(unix))]
            return std::fs::copy(from, to).map(drop);
        }
        if kind.is_dir() {
            std::fs::create_dir_all(to)?;
            for entry in std::fs::read_dir(from)? {
                let entry = entry?;
                link(&entry.path(), &to.join(entry.file_name()))?;
            }
            return Ok(());
        }
        std::fs::hard_link(from, to)
    }
    // Only from a folder gitopsc wrote: never through a link, never out of a file.
    if !std::fs::symlink_metadata(from).is_ok_and(|meta| meta.is_dir()) {
        return Ok(());
    }
    for relative in terraform_entries(from)? {
        let target = to.join(&relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        link(&from.join(&relative), &target)?;
    }
    Ok(())
}

fn write_staging(out: &Path, customer: &Folder) -> io::Result<()> {
    let staging = staging(out, &customer.name);
    remove_entry(&staging)?;
    let folders: BTreeSet<&str> = customer
        .files
        .keys()
        .filter_map(|p| p.rsplit_once('/'))
        .map(|(d, _)| d)
        .collect();
    std::fs::create_dir_all(&staging)?;
    for folder in folders {
        std::fs::create_dir_all(staging.join(folder))?;
    }
    for (relative, content) in &customer.files {
        std::fs::write(staging.join(relative), content)?;
    }
    carry_terraform_entries(&out.join(&customer.name), &staging)
}

fn swap_in<'a>(out: &Path, name: &'a str) -> io::Result<Move<'a>> {
    let folder = out.join(name);
    let staging = staging(out, name);
    if std::fs::symlink_metadata(&folder).is_ok() {
        // `staging` now holds the old tree (or the link or file `--force` replaces).
        exchange(&staging, &folder).map(|()| Move::Replaced(name))
    } else {
        std::fs::rename(&staging, &folder).map(|()| Move::Added(name))
    }
}

/// Removes a folder, or the link or file in its place (a link is not followed).
fn remove_entry(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}

/// Swaps two folders in one step (Linux `renameat2(RENAME_EXCHANGE)`).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(a.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let b = CString::new(b.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: both paths are valid NUL-terminated strings that outlive the call.
    let status = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if status == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Elsewhere there is no atomic exchange: the old tree is moved aside first, so a kill
/// between the two renames leaves `<name>.gitopsc-old` beside a missing folder.
#[cfg(not(target_os = "linux"))]
fn exchange(staging: &Path, folder: &Path) -> io::Result<()> {
    let aside = folder.with_extension("gitopsc-old");
    std::fs::rename(folder, &aside)?;
    std::fs::rename(staging, folder)?;
    std::fs::rename(&aside, staging)
}
