//! Charts written next to `summary.json`: PNGs drawn with plotters and an embedded font, so they
//! render on any machine with only cargo (no fontconfig, no freetype).
//!
//! Data and drawing are separate: [`extract`] turns a [`Summary`] into [`model::Figure`]s (pure,
//! snapshot-tested), [`render`] draws a figure. [`select`] decides which runs each chart shows,
//! and the report uses it too, so prose and pictures describe the same runs.

pub(crate) mod axes;
pub(crate) mod extract;
pub(crate) mod lagging;
pub(crate) mod model;
pub(crate) mod render;
pub mod select;
pub mod style;
pub(crate) mod sweep;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::results::Summary;

pub use extract::figures;
pub use model::Figure;
pub use render::{HEIGHT, WIDTH};

/// Renders every chart that applies to `summary` into `dir` and returns the files written, in
/// report order. Each file is drawn to a temporary name and renamed, so a reader never sees a
/// half-written PNG and a failed render leaves the previous chart in place.
pub fn render_all(summary: &Summary, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    style::register_fonts()?;
    let mut written = Vec::new();
    for fig in figures(summary) {
        let path = dir.join(&fig.file);
        // plotters picks the image format from the extension, so the temporary name keeps `.png`.
        let tmp = dir.join(format!(".{}.tmp.png", fig.file.trim_end_matches(".png")));
        let drawn =
            render::render(&fig, &tmp).with_context(|| format!("drawing {}", path.display()));
        if let Err(e) = drawn {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
