//! The command line (DESIGN §1): parse arguments, run a command, print, choose the exit code.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::compiler::{self, Fleet};
use crate::diag::{Diagnostic, Severity, plural};
use crate::layer::LayerCache;
use crate::load::{Node, Value};
use crate::write::{self, WriteError};

/// The release and the commit it was built from (build.rs). The lock names the release
/// only: a lock naming the commit could never match the commit that holds it.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("GITOPSC_COMMIT"), ")");

/// gitopsc compiles customer profiles into deterministic Kubernetes manifests.
#[derive(Debug, Parser)]
#[command(name = "gitopsc", version = VERSION, about, max_term_width = 100)]
pub struct Cli {
    /// When to colour diagnostics.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    color: Color,
    /// How to print diagnostics: for people, or one JSON object per line for tools.
    #[arg(long, global = true, value_enum, default_value_t = MessageFormat::Human)]
    message_format: MessageFormat,
    /// Print only errors: no warnings, no progress.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Name every place a repeated diagnostic occurs (by default: the first in full, then
    /// how many more and a few of them).
    #[arg(long, short, global = true, conflicts_with = "quiet")]
    verbose: bool,
    /// Treat warnings as errors: they fail the command and stop render from writing (for CI).
    #[arg(long, global = true)]
    deny_warnings: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MessageFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OutputFormat {
    Kustomize,
    Helm,
}

impl From<OutputFormat> for crate::package::Format {
    fn from(format: OutputFormat) -> Self {
        match format {
            OutputFormat::Kustomize => crate::package::Format::Kustomize,
            OutputFormat::Helm => crate::package::Format::Helm,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DiffFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AuditFormat {
    Text,
    Markdown,
    Json,
    Sarif,
    Html,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load, layer and validate profiles; print every problem at once.
    Validate {
        /// Profile files or folders of profiles [default: profiles/]
        paths: Vec<PathBuf>,
    },
    /// Compile profiles into DIR/<customer>/.
    Render {
        /// Profile files or folders of profiles [default: profiles/]
        paths: Vec<PathBuf>,
        /// Output folder.
        #[arg(long, value_name = "DIR", default_value = "out")]
        out: PathBuf,
        /// Write nothing; exit 1 and name every file that differs from the compiled output.
        #[arg(long)]
        check: bool,
        /// Profiles compiled in parallel [default: number of CPUs]. Output never depends on it.
        #[arg(long, value_name = "N")]
        jobs: Option<usize>,
        /// Replace customer folders even when they hold hand edits.
        #[arg(long)]
        force: bool,
        /// What to write: plain manifests with a kustomization per customer (and the Argo CD
        /// objects), or one Helm chart per customer. Write charts to their own folder.
        #[arg(long, value_enum, default_value_t = OutputFormat::Kustomize)]
        format: OutputFormat,
        /// Compile every customer, even those whose folder is current (its lock names this
        /// compiler and the profile's digest, and every file hashes to it).
        #[arg(long)]
        no_cache: bool,
    },
    /// Show what `render` would change, per folder, object and field (writes nothing).
    Diff {
        /// Profile files or folders of profiles [default: profiles/]
        paths: Vec<PathBuf>,
        /// Output folder to compare with.
        #[arg(long, value_name = "DIR", default_value = "out")]
        out: PathBuf,
        /// text (coloured on a terminal), markdown (a pull-request comment) or json.
        #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
        format: DiffFormat,
        /// Compile every customer, even those whose folder is current.
        #[arg(long)]
        no_cache: bool,
    },
    /// Evaluate the SOC 2 control catalogue on the committed output (docs/audit.md); exit 1
    /// when a control fails or the output is not what the profiles compile to.
    Audit {
        /// Profile files or folders of profiles [default: profiles/]
        paths: Vec<PathBuf>,
        /// The committed output folder.
        #[arg(long, value_name = "DIR", default_value = "out")]
        out: PathBuf,
        /// text (a customers × controls matrix and every failure), markdown (the same for a
        /// pull-request job summary), json (every verdict with its evidence) or sarif
        /// (SARIF 2.1.0 for code scanning: one result per failing or excepted verdict) or html
        /// (a self-contained evidence report for the auditor).
        #[arg(long, value_enum, default_value_t = AuditFormat::Text)]
        format: AuditFormat,
        /// Risk acceptances: a YAML file whose `exceptions:` name a control, the customers
        /// (a glob), a reason, an approver and an expiry date (docs/audit.md).
        #[arg(long, value_name = "FILE")]
        exceptions: Option<PathBuf>,
    },
    /// Start a customer: write profiles/<CUSTOMER>.yaml with the fields its layer leaves
    /// unset, each `~` under its description, and list them (never overwrites).
    New {
        /// The customer's name (a DNS label: it names the namespace and the Argo CD project).
        customer: String,
        /// The layer in profiles/ to extend [default: _defaults.yaml when it exists].
        #[arg(long, value_name = "LAYER")]
        from: Option<String>,
    },
    /// Print the profile JSON Schema.
    Schema,
    /// Print a completion script: `gitopsc completions bash > /etc/bash_completion.d/gitopsc`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `gitopsc man > gitopsc.1; man ./gitopsc.1`.
    Man,
    /// Show the effective value of a field and which file and line set it.
    Explain {
        /// The profile.
        profile: PathBuf,
        /// A field path such as spec.app.autoscaling.maxReplicas; omit for the whole profile.
        field: Option<String>,
    },
}

/// Exit codes of DESIGN §1.
const OK: u8 = 0;
const FAILED: u8 = 1;
const USAGE: u8 = 2;

pub fn main() -> ExitCode {
    // Output piped into `head` ends the process quietly, as with other Unix tools, instead
    // of a panic at the next print (Rust ignores SIGPIPE). A render cut short this way is
    // a killed render: every folder stays wholly old or new (docs/output.md).
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of a signal has no memory preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() { USAGE } else { OK });
        }
    };
    let color = match cli.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let printer = Printer {
        color,
        json: cli.message_format == MessageFormat::Json,
        quiet: cli.quiet,
        verbose: cli.verbose,
        deny_warnings: cli.deny_warnings,
    };
    ExitCode::from(match cli.command {
        Command::Validate { paths } => validate(&printer, &paths),
        Command::Render {
            paths,
            out,
            check,
            jobs,
            force,
            format,
            no_cache,
        } => {
            let options = RenderOptions {
                check,
                jobs: jobs.unwrap_or_else(default_jobs).max(1),
                force,
                format: format.into(),
                cache: !no_cache,
            };
            render(&printer, &paths, &out, &options)
        }
        Command::Diff {
            paths,
            out,
            format,
            no_cache,
        } => diff(&printer, &paths, &out, format, !no_cache),
        Command::Schema => {
            print!("{}", crate::validate::schema_text());
            OK
        }
        Command::New { customer, from } => new_profile(&printer, &customer, from.as_deref()),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "gitopsc",
                &mut std::io::stdout(),
            );
            OK
        }
        Command::Man => {
            use clap::CommandFactory;
            match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
                Ok(()) => OK,
                Err(error) => {
                    eprintln!("error: cannot write the manual page: {error}");
                    USAGE
                }
            }
        }
        Command::Explain { profile, field } => explain(&printer, &profile, field.as_deref()),
        Command::Audit {
            paths,
            out,
            format,
            exceptions,
        } => audit(&printer, &paths, &out, format, exceptions.as_deref()),
    })
}

