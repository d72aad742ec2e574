//! Loading scenario files: TOML text into a validated [`Scenario`], or an error that names the
//! file, line and column and, where there is a choice, the allowed values.
//!
//! Three steps, each keeping byte spans so every error can be located: TOML syntax
//! (`toml::de::DeTable`), shape (`raw::RawScenario`, serde with `deny_unknown_fields`), and
//! meaning (`validate`: ranges, defaults, cross-field rules, and each `[transport.<name>]` table
//! checked by that transport's own config type).

mod browser;
mod consumers;
mod located;
mod network;
mod placement;
mod raw;
mod sweep;
mod tls;
mod transport;
mod validate;

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::de::DeTable;

use self::located::Located;
use super::model::Scenario;

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario file {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid scenario; line and column are 1-based.
    #[error("{}:{line}:{col}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Line of the offending text.
        line: usize,
        /// Column (in characters) of the offending text.
        col: usize,
        /// What is wrong, with the allowed values or range where there are some.
        message: String,
    },
}

/// Where a scenario argument points: an existing path as is; a bare name such as `quick` means
/// `scenarios/quick.toml` under the current directory, else under this workspace's root.
pub fn resolve_path(arg: &str) -> PathBuf {
    let given = Path::new(arg);
    let bare = given.components().count() == 1 && given.extension().is_none_or(|e| e == "toml");
    if given.exists() || !bare {
        return given.to_path_buf();
    }
    let file = given.with_extension("toml");
    let local = Path::new("scenarios").join(&file);
    if local.exists() {
        return local;
    }
    // Lets `cargo run -- run quick` work from any directory inside the checkout.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(&file);
    if workspace.exists() {
        return workspace;
    }
    // Neither exists: name the conventional place in the error the caller will report.
    local
}

/// Reads and validates the scenario file at `path`.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    load_str(&text, path)
}

/// Validates scenario `text`; `path` names it in errors and in [`Scenario::source`].
pub fn load_str(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
    parse(text, path).map_err(|e| {
        let (line, col) = e.span.map_or((1, 1), |s| line_col(text, s.start));
        ScenarioError::Invalid {
            path: path.to_path_buf(),
            line,
            col,
            message: e.message,
        }
    })
}

fn parse(text: &str, path: &Path) -> Result<Scenario, Located> {
    let doc = DeTable::parse(text).map_err(Located::from_toml)?;
    let raw = raw::RawScenario::deserialize(toml::de::Deserializer::from(doc.clone()))
        .map_err(Located::from_toml)?;
    validate::scenario(raw, doc.get_ref(), path)
}

/// 1-based line and character column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 10), (2, 4));
        assert_eq!(line_col(text, 1000), (3, 1));
    }
}
