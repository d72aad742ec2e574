//! The binary's exit codes, in one table: what a script or CI job calling `transport-bench` may
//! rely on. `main` is the only place that ends the process; everything else returns an [`Exit`].

use std::process::ExitCode;

/// How the process ends; the discriminant is the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Everything passed.
    Ok = 0,
    /// Bad input: a scenario, an argument, a results folder, a threshold.
    BadInput = 2,
    /// A run failed (messages lost, a transport or harness error), or an output could not be
    /// written.
    RunFailed = 3,
    /// A comparison found a regression.
    Regression = 4,
}

impl Exit {
    /// The process exit code.
    pub const fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

/// An error caused by what the user passed in (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct BadInput(#[from] pub anyhow::Error);

impl BadInput {
    /// A bad-input error from a message.
    pub fn msg(m: impl std::fmt::Display) -> anyhow::Error {
        anyhow::Error::new(BadInput(anyhow::anyhow!("{m}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_ones() {
        assert_eq!(Exit::Ok.code(), 0);
        assert_eq!(Exit::BadInput.code(), 2);
        assert_eq!(Exit::RunFailed.code(), 3);
        assert_eq!(Exit::Regression.code(), 4);
    }
}