struct Printer {
    color: bool,
    json: bool,
    quiet: bool,
    verbose: bool,
    deny_warnings: bool,
}

/// Places named after a repeated diagnostic unless `--verbose`.
const PLACES_SHOWN: usize = 3;

impl Printer {
    /// JSON: one record per diagnostic. For people: diagnostics that say the same thing
    /// (severity, code, message, field) are printed once, in full, followed by how many more
    /// places have it; a fleet's shared layer would otherwise repeat one warning per
    /// customer. Then one line per code.
    fn diagnostics(&self, diagnostics: &[Diagnostic]) {
        let shown = diagnostics.iter().filter(|d| !self.quiet || d.is_error());
        let mut out = String::new();
        if self.json {
            for diagnostic in shown {
                out.push_str(&format!("{}\n", diagnostic.to_json()));
            }
        } else {
            let groups = crate::diag::group(shown);
            for group in &groups {
                out.push_str(&group[0].render(self.color));
                out.push_str(&self.more_places(group));
                out.push('\n');
            }
            if groups.len() > 1 || groups.first().is_some_and(|g| g.len() > 1) {
                for (code, severity, count) in crate::diag::count_by_code(&groups) {
                    out.push_str(&format!(
                        "{}: {}: {}\n",
                        code.as_str(),
                        plural(count, severity),
                        code.summary()
                    ));
                }
            }
        }
        let _ = std::io::stderr().lock().write_all(out.as_bytes());
    }

    /// "and in 999 more profiles: a.yaml:3:5, ..." after the first of a group.
    fn more_places(&self, group: &[&Diagnostic]) -> String {
        let others = &group[1..];
        if others.is_empty() {
            return String::new();
        }
        let place = |d: &&Diagnostic| {
            d.location.as_ref().map_or_else(
                || "(no file)".to_string(),
                |l| format!("{}:{}:{}", l.file.path.display(), l.line, l.column),
            )
        };
        let files: std::collections::BTreeSet<_> = group
            .iter()
            .filter_map(|d| d.location.as_ref().map(|l| &l.file.path))
            .collect();
        let what = if files.len() == group.len() {
            format!("in {}", plural(others.len(), "more profile"))
        } else {
            plural(others.len(), "more place")
        };
        if self.verbose {
            let mut text = format!("  and {what}:\n");
            for d in others {
                text.push_str(&format!("    {}\n", place(d)));
            }
            return text;
        }
        let named: Vec<String> = others.iter().take(PLACES_SHOWN).map(place).collect();
        let rest = if others.len() > PLACES_SHOWN {
            ", ... (--verbose names all)"
        } else {
            ""
        };
        format!("  and {what}: {}{rest}\n", named.join(", "))
    }

    /// With `--deny-warnings`, warnings count as errors: validate fails, render writes nothing.
    fn deny(&self, diagnostics: &mut [Diagnostic]) {
        if self.deny_warnings {
            for diagnostic in diagnostics {
                diagnostic.severity = Severity::Error;
            }
        }
    }

    fn summary(&self, fleet: &Fleet) {
        if self.json {
            return;
        }
        let errors = fleet
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        let warnings = fleet.diagnostics.len() - errors;
        if errors > 0 {
            let failed: std::collections::BTreeSet<_> = fleet
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .filter_map(|d| d.location.as_ref().map(|l| l.file.path.clone()))
                .collect();
            let denied = if self.deny_warnings {
                ", warnings denied by --deny-warnings".to_string()
            } else {
                String::new()
            };
            eprintln!(
                "error: {} ({}{denied}) in {} file{}",
                plural(errors, "error"),
                plural(warnings, "warning"),
                failed.len(),
                if failed.len() == 1 { "" } else { "s" }
            );
        } else if warnings > 0 && !self.quiet {
            eprintln!("{}", plural(warnings, "warning"));
        }
    }

    fn message(&self, message: &str) {
        if !self.json && !self.quiet {
            eprintln!("{message}");
        }
    }
}

fn default_paths(paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from("profiles")]
    } else {
        paths.to_vec()
    }
}

/// Discovers and compiles, or prints a usage/IO error (exit 2).
/// How `render` runs.
struct RenderOptions {
    check: bool,
    jobs: usize,
    force: bool,
    format: crate::package::Format,
    /// Reuse current folders instead of compiling them (Kustomize only).
    cache: bool,
}

/// When `enabled`, customer folders of `out` that are current are reused, not compiled
/// (`write::vouched`).
fn reuse_in(out: &Path, enabled: bool) -> Option<Box<compiler::Reuse<'_>>> {
    enabled.then(|| {
        Box::new(move |name: &str, head: &str| {
            crate::package::objects_on_disk(&write::vouched(out, name, head)?)
        }) as Box<compiler::Reuse<'_>>
    })
}

