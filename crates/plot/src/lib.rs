//! The figures of biotorch, each a function of plain data (numbers, labels, titles) and an output path. The backend
//! follows the extension (`.png` or `.svg`, any case; anything else is [`Error::UnknownExtension`]), the font is
//! bundled (DejaVu Sans), and every figure is written to a temporary file in the same folder and renamed into place
//! when complete. Knows nothing of tables, models or chemistry: callers compute the values and hand them over.
//!
//! Figures read well without tuning: legends sit where they cover no data (the emptiest corner of the plotting
//! area, room made above the data when every corner holds some, or beside the plot for class scatters), points
//! without a label are grey and underneath, axes of whole numbers (steps, counts, lengths) get whole-number ticks,
//! label areas and titles are measured from their text so that nothing is clipped, known quantities carry their
//! unit ([`with_unit`]), and a class keeps its colour from run to run ([`class_colors`]). [`check_path`] refuses a
//! figure path that cannot work before any computing is done.
//!
//! - [`histogram`]: exact integer counts (sequence lengths), at most [`MAX_BINS`] bars.
//! - [`distributions`]: densities of properties over a fixed range, optionally over a reference set.
//! - [`step_lines`]: panels of per-step series (an optimization run).
//! - [`loss_curves`]: training and validation loss of a training run.
//! - [`class_scatter`]: points coloured by class (a PCA of embeddings).
//! - [`predicted_vs_measured`], [`roc_curves`] and [`reliability_curves`]: a property head's held-out predictions.
//! - [`heatmap`]: a saturation-mutagenesis map (positions x amino acids, wild type marked), wrapped in bands.
//! - [`render`]: the shared backend choice and atomic write, for figures of your own.
//!
//! ```no_run
//! use biotorch_plot::{loss_curves, LossCurves};
//!
//! # fn main() -> biotorch_plot::Result<()> {
//! let train = [(1.0, 3.2), (2.0, 2.9), (3.0, 2.7)];
//! let valid = [(0.0, 3.3), (3.0, 2.8)];
//! loss_curves("loss.svg".as_ref(), &LossCurves { title: "masked-LM loss", train: &train, valid: &valid, last_step: 3 })?;
//! # Ok(())
//! # }
//! ```

pub mod error;
mod heatmap;
mod histogram;
pub mod layout;
mod legend;
mod lines;
pub mod palette;
mod render;
mod scatter;
mod text;
mod units;

pub use error::{DrawFailure, Error, Result};
pub use heatmap::{heatmap, Heatmap, HEATMAP_WRAP};
pub use histogram::{distributions, histogram, Distribution, DENSITY_BINS, MAX_BINS};
pub use layout::{emptiest_corner, nice_ticks, Corner, Ticks};
pub use lines::{loss_curves, step_lines, LossCurves, Panel, Series};
pub use palette::class_colors;
pub use render::{check_path, fail, register_font, render, Area, Drawn};
pub use scatter::{
    class_scatter, predicted_vs_measured, reliability_curves, roc_curves, Curve, MAX_CLASSES, UNLABELLED,
};
pub use units::{with_unit, UNITS};

/// The plotters version figures are drawn with, for callers of [`render`].
pub use plotters;

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The texts of an SVG figure, in drawing order.
    pub(crate) fn svg_texts(path: &Path) -> Vec<String> {
        let svg = std::fs::read_to_string(path).unwrap();
        svg.split("<text")
            .skip(1)
            .filter_map(|t| Some(t.split_once('>')?.1.split("</text>").next()?.trim().to_string()))
            .collect()
    }

    /// A complete figure: a PNG signature and IEND chunk, or an SVG document with its closing tag.
    pub(crate) fn assert_complete(path: &Path) {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        match path.extension().and_then(|e| e.to_str()) {
            Some("png") => {
                assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}: PNG signature", path.display());
                assert_eq!(&bytes[bytes.len() - 8..bytes.len() - 4], b"IEND", "{}: PNG end", path.display());
            }
            Some("svg") => {
                let text = String::from_utf8(bytes).unwrap();
                assert!(text.starts_with("<svg"), "{}: SVG start", path.display());
                assert!(text.trim_end().ends_with("</svg>"), "{}: SVG end", path.display());
            }
            other => panic!("unexpected extension {other:?}"),
        }
        let name = path.file_name().unwrap().to_string_lossy();
        let folder = path.parent().unwrap();
        let leftovers: Vec<String> = std::fs::read_dir(folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&format!(".{name}.tmp")))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }
}
