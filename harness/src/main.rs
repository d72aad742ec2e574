//! The `transport-bench` binary: parse arguments, run, print the whole error chain, and map the
//! outcome to an exit code (0 ok, 2 bad input, 3 run failed, 4 regression found; the table is
//! `transport_bench::exit::Exit`).

use std::process::ExitCode;

use clap::Parser;
use transport_bench::cli::{self, Cli};
use transport_bench::exit::Exit;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::BadInput
            } else {
                Exit::Ok
            }
            .into();
        }
    };
    match cli::execute(cli) {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("error: {e:#}");
            cli::exit_for(&e).into()
        }
    }
}