fn compile_each(
    printer: &Printer,
    paths: &[PathBuf],
    jobs: usize,
    reuse: Option<&compiler::Reuse>,
    finish: &compiler::Finish,
) -> Result<(Fleet, bool), u8> {
    let inputs = compiler::discover(&default_paths(paths)).map_err(|error| {
        printer.diagnostics(&[*error]);
        USAGE
    })?;
    if inputs.files.is_empty() {
        printer.message("error: no profiles found (profiles are *.yaml files whose names do not start with `_`)");
        return Err(USAGE);
    }
    let mut fleet = compiler::compile_each(&inputs.files, jobs, reuse, finish);
    printer.deny(&mut fleet.diagnostics);
    printer.diagnostics(&fleet.diagnostics);
    printer.summary(&fleet);
    Ok((fleet, inputs.whole_fleet))
}

/// `render --check`: each customer's folder is compared on the thread that compiled it and
/// then dropped, so memory holds a few customers' output at a time.
fn render_check(printer: &Printer, paths: &[PathBuf], out: &Path, options: &RenderOptions) -> u8 {
    let (jobs, format) = (options.jobs, options.format);
    // Long on purpose: compile, compare on the worker threads, then report in a fixed order;
    // the three steps share the collected findings.
    use crate::package::{Folder, Format};
    type Compared = Vec<(String, std::io::Result<Vec<write::Finding>>)>;
    let compared: std::sync::Mutex<Compared> = std::sync::Mutex::new(Vec::new());
    let finish = |input: &str, folder: Folder| {
        let folder = crate::package::in_format(input, folder, format);
        let result = write::check_folder(out, &folder);
        compared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((folder.name, result));
        None
    };
    let _lock = match write::lock(out, false, &|| waiting(printer, out)) {
        Ok(lock) => lock,
        Err(error) => return write_failed(error, format),
    };
    let reuse = reuse_in(out, options.cache && format == Format::Kustomize);
    let (fleet, whole_fleet) =
        match compile_for_output(printer, paths, out, jobs, reuse.as_deref(), &finish) {
            Err(code) => return code,
            Ok(result) => result,
        };
    let mut compared = compared
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Threads finish in any order; report in the customers' order, `_argocd` last.
    compared.sort_by(|a, b| a.0.cmp(&b.0));
    let mut names: Vec<&str> = fleet
        .customers
        .iter()
        .map(|c| c.member.name.as_str())
        .collect();
    let argocd = fleet.argocd(format, whole_fleet);
    if let Some(argocd) = &argocd {
        compared.push((argocd.name.clone(), write::check_folder(out, argocd)));
        names.push(&argocd.name);
    }
    let mut findings = Vec::new();
    let mut failure = None;
    for (_, result) in compared {
        match result {
            Ok(found) => findings.extend(found),
            Err(error) => failure = failure.or(Some(error)),
        }
    }
    let result = match (
        failure,
        write::stale_folders(out, &names, format, whole_fleet),
    ) {
        (Some(error), _) | (None, Err(error)) => Err(error),
        (None, Ok(stale)) => {
            findings.extend(stale.into_iter().map(|name| write::Finding::Drift {
                path: out.join(name),
                why: "no profile produces this folder: render would remove it",
            }));
            Ok(findings)
        }
    };
    let customers = fleet.customers.len();
    match result {
        Ok(findings) if findings.is_empty() => {
            printer.message(&format!(
                "{} up to date in {}",
                plural(customers, "customer"),
                out.display()
            ));
            OK
        }
        Ok(findings) => {
            for finding in &findings {
                eprintln!("drift: {finding}");
            }
            eprintln!(
                "error: {} in {} differ from what the profiles compile to; run `gitopsc render`",
                plural(findings.len(), "file"),
                out.display()
            );
            FAILED
        }
        Err(error) => {
            eprintln!("error: cannot read {}: {error}", out.display());
            USAGE
        }
    }
}

