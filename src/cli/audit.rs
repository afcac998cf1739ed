//! `gitopsc audit`.

use std::path::{Path, PathBuf};

use super::{AuditFormat, FAILED, OK, Printer, USAGE, compile_each, default_jobs};
use crate::audit::{Provenance, report};
use crate::write;

/// What `audit` is asked.
pub(super) struct Request<'a> {
    pub paths: &'a [PathBuf],
    pub out: &'a Path,
    pub format: AuditFormat,
    pub exceptions: Option<&'a Path>,
    /// `YYYY-MM-DD`: judge exceptions as of that day instead of today (a re-audit).
    pub as_of: Option<&'a str>,
}

/// `audit`: compile, compare with the committed output (CHG-1), then judge every control
/// on the committed files of each customer. Exit 0 every control passes (or does not
/// apply, or is excepted), 1 a control fails or an exception is wrong, 2 the audit could
/// not run — with, for `json` and `sarif`, a document that says so instead of a report.
pub(super) fn audit(printer: &Printer, request: &Request) -> u8 {
    match run(printer, request) {
        Ok(code) => code,
        Err(Stopped { problems, printed }) => {
            if !printed {
                for problem in &problems {
                    eprintln!("error: {problem}");
                }
            }
            match request.format {
                AuditFormat::Json => println!("{}", report::json_error(&problems)),
                AuditFormat::Sarif => println!("{}", report::sarif_error(&problems)),
                _ => {}
            }
            USAGE
        }
    }
}

/// Why the audit could not run, and whether the compiler's printer has shown it already.
struct Stopped {
    problems: Vec<String>,
    printed: bool,
}

impl From<Vec<String>> for Stopped {
    fn from(problems: Vec<String>) -> Self {
        Stopped {
            problems,
            printed: false,
        }
    }
}

fn run(printer: &Printer, request: &Request) -> Result<u8, Stopped> {
    let out = request.out;
    let mut provenance = provenance(request)?;
    let exceptions = match request.exceptions {
        None => Vec::new(),
        Some(file) => crate::audit::read_exceptions(file)?,
    };
    let jobs = default_jobs();
    // No reuse: the audit's CHG-1 is the full comparison of every file.
    let (fleet, whole_fleet) = compile_each(printer, request.paths, jobs, None, &|_, _, f| Some(f))
        .map_err(|_| Stopped {
            problems: vec!["the profiles could not be found or read".to_string()],
            printed: true,
        })?;
    if fleet.has_errors() {
        return Err(Stopped {
            problems: fleet
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| {
                    d.render(false)
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_string()
                })
                .collect(),
            printed: true,
        });
    }
    provenance.whole_fleet = whole_fleet;
    let names: Vec<(String, PathBuf)> = fleet
        .customers
        .iter()
        .map(|c| (c.member.name.clone(), c.name_at.file.path.clone()))
        .collect();
    let folders = fleet.into_folders(crate::package::Format::Kustomize, whole_fleet);
    let drift = write::check(
        out,
        &folders,
        crate::package::Format::Kustomize,
        whole_fleet,
        jobs,
    )
    .map_err(|error| vec![format!("{}: {error}", out.display())])?;
    let mut results = judge(out, &names, &drift, whole_fleet)?;
    provenance.locks = locks(out, &provenance.out, &names, whole_fleet);
    let problems = crate::audit::apply_exceptions(&mut results, &exceptions, &provenance.as_of);
    let failed = results
        .iter()
        .flat_map(|(_, v)| v)
        .filter(|v| v.failed() && v.excepted.is_none())
        .count();
    let audit = report::Audit {
        results: &results,
        problems: &problems,
        provenance: &provenance,
    };
    match request.format {
        AuditFormat::Json => println!("{}", report::json(&audit)),
        AuditFormat::Text => print!("{}", report::text(&audit)),
        AuditFormat::Markdown => print!("{}", report::markdown(&audit)),
        AuditFormat::Sarif => println!("{}", report::sarif(&audit)),
        AuditFormat::Html => print!("{}", report::html(&audit)),
    }
    Ok(if failed > 0 || !problems.is_empty() {
        FAILED
    } else {
        OK
    })
}

