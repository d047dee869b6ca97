//! Plots with plotters, PNG or SVG by file extension. The font is bundled (DejaVu Sans) so that plots render
//! on machines without any system fonts.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Once;

use anyhow::{Context, Result};
use plotters::prelude::*;

static FONT: Once = Once::new();

pub(crate) fn register_font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../assets/DejaVuSans.ttf");
        // Registration fails only on a malformed font; the bundled one is checked by the plot tests.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
    });
}

/// Draws a histogram of integer values given as exact counts (value -> count), with at most `max_bins` bars.
pub(crate) fn histogram(path: &Path, counts: &BTreeMap<u32, u64>, title: &str, x_label: &str) -> Result<()> {
    register_font();
    let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default();
    let tmp = path.with_file_name(format!(
        ".{}.tmp.{ext}",
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    ));
    match ext.as_str() {
        "svg" => draw(SVGBackend::new(&tmp, (900, 560)).into_drawing_area(), counts, title, x_label),
        "png" => draw(BitMapBackend::new(&tmp, (900, 560)).into_drawing_area(), counts, title, x_label),
        _ => anyhow::bail!(crate::exit::BadInput(format!(
            "{}: plots are written as .png or .svg",
            path.display()
        ))),
    }
    .with_context(|| format!("cannot draw {}", path.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

const MAX_BINS: u32 = 60;

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    counts: &BTreeMap<u32, u64>,
    title: &str,
    x_label: &str,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow::anyhow!("{e:?}");
    root.fill(&WHITE).map_err(err)?;
    let (lo, hi) = match (counts.keys().next(), counts.keys().next_back()) {
        (Some(&lo), Some(&hi)) => (lo, hi),
        _ => (0, 1),
    };
    let width = ((hi - lo) / MAX_BINS + 1).max(1);
    let mut bins: BTreeMap<u32, u64> = BTreeMap::new();
    for (&v, &c) in counts {
        *bins.entry(lo + (v - lo) / width * width).or_default() += c;
    }
    let ymax = bins.values().copied().max().unwrap_or(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(lo..(hi + width), 0u64..(ymax + ymax / 10 + 1))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc("records")
        .label_style(("sans-serif", 14))
        .disable_x_mesh()
        .draw()
        .map_err(err)?;
    chart
        .draw_series(bins.iter().map(|(&start, &c)| {
            Rectangle::new([(start, 0), (start + width, c)], RGBColor(52, 101, 164).filled())
        }))
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