/// Compiles for `render`: any error means nothing is written (or checked).
fn compile_for_output(
    printer: &Printer,
    paths: &[PathBuf],
    out: &Path,
    jobs: usize,
    reuse: Option<&compiler::Reuse>,
    finish: &compiler::Finish,
) -> Result<(Fleet, bool), u8> {
    let (fleet, whole_fleet) = compile_each(printer, paths, jobs, reuse, finish)?;
    if fleet.has_errors() {
        printer.message(&format!(
            "nothing written to {}: fix the errors above",
            out.display()
        ));
        return Err(FAILED);
    }
    Ok((fleet, whole_fleet))
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn validate(printer: &Printer, paths: &[PathBuf]) -> u8 {
    // The output is not needed: drop each customer's as soon as it is compiled.
    let drop_output = |_: &str, _: crate::package::Folder| None;
    match compile_each(printer, paths, default_jobs(), None, &drop_output) {
        Err(code) => code,
        Ok((fleet, _)) if fleet.has_errors() => FAILED,
        Ok((fleet, _)) => {
            printer.message(&format!("{} valid", plural(fleet.profiles, "profile")));
            OK
        }
    }
}

/// A writing render streams: each customer's folder is compared on the thread that
/// compiled it and, when it must change, written into its staging folder and dropped; only
/// when no folder was refused are the staged folders swapped in.
fn render(printer: &Printer, paths: &[PathBuf], out: &Path, options: &RenderOptions) -> u8 {
    use crate::package::{Folder, Format};
    if options.check {
        return render_check(printer, paths, out, options);
    }
    let (jobs, format, force) = (options.jobs, options.format, options.force);
    // The lock makes `out` if it is missing; a render with errors removes it again.
    let existed = out.exists();
    let _lock = match write::lock(out, true, &|| waiting(printer, out)) {
        Ok(lock) => lock,
        Err(error) => return write_failed(error, format),
    };
    if let Err(error) = write::prepare(out) {
        return write_failed(error, format);
    }
    let staged: std::sync::Mutex<Vec<(String, Result<write::Staged, WriteError>)>> =
        std::sync::Mutex::new(Vec::new());
    let finish = |input: &str, folder: Folder| {
        let folder = crate::package::in_format(input, folder, format);
        let result = std::fs::create_dir_all(out)
            .map_err(|error| WriteError::Io(out.to_path_buf(), error))
            .and_then(|()| write::stage(out, &folder, format, force));
        staged
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((folder.name, result));
        None
    };
    let reuse = reuse_in(out, options.cache && format == Format::Kustomize);
    let compiled = compile_for_output(printer, paths, out, jobs, reuse.as_deref(), &finish);
    let mut staged = staged
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (fleet, whole_fleet) = match compiled {
        Err(code) => {
            let names: Vec<String> = staged
                .into_iter()
                .filter_map(|(_, s)| match s {
                    Ok(write::Staged::Ready(name)) => Some(name),
                    _ => None,
                })
                .collect();
            write::abandon(out, &names);
            if !existed {
                // Only ever empty here: nothing but staging folders was made in it.
                let _ = std::fs::remove_dir(out);
            }
            return code;
        }
        Ok(result) => result,
    };
    // Every folder may have been current: `out` exists all the same (staging folders made
    // above must survive, so no `prepare` here).
    if let Err(error) = std::fs::create_dir_all(out) {
        return write_failed(WriteError::Io(out.to_path_buf(), error), format);
    }
    let reused = fleet.customers.iter().filter(|c| c.reused).count();
    let mut names: Vec<&str> = fleet
        .customers
        .iter()
        .map(|c| c.member.name.as_str())
        .collect();
    if let Some(argocd) = fleet.argocd(format, whole_fleet) {
        staged.push((
            argocd.name.clone(),
            write::stage(out, &argocd, format, force),
        ));
        names.push(crate::package::argocd::FOLDER);
    }
    let stale = match write::stale_folders(out, &names, format, whole_fleet) {
        Ok(stale) => stale,
        Err(error) => return write_failed(WriteError::Io(out.to_path_buf(), error), format),
    };
    // Threads finish in any order; refusals are reported in the folders' order.
    staged.sort_by(|a, b| a.0.cmp(&b.0));
    let staged = staged.into_iter().map(|(_, s)| s).collect();
    match write::finish(out, staged, stale, force, jobs) {
        Ok(report) => {
            printer.message(&format!(
                "rendered {} into {}: {} written, {} unchanged{}",
                plural(fleet.customers.len(), "customer"),
                out.display(),
                report.written.len(),
                report.unchanged + reused,
                if report.removed.is_empty() {
                    String::new()
                } else {
                    format!(", removed {}", report.removed.join(", "))
                }
            ));
            OK
        }
        Err(error) => write_failed(error, format),
    }
}

fn waiting(printer: &Printer, out: &Path) {
    printer.message(&format!(
        "waiting for another gitopsc to finish with {} ...",
        out.display()
    ));
}

fn write_failed(error: WriteError, format: crate::package::Format) -> u8 {
    match error {
        WriteError::HandEdits(findings) => {
            for finding in &findings {
                eprintln!("not written by gitopsc: {finding}");
            }
            eprintln!(
                "error: refusing to replace what gitopsc did not write; nothing was written\n  \
                 help: move hand edits into the profile (or a Kustomize overlay), or pass --force to replace them"
            );
            USAGE
        }
        WriteError::Io(path, error) => {
            eprintln!(
                "error: cannot write {}: {error}\n  \
                 note: nothing was changed: every folder of the output is as it was",
                path.display()
            );
            USAGE
        }
        WriteError::NotAFolder(out) => {
            eprintln!(
                "error: {} is not a folder; gitopsc writes its output into a folder there\n  \
                 help: remove or rename it, or pass another folder with --out",
                out.display()
            );
            USAGE
        }
        WriteError::OldTree(folder, old, error) => {
            eprintln!(
                "error: {} was replaced, but its old files at {} cannot be removed: {error}\n  \
                 note: the output is complete and new; the next render removes the old files",
                folder.display(),
                old.display()
            );
            USAGE
        }
        WriteError::WrongFormat { folder, found } => {
            eprintln!(
                "error: {} holds gitopsc's {found} output; refusing to write {} output there\n  \
                 help: give charts their own folder, e.g. `--format helm --out charts`",
                folder.display(),
                format.as_str()
            );
            USAGE
        }
    }
}

/// Each customer's folder is compared on the thread that compiled it, and only its changes
/// are kept; a current folder is not compiled at all (unless `cache` is off).
fn diff(printer: &Printer, paths: &[PathBuf], out: &Path, format: DiffFormat, cache: bool) -> u8 {
    use crate::package::Format;
    let jobs = default_jobs();
    type Compared = Vec<std::io::Result<crate::diff::FolderDiff>>;
    let compared: std::sync::Mutex<Compared> = std::sync::Mutex::new(Vec::new());
    let finish = |_: &str, folder: crate::package::Folder| {
        let result = crate::diff::folder(out, &folder);
        compared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(result);
        None
    };
    let _lock = match write::lock(out, false, &|| waiting(printer, out)) {
        Ok(lock) => lock,
        Err(error) => return write_failed(error, Format::Kustomize),
    };
    let reuse = reuse_in(out, cache);
    let (fleet, whole_fleet) = match compile_each(printer, paths, jobs, reuse.as_deref(), &finish) {
        Err(code) => return code,
        Ok(result) => result,
    };
    if fleet.has_errors() {
        return USAGE;
    }
    let mut compared = compared
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut names: Vec<&str> = fleet
        .customers
        .iter()
        .map(|c| c.member.name.as_str())
        .collect();
    let argocd = fleet.argocd(Format::Kustomize, whole_fleet);
    if let Some(argocd) = &argocd {
        compared.push(crate::diff::folder(out, argocd));
        names.push(&argocd.name);
    }
    let report = write::stale_folders(out, &names, Format::Kustomize, whole_fleet)
        .and_then(|stale| crate::diff::report(out, compared, &stale));
    let report = match report {
        Ok(report) => report,
        Err(error) => {
            eprintln!("error: cannot read {}: {error}", out.display());
            return USAGE;
        }
    };
    let text = match format {
        DiffFormat::Text => {
            crate::diff::text(&report, std::io::stdout().is_terminal() && printer.color)
        }
        DiffFormat::Markdown => crate::diff::markdown(&report),
        DiffFormat::Json => crate::diff::json(&report),
    };
    print!("{text}");
    if report.is_empty() { OK } else { FAILED }
}

/// `gitopsc new`: the profile is written bare first (metadata and `extends`), compiled to
/// learn which required fields the layer leaves unset (E0103), then written again with a
/// `~` for each. A `~` is a type error until it is replaced, so no placeholder can reach a
/// cluster.
fn new_profile(printer: &Printer, customer: &str, from: Option<&str>) -> u8 {
    use crate::diag::Code;
    if let Err(why) = crate::syntax::dns_label_rule(customer) {
        eprintln!(
            "error: `{customer}` cannot name a customer: {why}\n  \
             help: lowercase letters, digits and `-`, starting with a letter, at most 63 characters"
        );
        return USAGE;
    }
    let folder = Path::new("profiles");
    if !folder.is_dir() {
        eprintln!(
            "error: no profiles/ folder here\n  help: run gitopsc new in the fleet repository's root"
        );
        return USAGE;
    }
    let layer = match from {
        Some(layer) if !layer.starts_with('_') || layer.contains('/') => {
            eprintln!(
                "error: `{layer}` is not a layer of profiles/\n  \
                 help: a layer is a file in profiles/ whose name starts with `_`, e.g. `--from _defaults.yaml`"
            );
            return USAGE;
        }
        Some(layer) if !folder.join(layer).is_file() => {
            eprintln!("error: profiles/{layer} does not exist");
            return USAGE;
        }
        Some(layer) => Some(layer.to_string()),
        None => folder
            .join("_defaults.yaml")
            .is_file()
            .then(|| "_defaults.yaml".to_string()),
    };
    let path = folder.join(format!("{customer}.yaml"));
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut file| {
            file.write_all(
                crate::scaffold::profile(customer, layer.as_deref(), &[])
                    .text
                    .as_bytes(),
            )
        });
    if let Err(error) = created {
        if error.kind() == std::io::ErrorKind::AlreadyExists {
            eprintln!(
                "error: {} exists; gitopsc new never overwrites a profile\n  \
                 help: choose another name, or edit the profile",
                path.display()
            );
        } else {
            eprintln!("error: cannot write {}: {error}", path.display());
        }
        return USAGE;
    }
    let drop_output = |_: &str, _: crate::package::Folder| None;
    let bare = compiler::compile_each(std::slice::from_ref(&path), 1, None, &drop_output);
    let missing: Vec<String> = bare
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::MissingField)
        .filter_map(|d| d.field.clone())
        .collect();
    let scaffold = crate::scaffold::profile(customer, layer.as_deref(), &missing);
    if let Err(error) = std::fs::write(&path, &scaffold.text) {
        eprintln!("error: cannot write {}: {error}", path.display());
        return USAGE;
    }
    // Anything else wrong (a broken layer) is shown as validate would show it.
    let others: Vec<Diagnostic> = bare
        .diagnostics
        .into_iter()
        .filter(|d| d.code != Code::MissingField)
        .collect();
    printer.diagnostics(&others);
    println!("wrote {}", path.display());
    if scaffold.placeholders.is_empty() {
        println!(
            "the layer sets every required field: adjust what this customer needs, then run `gitopsc validate`"
        );
    } else {
        println!(
            "fill in these {} fields (each `~`), then run `gitopsc validate`:",
            scaffold.placeholders.len()
        );
        for (field, line) in &scaffold.placeholders {
            println!("  {}:{line}  {field}", path.display());
        }
    }
    OK
}

