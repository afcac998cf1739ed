//! The command line (DESIGN §1): parse arguments, run a command, print, choose the exit code.
//!
//! One module per command (`validate`, `render`, `diff`, `audit`, `new`, `explain`, and
//! `reference` for `schema`, `completions` and `man`); `print.rs` is the one printer of
//! diagnostics and summaries they share.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::compiler::{self, Fleet};
use crate::write::WriteError;

mod audit;
mod diff;
mod explain;
mod new;
mod print;
mod reference;
mod render;
mod validate;

use print::Printer;

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
        /// Output folder [default: out, or charts with --format helm].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
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
        /// Let the change delete or replace what holds this customer's data (its
        /// namespace, database StatefulSet, snapshot class, archive bucket or cluster);
        /// without it such a change is refused (E0328). Repeat for several customers.
        #[arg(long, value_name = "CUSTOMER")]
        allow_destroy: Vec<String>,
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
        /// (a glob), a reason, an approver, a ticket, the approval and expiry dates
        /// (docs/audit.md).
        #[arg(long, value_name = "FILE")]
        exceptions: Option<PathBuf>,
        /// Judge the exceptions as of this day (YYYY-MM-DD) instead of today: re-audit an
        /// old commit as it stood then.
        #[arg(long, value_name = "DATE")]
        as_of: Option<String>,
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
    ExitCode::from(run(&printer, cli.command))
}

/// One command, run: its exit code.
fn run(printer: &Printer, command: Command) -> u8 {
    match command {
        Command::Validate { paths } => validate::validate(printer, &paths),
        Command::Render {
            paths,
            out,
            check,
            jobs,
            force,
            format,
            no_cache,
            allow_destroy,
        } => {
            let options = render::RenderOptions {
                check,
                jobs: jobs.unwrap_or_else(default_jobs).max(1),
                force,
                format: format.into(),
                cache: !no_cache,
                allow_destroy,
            };
            // Charts have their own folder: `out/` holds the manifests Argo CD syncs.
            let out = out.unwrap_or_else(|| {
                PathBuf::from(match format {
                    OutputFormat::Kustomize => "out",
                    OutputFormat::Helm => "charts",
                })
            });
            render::render(printer, &paths, &out, &options)
        }
        Command::Diff {
            paths,
            out,
            format,
            no_cache,
        } => diff::diff(printer, &paths, &out, format, !no_cache),
        Command::Schema => reference::schema(),
        Command::New { customer, from } => new::new_profile(printer, &customer, from.as_deref()),
        Command::Completions { shell } => reference::completions(shell),
        Command::Man => reference::man(),
        Command::Explain { profile, field } => {
            explain::explain(printer, &profile, field.as_deref())
        }
        Command::Audit {
            paths,
            out,
            format,
            exceptions,
            as_of,
        } => audit::audit(
            printer,
            &audit::Request {
                paths: &paths,
                out: &out,
                format,
                exceptions: exceptions.as_deref(),
                as_of: as_of.as_deref(),
            },
        ),
    }
}

fn default_paths(paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from("profiles")]
    } else {
        paths.to_vec()
    }
}

fn compile_each(
    printer: &Printer,
    paths: &[PathBuf],
    jobs: usize,
    reuse: Option<&compiler::Reuse>,
    finish: &compiler::Finish,
) -> Result<(Fleet, bool), u8> {
    compile_and(printer, paths, jobs, reuse, finish, |_| Vec::new())
}

/// `compile_each`, with the diagnostics `more` finds in the compiled fleet reported beside
/// the compiler's own.
fn compile_and(
    printer: &Printer,
    paths: &[PathBuf],
    jobs: usize,
    reuse: Option<&compiler::Reuse>,
    finish: &compiler::Finish,
    more: impl FnOnce(&Fleet) -> Vec<crate::diag::Diagnostic>,
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
    let found = more(&fleet);
    if !found.is_empty() {
        fleet.diagnostics.extend(found);
        crate::diag::normalize(&mut fleet.diagnostics);
    }
    printer.deny(&mut fleet.diagnostics);
    printer.diagnostics(&fleet.diagnostics);
    printer.summary(&fleet);
    Ok((fleet, inputs.whole_fleet))
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
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
