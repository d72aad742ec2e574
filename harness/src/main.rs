//! The `transport-bench` binary: parse arguments, run, print the whole error chain, and map the
//! outcome to an exit code (0 ok, 2 bad input, 3 run failed, 4 regression found).

use std::process::ExitCode;

use clap::Parser;
use transport_bench::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                cli::EXIT_BAD_INPUT
            } else {
                cli::EXIT_OK
            });
        }
    };
    match cli::execute(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(cli::exit_code_for(&e))
        }
    }
}