fn explain(printer: &Printer, profile: &Path, field: Option<&str>) -> u8 {
    let cache = LayerCache::default();
    let mut diagnostics = Vec::new();
    let root = compiler::merged(profile, &cache, &mut diagnostics);
    crate::diag::normalize(&mut diagnostics);
    printer.diagnostics(&diagnostics);
    let Some(root) = root else {
        let unreadable = diagnostics.iter().any(|d| d.code == crate::diag::Code::Io);
        return if unreadable { USAGE } else { FAILED };
    };
    let Some(field) = field else {
        print!("{}", annotated(&root));
        return OK;
    };
    let pointer = pointer_of(field);
    match root.pointer(&pointer) {
        Some((node, _)) => {
            if matches!(node.value, Value::Map(_) | Value::Seq(_)) {
                println!("{field}:  # {}", place(&node.location));
                let mut text = String::new();
                write_annotated(&mut text, node, 1);
                print!("{text}");
            } else {
                println!("{field} = {}", scalar_text(node));
                println!("  set in {}", place(&node.location));
            }
            OK
        }
        None => match crate::validate::describe(&pointer) {
            Some(description) => {
                match crate::validate::default_at(&pointer) {
                    Some(default) => println!(
                        "{field} = {}  (the default: not set by {} or its layers)",
                        default
                            .as_str()
                            .map_or_else(|| default.to_string(), str::to_string),
                        profile.display()
                    ),
                    None => {
                        println!("{field} is not set by {} or its layers", profile.display());
                    }
                }
                println!("  {}", description.replace('\n', "\n  "));
                OK
            }
            None => {
                eprintln!("error: `{field}` is not a profile field");
                FAILED
            }
        },
    }
}

fn place(location: &crate::diag::Location) -> String {
    format!(
        "{}:{}:{}",
        location.file.path.display(),
        location.line,
        location.column
    )
}

