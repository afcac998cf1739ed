//! Stage 8: the only code that writes to disk.
//!
//! Each `out/<customer>/` is built beside itself in a hidden staging folder and swapped in
//! with one atomic rename, so a crash or kill leaves the old tree or the new one, never a
//! mix. A folder is never replaced while it holds files its `gitopsc.lock` does not vouch
//! for (hand edits), unless `--force`.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use crate::package::{CustomerOutput, LOCK, parse_lock};
use crate::serialize::digest;

const STAGING_SUFFIX: &str = ".gitopsc-staging";

/// Why a render cannot proceed, or a difference `--check` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A file in `out/<c>/` that the lock does not list, or whose bytes differ from it.
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

/// Every file below `folder`, as `/`-separated relative paths, sorted.
fn files_below(folder: &Path) -> io::Result<BTreeMap<String, Vec<u8>>> {
    let mut found = BTreeMap::new();
    let mut pending = vec![folder.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                pending.push(path);
            } else {
                let relative = path
                    .strip_prefix(folder)
                    .map(|p| {
                        p.components()
                            .map(|c| c.as_os_str().to_string_lossy())
                            .collect::<Vec<_>>()
                            .join("/")
                    })
                    .unwrap_or_default();
                found.insert(relative, std::fs::read(&path)?);
            }
        }
    }
    Ok(found)
}

/// Files in `folder` that its lock does not vouch for.
fn hand_edits(folder: &Path) -> io::Result<Vec<Finding>> {
    let files = files_below(folder)?;
    let lock = files
        .get(LOCK)
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .and_then(parse_lock);
    let Some(lock) = lock else {
        return Ok(vec![Finding::HandEdited {
            path: folder.join(LOCK),
            why: "missing or unreadable, so this folder was not written by gitopsc",
        }]);
    };
    let mut findings = Vec::new();
    for (relative, bytes) in &files {
        if relative == LOCK {
            continue;
        }
        let why = match lock.get(relative) {
            None => "not listed in gitopsc.lock",
            Some(expected) if *expected != digest(bytes) => "changed since gitopsc wrote it",
            Some(_) => continue,
        };
        findings.push(Finding::HandEdited {
            path: folder.join(relative),
            why,
        });
    }
    Ok(findings)
}

/// Customer folders of `out` (not `_argocd/` or hidden ones) that have a lock.
fn customer_folders(out: &Path) -> io::Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    match std::fs::read_dir(out) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if !name.starts_with(['_', '.']) && entry.path().join(LOCK).is_file() {
                    names.insert(name);
                }
            }
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    Ok(names)
}

/// `render --check`: every file that differs between the compiled fleet and `out`.
pub fn check(
    out: &Path,
    customers: &[CustomerOutput],
    whole_fleet: bool,
) -> io::Result<Vec<Finding>> {
    let mut findings = Vec::new();
    for customer in customers {
        let folder = out.join(&customer.name);
        let on_disk = if folder.is_dir() {
            files_below(&folder)?
        } else {
            BTreeMap::new()
        };
        for (relative, content) in &customer.files {
            let why = match on_disk.get(relative) {
                None => "missing: render would add it",
                Some(bytes) if bytes.as_slice() != content.as_bytes() => {
                    "differs from what the profiles compile to"
                }
                Some(_) => continue,
            };
            findings.push(Finding::Drift {
                path: folder.join(relative),
                why,
            });
        }
        for relative in on_disk.keys().filter(|r| !customer.files.contains_key(*r)) {
            findings.push(Finding::Drift {
                path: folder.join(relative),
                why: "not produced by the profiles: render would remove it",
            });
        }
    }
    if whole_fleet {
        let compiled: BTreeSet<&str> = customers.iter().map(|c| c.name.as_str()).collect();
        for stale in customer_folders(out)?
            .iter()
            .filter(|n| !compiled.contains(n.as_str()))
        {
            findings.push(Finding::Drift {
                path: out.join(stale),
                why: "no profile names this customer: render would remove the folder",
            });
        }
    }
    Ok(findings)
}

/// Writes the compiled customers. Refuses, before changing anything, when a folder to be
/// replaced or removed holds hand edits and `force` is off.
pub fn write(
    out: &Path,
    customers: &[CustomerOutput],
    whole_fleet: bool,
    force: bool,
    jobs: usize,
) -> Result<Report, WriteError> {
    std::fs::create_dir_all(out).map_err(|e| WriteError::Io(out.to_path_buf(), e))?;
    recover(out).map_err(|e| WriteError::Io(out.to_path_buf(), e))?;
    let compiled: BTreeSet<&str> = customers.iter().map(|c| c.name.as_str()).collect();
    let stale: Vec<String> = if whole_fleet {
        customer_folders(out)
            .map_err(|e| WriteError::Io(out.to_path_buf(), e))?
            .into_iter()
            .filter(|n| !compiled.contains(n.as_str()))
            .collect()
    } else {
        Vec::new()
    };
    // First every check, then every change: a refusal leaves `out` exactly as it was.
    let mut refusals = Vec::new();
    let mut pending = Vec::new();
    let mut report = Report::default();
    for customer in customers {
        let folder = out.join(&customer.name);
        if folder.exists() {
            let current = files_below(&folder).map_err(|e| WriteError::Io(folder.clone(), e))?;
            let same = current.len() == customer.files.len()
                && customer
                    .files
                    .iter()
                    .all(|(p, c)| current.get(p).is_some_and(|b| b == c.as_bytes()));
            if same {
                report.unchanged += 1;
                continue;
            }
            if !force {
                refusals
                    .extend(hand_edits(&folder).map_err(|e| WriteError::Io(folder.clone(), e))?);
            }
        }
        pending.push(customer);
    }
    if !force {
        for name in &stale {
            let folder = out.join(name);
            refusals.extend(hand_edits(&folder).map_err(|e| WriteError::Io(folder.clone(), e))?);
        }
    }
    if !refusals.is_empty() {
        return Err(WriteError::HandEdits(refusals));
    }
    // Folders are independent, and creating files is mostly time in the kernel: write
    // several customers at once.
    for (customer, result) in pending
        .iter()
        .zip(crate::parallel_map(&pending, jobs, |c| replace(out, c)))
    {
        result.map_err(|e| WriteError::Io(out.join(&customer.name), e))?;
        report.written.push(customer.name.clone());
    }
    for name in stale {
        let folder = out.join(&name);
        let doomed = out.join(format!(".{name}{STAGING_SUFFIX}"));
        // Rename first, so a kill mid-removal leaves only a hidden folder that `recover` clears.
        std::fs::rename(&folder, &doomed).map_err(|e| WriteError::Io(folder.clone(), e))?;
        std::fs::remove_dir_all(&doomed).map_err(|e| WriteError::Io(doomed.clone(), e))?;
        report.removed.push(name);
    }
    Ok(report)
}

#[derive(Debug)]
pub enum WriteError {
    Io(PathBuf, io::Error),
    HandEdits(Vec<Finding>),
}

/// Removes staging folders left by a render that was killed.
fn recover(out: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(out)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.ends_with(STAGING_SUFFIX) {
            std::fs::remove_dir_all(entry.path())?;
        }
    }
    Ok(())
}

fn replace(out: &Path, customer: &CustomerOutput) -> io::Result<()> {
    let folder = out.join(&customer.name);
    let staging = out.join(format!(".{}{STAGING_SUFFIX}", customer.name));
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
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
    if folder.exists() {
        exchange(&staging, &folder)?;
        // `staging` now holds the old tree.
        std::fs::remove_dir_all(&staging)
    } else {
        std::fs::rename(&staging, &folder)
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
