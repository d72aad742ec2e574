//! The report writer both comparisons share: the output folder and the files written into it
//! (each failure a [`CompareError::Write`], a failed run rather than bad input), and the
//! Markdown blocks both reports print alike.

use std::path::{Path, PathBuf};

use super::error::CompareError;

/// The `--out` folder of a comparison and the files written into it so far, in order.
#[derive(Debug)]
pub struct OutDir {
    dir: PathBuf,
    files: Vec<PathBuf>,
}

impl OutDir {
    /// Creates `dir` (and its parents) if needed.
    pub fn create(dir: &Path) -> Result<OutDir, CompareError> {
        std::fs::create_dir_all(dir).map_err(|source| CompareError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(OutDir {
            dir: dir.to_path_buf(),
            files: Vec::new(),
        })
    }

    /// Where a file called `name` goes, for writers that take a path (the chart); call
    /// [`OutDir::wrote`] once it is written.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Records a file some other writer put at `path`.
    pub fn wrote(&mut self, path: PathBuf) {
        self.files.push(path);
    }

    /// Writes `bytes` to `name`.
    pub fn write(&mut self, name: &str, bytes: &[u8]) -> Result<(), CompareError> {
        let path = self.path(name);
        std::fs::write(&path, bytes).map_err(|source| CompareError::Write {
            path: path.clone(),
            source,
        })?;
        self.files.push(path);
        Ok(())
    }

    /// Writes `value` to `name` as pretty-printed JSON.
    pub fn write_json(
        &mut self,
        name: &str,
        value: &serde_json::Value,
    ) -> Result<(), CompareError> {
        // Serialising a `Value` to memory cannot fail: its keys are strings already.
        let bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
        self.write(name, &bytes)
    }

    /// The files written, in order.
    pub fn into_files(self) -> Vec<PathBuf> {
        self.files
    }
}

/// The warnings a reader should know before the verdicts, one quoted line each, then a blank
/// line; nothing when there are none.
pub fn warnings_block(warnings: &[String]) -> String {
    let mut out = String::new();
    for w in warnings {
        out.push_str(&format!("> ⚠️ {w}\n"));
    }
    if !warnings.is_empty() {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_quoted_and_set_apart() {
        assert_eq!(warnings_block(&[]), "");
        let w = ["a".to_owned(), "b".to_owned()];
        assert_eq!(warnings_block(&w), "> ⚠️ a\n> ⚠️ b\n\n");
    }

    #[test]
    fn files_are_listed_in_the_order_written() {
        let tmp = tempfile::tempdir().unwrap();
        let mut out = OutDir::create(&tmp.path().join("nested")).unwrap();
        out.write("a.md", b"x").unwrap();
        out.write_json("b.json", &serde_json::json!({"k": 1}))
            .unwrap();
        let files = out.into_files();
        assert_eq!(files.len(), 2);
        assert!(files[0].ends_with("a.md") && files[1].ends_with("b.json"));
        assert!(
            std::fs::read_to_string(&files[1])
                .unwrap()
                .contains("\"k\": 1")
        );
    }
}
