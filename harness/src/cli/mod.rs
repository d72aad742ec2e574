//! The `transport-bench` command line: clap definitions (in `args.rs`) and the mapping from
//! outcomes to the exit codes of [`crate::exit::Exit`].

mod args;
mod compare;
mod list;
mod remote;
mod run;
mod serve;
mod sharding;
pub mod table;

pub use args::{Cli, Command, RunArgs, ServeArgs};
pub use compare::CompareArgs;

pub use crate::exit::BadInput;
use crate::exit::Exit;

/// Runs the parsed command, returning how to exit for outcomes that are not errors.
pub fn execute(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Validate { scenarios } => run::validate(&scenarios),
        Command::List => {
            list::print();
            Ok(Exit::Ok)
        }
        Command::Serve(args) => serve::serve(args),
        Command::Report { dir } => {
            if !dir.join("summary.json").is_file() {
                return Err(BadInput::msg(format!(
                    "{} holds no summary.json",
                    dir.display()
                )));
            }
            // An unreadable or foreign summary.json is the user's input, not a failed run.
            let summary = crate::results::write::read_summary(&dir).map_err(BadInput)?;
            if summary.schema_version != crate::results::SCHEMA_VERSION {
                return Err(BadInput::msg(format!(
                    "{} has schema version {}; this tool reads version {}",
                    dir.display(),
                    summary.schema_version,
                    crate::results::SCHEMA_VERSION
                )));
            }
            let out = crate::report::write_outputs(&summary, &dir)?;
            for c in &out.charts {
                println!("{}", c.display());
            }
            println!("{}", out.report.display());
            Ok(Exit::Ok)
        }
        Command::Compare(args) => compare::execute(args),
        Command::Merge(args) => crate::merge::execute(args),
    }
}

/// How to exit after an error: bad input, or a failed run.
pub fn exit_for(err: &anyhow::Error) -> Exit {
    let bad = err
        .chain()
        .any(|e| e.is::<BadInput>() || e.is::<crate::scenario::ScenarioError>());
    if bad {
        return Exit::BadInput;
    }
    // A comparison's own errors know whether the user's input was at fault.
    err.chain()
        .find_map(|e| e.downcast_ref::<crate::compare::CompareError>())
        .map_or(Exit::RunFailed, crate::compare::CompareError::exit)
}