/// `spec.access.internal.allowedSourceRanges[1]` → `/spec/access/internal/allowedSourceRanges/1`.
fn pointer_of(field: &str) -> String {
    let mut pointer = String::new();
    for part in field.split('.').filter(|p| !p.is_empty()) {
        let mut rest = part;
        if let Some(open) = rest.find('[') {
            pointer.push('/');
            pointer.push_str(&crate::load::escape_segment(&rest[..open]));
            rest = &rest[open..];
            while let Some(inner) = rest.strip_prefix('[') {
                let close = inner.find(']').unwrap_or(inner.len());
                pointer.push('/');
                pointer.push_str(&inner[..close]);
                rest = inner.get(close + 1..).unwrap_or("");
            }
        } else {
            pointer.push('/');
            pointer.push_str(&crate::load::escape_segment(rest));
        }
    }
    pointer
}

/// The merged profile as YAML, each value followed by the file and line that set it.
fn annotated(root: &Node) -> String {
    let mut out = String::new();
    write_annotated(&mut out, root, 0);
    out
}

fn write_annotated(out: &mut String, node: &Node, level: usize) {
    let pad = "  ".repeat(level);
    match &node.value {
        Value::Map(entries) => {
            for entry in entries {
                match &entry.value.value {
                    Value::Map(inner) if !inner.is_empty() => {
                        out.push_str(&format!("{pad}{}:\n", entry.key));
                        write_annotated(out, &entry.value, level + 1);
                    }
                    Value::Seq(items) if !items.is_empty() => {
                        out.push_str(&format!(
                            "{pad}{}:  # {}\n",
                            entry.key,
                            place(&entry.value.location)
                        ));
                        write_annotated(out, &entry.value, level + 1);
                    }
                    _ => out.push_str(&format!(
                        "{pad}{}: {}  # {}\n",
                        entry.key,
                        scalar_text(&entry.value),
                        place(&entry.value.location)
                    )),
                }
            }
        }
        Value::Seq(items) => {
            for item in items {
                match &item.value {
                    Value::Map(_) | Value::Seq(_) => {
                        out.push_str(&format!("{pad}-\n"));
                        write_annotated(out, item, level + 1);
                    }
                    _ => out.push_str(&format!("{pad}- {}\n", scalar_text(item))),
                }
            }
        }
        _ => out.push_str(&format!(
            "{pad}{}  # {}\n",
            scalar_text(node),
            place(&node.location)
        )),
    }
}

fn scalar_text(node: &Node) -> String {
    crate::serialize::to_yaml(&node.to_json())
        .trim_end()
        .to_string()
}

/// `audit`: compile, compare with the committed output (CHG-1), then judge every control
/// on the committed files of each customer.
fn audit(
    printer: &Printer,
    paths: &[PathBuf],
    out: &Path,
    format: AuditFormat,
    exceptions: Option<&Path>,
) -> u8 {
    let exceptions = match exceptions.map(crate::audit::read_exceptions) {
        None => Vec::new(),
        Some(Ok(exceptions)) => exceptions,
        Some(Err(problems)) => {
            for problem in problems {
                eprintln!("error: {problem}");
            }
            return USAGE;
        }
    };
    let jobs = default_jobs();
    // No reuse: the audit's CHG-1 is the full comparison of every file.
    let (fleet, whole_fleet) = match compile_each(printer, paths, jobs, None, &|_, f| Some(f)) {
        Err(code) => return code,
        Ok(result) => result,
    };
    if fleet.has_errors() {
        return FAILED;
    }
    let names: Vec<(String, PathBuf)> = fleet
        .customers
        .iter()
        .map(|c| (c.member.name.clone(), c.name_at.file.path.clone()))
        .collect();
    let folders = fleet.into_folders(crate::package::Format::Kustomize, whole_fleet);
    let drift = match write::check(
        out,
        &folders,
        crate::package::Format::Kustomize,
        whole_fleet,
        jobs,
    ) {
        Ok(findings) => findings,
        Err(error) => {
            eprintln!("error: {}: {error}", out.display());
            return USAGE;
        }
    };
    let drifted = |name: &str| -> Vec<String> {
        drift
            .iter()
            .filter_map(|finding| {
                let (write::Finding::Drift { path, .. } | write::Finding::HandEdited { path, .. }) =
                    finding;
                let inside = path.strip_prefix(out).ok()?;
                let first = inside.components().next()?;
                (first.as_os_str() == name).then(|| inside.to_string_lossy().into_owned())
            })
            .collect()
    };
    let mut results = Vec::new();
    for (name, profile) in &names {
        match crate::audit::read(out, name, drifted(name)) {
            Ok(output) => {
                let mut verdicts = crate::audit::evaluate(&output);
                crate::audit::attribute(&mut verdicts, profile);
                results.push((name.clone(), verdicts));
            }
            Err(error) => {
                eprintln!("error: {}: {error}", out.join(name).display());
                return USAGE;
            }
        }
    }
    let problems =
        crate::audit::apply_exceptions(&mut results, &exceptions, &crate::audit::today());
    let failed = results
        .iter()
        .flat_map(|(_, v)| v)
        .filter(|v| !v.passed && v.excepted.is_none())
        .count();
    match format {
        AuditFormat::Json => println!("{}", audit_json(&results, &problems)),
        AuditFormat::Text => print!("{}", audit_text(out, &results, &problems)),
        AuditFormat::Markdown => print!("{}", audit_markdown(out, &results, &problems)),
        AuditFormat::Sarif => println!("{}", audit_sarif(out, &results)),
        AuditFormat::Html => print!("{}", audit_html(out, &results, &problems)),
    }
    if failed > 0 || !problems.is_empty() {
        FAILED
    } else {
        OK
    }
}

