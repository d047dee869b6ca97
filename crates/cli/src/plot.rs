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
    render(path, (900, 560), |root| draw(root, counts, title, x_label), |root| draw(root, counts, title, x_label))
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
        .draw_series(
            bins.iter()
                .map(|(&start, &c)| Rectangle::new([(start, 0), (start + width, c)], RGBColor(52, 101, 164).filled())),
        )
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Runs the drawing on an SVG or PNG backend of `size` chosen by `path`'s extension (the same drawing, given once
/// per backend type), into a temporary file renamed into place when done; other extensions are a usage error.
pub(crate) fn render(
    path: &Path,
    size: (u32, u32),
    draw_svg: impl FnOnce(DrawingArea<SVGBackend, plotters::coord::Shift>) -> Result<()>,
    draw_png: impl FnOnce(DrawingArea<BitMapBackend, plotters::coord::Shift>) -> Result<()>,
) -> Result<()> {
    register_font();
    let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default();
    let tmp = path.with_file_name(format!(
        ".{}.tmp.{ext}",
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    ));
    match ext.as_str() {
        "svg" => draw_svg(SVGBackend::new(&tmp, size).into_drawing_area()),
        "png" => draw_png(BitMapBackend::new(&tmp, size).into_drawing_area()),
        _ => anyhow::bail!(crate::exit::BadInput(format!("{}: plots are written as .png or .svg", path.display()))),
    }
    .with_context(|| format!("cannot draw {}", path.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

const BLUE: RGBColor = RGBColor(52, 101, 164);
const ORANGE: RGBColor = RGBColor(230, 120, 30);

/// Histograms (as densities) of QED, logP, molecular weight and SA score of generated molecules, over those of the
/// training molecules when given: a 2 x 2 grid.
pub(crate) fn property_distributions(
    path: &Path,
    label: &str,
    molecules: &[biotorch_chem::Properties],
    training: Option<&[biotorch_chem::Properties]>,
) -> Result<()> {
    let size = (1100, 800);
    render(
        path,
        size,
        |root| draw_properties(root, label, molecules, training),
        |root| draw_properties(root, label, molecules, training),
    )
}

type Getter = fn(&biotorch_chem::Properties) -> f64;

fn draw_properties<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    label: &str,
    generated: &[biotorch_chem::Properties],
    training: Option<&[biotorch_chem::Properties]>,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow::anyhow!("{e:?}");
    root.fill(&WHITE).map_err(err)?;
    let panels: [(&str, Getter, f64, f64); 4] = [
        ("QED", |p| p.qed, 0.0, 1.0),
        ("logP (Crippen)", |p| p.logp, -4.0, 8.0),
        ("molecular weight", |p| p.mw, 0.0, 700.0),
        ("SA score", |p| p.sa, 1.0, 10.0),
    ];
    const BINS: usize = 40;
    let density = |values: &[f64], lo: f64, hi: f64| -> Vec<f64> {
        let mut counts = vec![0f64; BINS];
        for &v in values {
            let b = (((v - lo) / (hi - lo)) * BINS as f64).floor().clamp(0.0, (BINS - 1) as f64) as usize;
            counts[b] += 1.0;
        }
        let total = values.len().max(1) as f64 * (hi - lo) / BINS as f64;
        counts.iter().map(|c| c / total).collect()
    };
    for (area, (name, get, lo, hi)) in root.split_evenly((2, 2)).into_iter().zip(panels) {
        let gen: Vec<f64> = generated.iter().map(get).collect();
        let train: Option<Vec<f64>> = training.map(|t| t.iter().map(get).collect());
        let g = density(&gen, lo, hi);
        let t = train.as_deref().map(|t| density(t, lo, hi));
        let ymax = g.iter().chain(t.iter().flatten()).copied().fold(0.0, f64::max).max(1e-9) * 1.1;
        let mut chart = ChartBuilder::on(&area)
            .caption(name, ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(lo..hi, 0.0..ymax)
            .map_err(err)?;
        chart
            .configure_mesh()
            .y_desc("density")
            .label_style(("sans-serif", 13))
            .disable_x_mesh()
            .draw()
            .map_err(err)?;
        let width = (hi - lo) / BINS as f64;
        let steps = |d: &[f64]| -> Vec<(f64, f64)> {
            d.iter()
                .enumerate()
                .flat_map(|(i, &v)| [(lo + i as f64 * width, v), (lo + (i + 1) as f64 * width, v)])
                .collect()
        };
        if let Some(t) = &t {
            chart
                .draw_series(LineSeries::new(steps(t), ORANGE.stroke_width(2)))
                .map_err(err)?
                .label(format!("training ({})", train.as_ref().map_or(0, Vec::len)))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], ORANGE.stroke_width(2)));
        }
        chart
            .draw_series(LineSeries::new(steps(&g), BLUE.stroke_width(2)))
            .map_err(err)?
            .label(format!("{label} ({})", gen.len()))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLUE.stroke_width(2)));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

/// Line plots of per-step values: one panel per metric, each with its named series over the step.
pub(crate) fn step_lines(path: &Path, title: &str, panels: &[(&str, Vec<(&str, Vec<(f64, f64)>)>)]) -> Result<()> {
    let size = (1000, 330 * panels.len().max(1) as u32);
    render(path, size, |root| draw_lines(root, title, panels), |root| draw_lines(root, title, panels))
}

fn draw_lines<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    panels: &[(&str, Vec<(&str, Vec<(f64, f64)>)>)],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow::anyhow!("{e:?}");
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(err)?;
    let colors = [BLUE, ORANGE, RGBColor(60, 150, 60), RGBColor(170, 40, 40)];
    for (area, (name, series)) in root.split_evenly((panels.len().max(1), 1)).into_iter().zip(panels) {
        let points = || series.iter().flat_map(|(_, s)| s.iter()).filter(|p| p.1.is_finite());
        let (xmin, xmax) = points().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
        let (ymin, ymax) = points().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
        if xmin > xmax {
            continue;
        }
        let pad = ((ymax - ymin) * 0.08).max(1e-6);
        let mut chart = ChartBuilder::on(&area)
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(xmin..xmax.max(xmin + 1.0), (ymin - pad)..(ymax + pad))
            .map_err(err)?;
        chart.configure_mesh().x_desc("step").y_desc(*name).label_style(("sans-serif", 13)).draw().map_err(err)?;
        for (i, (label, s)) in series.iter().enumerate() {
            let color = colors[i % colors.len()];
            chart
                .draw_series(LineSeries::new(s.iter().copied().filter(|p| p.1.is_finite()), color.stroke_width(2)))
                .map_err(err)?
                .label(*label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}
