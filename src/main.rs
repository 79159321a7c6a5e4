//! The `iglive` command line. Each subcommand lives in the library's `cli` module; this file
//! only parses arguments, sets up logging and turns errors into a message and an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = iglive::Cli::parse();
    iglive::init_logging(cli.verbose, cli.command.is_interactive());
    match iglive::run_command(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("iglive: {e:#}");
            ExitCode::from(2)
        }
    }
}