fn audit_text(
    out: &Path,
    results: &[(String, Vec<crate::audit::Verdict>)],
    problems: &[String],
) -> String {
    let width = results
        .iter()
        .map(|(n, _)| n.len())
        .max()
        .unwrap_or(0)
        .max(4);
    let mut text = format!(
        "audit of {}: {} controls, {} customers (evidence for the controls listed, not a certification)\n\n{:<12}",
        out.display(),
        crate::audit::CONTROLS.len(),
        results.len(),
        "control"
    );
    for (name, _) in results {
        text.push_str(&format!(" {name:<width$}"));
    }
    text.push('\n');
    for (i, control) in crate::audit::CONTROLS.iter().enumerate() {
        text.push_str(&format!("{:<12}", control.id));
        for (_, verdicts) in results {
            let verdict = match verdicts[i].outcome() {
                "fail" => "FAIL",
                other => other,
            };
            text.push_str(&format!(" {verdict:<width$}"));
        }
        text.push('\n');
    }
    let mut excepted = String::new();
    for (name, verdicts) in results {
        for verdict in verdicts {
            if let Some(e) = &verdict.excepted {
                excepted.push_str(&format!(
                    "  {name} {}: {} (approved by {}, until {}; {})\n",
                    verdict.control, e.reason, e.approver, e.expires, e.at
                ));
            }
        }
    }
    let mut failures = String::new();
    for (name, verdicts) in results {
        for verdict in verdicts
            .iter()
            .filter(|v| !v.passed && v.excepted.is_none())
        {
            failures.push_str(&format!(
                "{name} {} (profile: {}):\n",
                verdict.control,
                verdict.profile.as_deref().unwrap_or("?")
            ));
            if verdict.observations.is_empty() {
                failures.push_str("  nothing in the output shows it\n");
            }
            for o in verdict.observations.iter().filter(|o| !o.holds) {
                failures.push_str(&format!(
                    "  {}/{}:{}: {}\n",
                    out.display(),
                    o.file,
                    o.line,
                    o.what
                ));
            }
        }
    }
    let total = results.iter().map(|(_, v)| v.len()).sum::<usize>();
    let passed = results
        .iter()
        .flat_map(|(_, v)| v)
        .filter(|v| v.passed)
        .count();
    if !failures.is_empty() {
        text.push_str(&format!("\nfailures:\n{failures}"));
    }
    if !excepted.is_empty() {
        text.push_str(&format!(
            "\nexcepted (risk accepted, not passed):\n{excepted}"
        ));
    }
    for problem in problems {
        text.push_str(&format!("\nerror: {problem}\n"));
    }
    text.push_str(&format!("\n{passed} of {total} verdicts pass\n"));
    text
}

