//! `gitopsc schema`, `gitopsc completions` and `gitopsc man`: reference material printed
//! from the schema and the command-line definition.

use super::{Cli, OK, USAGE};

pub(super) fn schema() -> u8 {
    print!("{}", crate::validate::schema_text());
    OK
}

pub(super) fn completions(shell: clap_complete::Shell) -> u8 {
    use clap::CommandFactory;
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "gitopsc",
        &mut std::io::stdout(),
    );
    OK
}

pub(super) fn man() -> u8 {
    use clap::CommandFactory;
    match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
        Ok(()) => OK,
        Err(error) => {
            eprintln!("error: cannot write the manual page: {error}");
            USAGE
        }
    }
}