/// The facts that tie the report to a commit and a period: the repository's commit, the
/// compiler's, the time (`SOURCE_DATE_EPOCH` when set, for a reproducible report), the day
/// judged and the exceptions file's digest. The locks' digests are added once judged.
fn provenance(request: &Request) -> Result<Provenance, Vec<String>> {
    let now = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
        });
    let generated_at = crate::audit::utc(now);
    let as_of = match request.as_of {
        None => generated_at[..10].to_string(),
        Some(day) if is_day(day) => day.to_string(),
        Some(day) => {
            return Err(vec![format!(
                "--as-of {day}: expected a day of the calendar, YYYY-MM-DD"
            )]);
        }
    };
    let exceptions = match request.exceptions {
        None => None,
        Some(file) => {
            let bytes =
                std::fs::read(file).map_err(|e| vec![format!("{}: {e}", file.display())])?;
            Some((file.display().to_string(), crate::serialize::digest(&bytes)))
        }
    };
    let mut audited: Vec<&Path> = vec![request.out];
    audited.extend(request.paths.iter().map(PathBuf::as_path));
    if request.paths.is_empty() {
        audited.push(Path::new("profiles"));
    }
    audited.extend(request.exceptions);
    Ok(Provenance {
        repository: repository(&audited),
        compiler: env!("CARGO_PKG_VERSION").to_string(),
        compiler_commit: env!("GITOPSC_COMMIT").to_string(),
        generated_at,
        as_of,
        out: repository_relative(request.out),
        whole_fleet: true,
        exceptions,
        locks: Vec::new(),
    })
}

fn is_day(day: &str) -> bool {
    day.len() == 10 && crate::syntax::timestamp_seconds(&format!("{day}T00:00:00Z")).is_some()
}

/// `git rev-parse HEAD` where the audit runs, and whether the audited paths have changes
/// git has not committed; `None` outside a repository or without git.
fn repository(audited: &[&Path]) -> Option<crate::audit::Commit> {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let id = git(&["rev-parse", "HEAD"])?;
    let mut status = vec!["status", "--porcelain", "--"];
    let audited: Vec<String> = audited.iter().map(|p| p.display().to_string()).collect();
    status.extend(audited.iter().map(String::as_str));
    let dirty = git(&status).is_none_or(|changes| !changes.is_empty());
    Some(crate::audit::Commit { id, dirty })
}

/// The output folder as the repository names it (`out`), so that reports never carry a
/// machine's absolute path: an absolute `--out` inside the working directory is made
/// relative to it.
fn repository_relative(out: &Path) -> String {
    let relative = std::env::current_dir()
        .ok()
        .and_then(|here| out.strip_prefix(here).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| out.to_path_buf());
    let text = relative.display().to_string();
    let text = text.trim_start_matches("./").trim_end_matches('/');
    if text.is_empty() {
        ".".into()
    } else {
        text.into()
    }
}

/// The digest of each customer's lock and of `_argocd/`'s: each lock names every file of
/// its folder with its digest, so one digest fixes the folder judged.
fn locks(
    out: &Path,
    named: &str,
    names: &[(String, PathBuf)],
    whole_fleet: bool,
) -> Vec<(String, String)> {
    let mut folders: Vec<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
    if whole_fleet {
        folders.push(crate::package::argocd::FOLDER);
    }
    folders
        .into_iter()
        .map(|folder| {
            let file = format!("{folder}/{}", crate::package::LOCK);
            let digest = std::fs::read(out.join(&file))
                .map_or_else(|_| "missing".to_string(), |b| crate::serialize::digest(&b));
            (format!("{named}/{file}"), digest)
        })
        .collect()
}

/// Every control on each customer's committed folder, with the profile line behind each
/// verdict; `drift` (render --check's findings) is CHG-1's evidence.
fn judge(
    out: &Path,
    names: &[(String, PathBuf)],
    drift: &[write::Finding],
    whole_fleet: bool,
) -> Result<Vec<(String, Vec<crate::audit::Verdict>)>, Vec<String>> {
    let drifted = |name: &str| -> Vec<String> {
        drift
            .iter()
            .filter_map(|finding| {
                let (write::Finding::Drift { path, .. } | write::Finding::HandEdited { path, .. }) =
                    finding;
                let inside = path.strip_prefix(out).ok()?;
                concerns(inside, name).then(|| inside.to_string_lossy().into_owned())
            })
            .collect()
    };
    let mut results = Vec::new();
    for (name, profile) in names {
        let output = crate::audit::read(out, name, drifted(name), whole_fleet)
            .map_err(|error| vec![format!("{}: {error}", out.join(name).display())])?;
        let mut verdicts = crate::audit::evaluate(&output);
        crate::audit::attribute(&mut verdicts, profile);
        results.push((name.clone(), verdicts));
    }
    Ok(results)
}

/// Whether a file of `out/` (a path inside it) is one of the customer's: its own folder, its
/// Application and project in `_argocd/`, or a file there that every customer's delivery
/// reads (the ApplicationSet, the kustomization, the lock).
fn concerns(inside: &Path, customer: &str) -> bool {
    let mut parts = inside.components().map(|c| c.as_os_str());
    match (parts.next(), parts.next()) {
        (Some(first), _) if first == customer => true,
        (Some(first), Some(kind)) if first == crate::package::argocd::FOLDER => {
            let own = inside.file_stem().is_some_and(|stem| stem == customer);
            own || !(kind == "applications" || kind == "projects")
        }
        _ => false,
    }
}