fn audit_json(results: &[(String, Vec<crate::audit::Verdict>)], problems: &[String]) -> String {
    let controls: Vec<serde_json::Value> = crate::audit::CONTROLS
        .iter()
        .map(|c| {
            serde_json::json!({
                "id": c.id,
                "criteria": c.criteria,
                "half": format!("{:?}", c.half).to_lowercase(),
                "statement": c.statement,
                "rationale": c.rationale,
                "anchors": c.anchors,
            })
        })
        .collect();
    let customers: Vec<serde_json::Value> = results
        .iter()
        .map(|(name, verdicts)| {
            serde_json::json!({
                "name": name,
                "verdicts": verdicts.iter().map(|v| serde_json::json!({
                    "control": v.control,
                    "passed": v.passed,
                    "profile": v.profile,
                    "excepted": v.excepted.as_ref().map(|e| serde_json::json!({
                        "reason": e.reason, "approver": e.approver, "expires": e.expires, "at": e.at,
                    })),
                    "evidence": v.observations.iter().map(|o| serde_json::json!({
                        "file": o.file, "line": o.line, "holds": o.holds, "what": o.what,
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({
        "version": 1,
        "controls": controls,
        "customers": customers,
        "exception_problems": problems,
    }))
    .unwrap_or_default()
}

/// The pull-request job summary: the customers × controls matrix, then the failures and
/// the exceptions. Failure details stop well inside GitHub's 65,536-character comment limit;
/// the JSON or SARIF report has them all.
fn audit_markdown(
    out: &Path,
    results: &[(String, Vec<crate::audit::Verdict>)],
    problems: &[String],
) -> String {
    const BUDGET: usize = 60_000;
    let mut text = format!(
        "## gitopsc audit of `{}`\n\nEvidence for the controls listed, not a certification.\n\n| control | criteria |",
        out.display()
    );
    for (name, _) in results {
        text.push_str(&format!(" {name} |"));
    }
    text.push_str("\n|---|---|");
    text.push_str(&"---|".repeat(results.len()));
    text.push('\n');
    for (i, control) in crate::audit::CONTROLS.iter().enumerate() {
        text.push_str(&format!(
            "| {} | {} |",
            control.id,
            control.criteria.join(", ")
        ));
        for (_, verdicts) in results {
            let cell = match verdicts[i].outcome() {
                "fail" => "**FAIL**",
                other => other,
            };
            text.push_str(&format!(" {cell} |"));
        }
        text.push('\n');
    }
    let mut details = String::new();
    let mut left_out = 0;
    for (name, verdicts) in results {
        for verdict in verdicts.iter().filter(|v| !v.passed) {
            let line = match &verdict.excepted {
                Some(e) => format!(
                    "- {name} {} excepted: {} (approved by {}, until {})\n",
                    verdict.control, e.reason, e.approver, e.expires
                ),
                None => {
                    let places: Vec<String> = verdict
                        .observations
                        .iter()
                        .filter(|o| !o.holds)
                        .map(|o| format!("`{}/{}:{}` {}", out.display(), o.file, o.line, o.what))
                        .collect();
                    format!("- {name} **{}**: {}\n", verdict.control, places.join("; "))
                }
            };
            if text.len() + details.len() + line.len() > BUDGET {
                left_out += 1;
            } else {
                details.push_str(&line);
            }
        }
    }
    if !details.is_empty() {
        text.push_str(&format!("\n### Failing and excepted\n\n{details}"));
    }
    if left_out > 0 {
        text.push_str(&format!(
            "\n{left_out} more not shown here; `gitopsc audit --format json` lists them all.\n"
        ));
    }
    for problem in problems {
        text.push_str(&format!("\n- error: {problem}\n"));
    }
    text
}

/// SARIF 2.1.0: one rule per control, one result per failing or excepted verdict at its
/// first failing piece of evidence (repo-relative), with a fingerprint that stays the same
/// while the control, the customer and the file do.
fn audit_sarif(out: &Path, results: &[(String, Vec<crate::audit::Verdict>)]) -> String {
    let rules: Vec<serde_json::Value> = crate::audit::CONTROLS
        .iter()
        .map(|c| {
            serde_json::json!({
                "id": c.id,
                "name": c.id.replace('-', ""),
                "shortDescription": {"text": c.statement},
                "fullDescription": {"text": c.rationale},
                "help": {"text": format!(
                    "{} Supports SOC 2 {}. Related: {}. See docs/audit.md.",
                    c.statement,
                    c.criteria.join(", "),
                    if c.anchors.is_empty() { "none".to_string() } else { c.anchors.join(", ") }
                )},
                "properties": {"tags": c.criteria},
            })
        })
        .collect();
    let mut findings = Vec::new();
    for (name, verdicts) in results {
        for (index, verdict) in verdicts.iter().enumerate().filter(|(_, v)| !v.passed) {
            let evidence = verdict.observations.iter().find(|o| !o.holds);
            let (file, line, what) = match evidence {
                Some(o) => (o.file.clone(), o.line, o.what.clone()),
                None => (
                    format!("{name}/{}", crate::package::LOCK),
                    1,
                    "nothing in the output shows it".to_string(),
                ),
            };
            let uri = out.join(&file).to_string_lossy().into_owned();
            let mut result = serde_json::json!({
                "ruleId": verdict.control,
                "ruleIndex": index,
                "level": "error",
                "message": {"text": format!("{name}: {what}")},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": uri},
                    "region": {"startLine": line.max(1)}
                }}],
                "partialFingerprints": {"gitopsc/v1": format!("{}/{name}/{file}", verdict.control)},
            });
            if let Some(e) = &verdict.excepted {
                result["suppressions"] = serde_json::json!([{
                    "kind": "external",
                    "justification": format!("{} (approved by {}, until {}; {})", e.reason, e.approver, e.expires, e.at),
                }]);
            }
            findings.push(result);
        }
    }
    serde_json::to_string_pretty(&serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "gitopsc",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/vendor/gitopsc/blob/main/docs/audit.md",
                "rules": rules,
            }},
            "results": findings,
        }],
    }))
    .unwrap_or_default()
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A self-contained evidence report (no external assets; prints well): the fleet matrix,
/// the catalogue, and each customer's verdicts with every piece of evidence.
fn audit_html(
    out: &Path,
    results: &[(String, Vec<crate::audit::Verdict>)],
    problems: &[String],
) -> String {
    let cell = |v: &crate::audit::Verdict| {
        let class = v.outcome();
        (class, if class == "fail" { "FAIL" } else { class })
    };
    let mut html = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>gitopsc audit</title>\n<style>\n\
         body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#111}\n\
         table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #999;padding:4px 8px;text-align:left;vertical-align:top}\n\
         td.pass{background:#d8f0d8}td.fail{background:#f6d0d0;font-weight:bold}td.excepted{background:#f6ecc8}\n\
         code{font-size:12px}section{break-inside:avoid}@media print{body{margin:0}a{color:inherit}}\n\
         </style></head><body>\n",
    );
    html.push_str(&format!(
        "<h1>gitopsc audit of <code>{}</code></h1>\n<p>Evidence for the SOC 2 controls listed, taken from the committed output of each customer (the manifests Argo CD applies and the Terraform). Not a certification.</p>\n",
        html_escape(&out.display().to_string())
    ));
    html.push_str("<h2>Fleet</h2>\n<table id=\"matrix\"><tr><th>control</th><th>criteria</th>");
    for (name, _) in results {
        html.push_str(&format!("<th>{}</th>", html_escape(name)));
    }
    html.push_str("</tr>\n");
    for (i, control) in crate::audit::CONTROLS.iter().enumerate() {
        html.push_str(&format!(
            "<tr><td><a href=\"#{id}\">{id}</a></td><td>{}</td>",
            control.criteria.join(", "),
            id = control.id
        ));
        for (_, verdicts) in results {
            let (class, label) = cell(&verdicts[i]);
            html.push_str(&format!("<td class=\"{class}\">{label}</td>"));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
    for problem in problems {
        html.push_str(&format!(
            "<p><strong>error:</strong> {}</p>\n",
            html_escape(problem)
        ));
    }
    html.push_str("<h2>Controls</h2>\n<table><tr><th>control</th><th>criteria</th><th>statement</th><th>rationale</th><th>related</th></tr>\n");
    for control in crate::audit::CONTROLS {
        html.push_str(&format!(
            "<tr id=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            control.id,
            control.id,
            control.criteria.join(", "),
            html_escape(control.statement),
            html_escape(control.rationale),
            html_escape(&control.anchors.join(", "))
        ));
    }
    html.push_str("</table>\n");
    for (name, verdicts) in results {
        html.push_str(&format!("<section><h2>{}</h2>\n<table><tr><th>control</th><th>verdict</th><th>profile</th><th>evidence</th></tr>\n", html_escape(name)));
        for verdict in verdicts {
            let (class, label) = cell(verdict);
            let mut evidence = String::new();
            for o in &verdict.observations {
                evidence.push_str(&format!(
                    "{} <code>{}/{}:{}</code> {}<br>",
                    if o.holds { "&#10003;" } else { "&#10007;" },
                    html_escape(&out.display().to_string()),
                    html_escape(&o.file),
                    o.line,
                    html_escape(&o.what)
                ));
            }
            if let Some(e) = &verdict.excepted {
                evidence.push_str(&format!(
                    "<em>excepted: {} (approved by {}, until {}; {})</em>",
                    html_escape(&e.reason),
                    html_escape(&e.approver),
                    html_escape(&e.expires),
                    html_escape(&e.at)
                ));
            }
            html.push_str(&format!(
                "<tr><td>{}</td><td class=\"{class}\">{label}</td><td><code>{}</code></td><td>{evidence}</td></tr>\n",
                verdict.control,
                html_escape(verdict.profile.as_deref().unwrap_or(""))
            ));
        }
        html.push_str("</table></section>\n");
    }
    html.push_str("</body></html>\n");
    html
}
