//! Plots of a head's held-out predictions (plotters; PNG or SVG by extension, written to a temporary file and
//! renamed, as crate::plot does): predicted against measured values with the identity line, and ROC curves.

use std::path::Path;

use anyhow::Result;
use biotorch_heads::metrics;
use plotters::coord::Shift;
use plotters::prelude::*;

const BLUE: RGBColor = RGBColor(52, 101, 164);
const ORANGE: RGBColor = RGBColor(230, 120, 30);
const PALETTE: [RGBColor; 8] = [
    RGBColor(52, 101, 164),
    RGBColor(230, 120, 30),
    RGBColor(60, 150, 60),
    RGBColor(170, 40, 40),
    RGBColor(120, 80, 160),
    RGBColor(140, 90, 60),
    RGBColor(220, 100, 180),
    RGBColor(100, 100, 100),
];

/// Predicted (y) against measured (x) values, with the identity line.
pub(crate) fn scatter(path: &Path, points: &[(f64, f64)], caption: &str, name: &str) -> Result<()> {
    crate::plot::render(
        path,
        (760, 700),
        |root| draw_scatter(root, points, caption, name),
        |root| draw_scatter(root, points, caption, name),
    )
}

fn draw_scatter<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    points: &[(f64, f64)],
    caption: &str,
    name: &str,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow::anyhow!("{e:?}");
    root.fill(&WHITE).map_err(err)?;
    let (lo, hi) = points.iter().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0).min(p.1), b.max(p.0).max(p.1)));
    let (lo, hi) = if lo < hi { (lo, hi) } else { (0.0, 1.0) };
    let pad = (hi - lo) * 0.05;
    let (lo, hi) = (lo - pad, hi + pad);
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(lo..hi, lo..hi)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(format!("measured {name}"))
        .y_desc(format!("predicted {name}"))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(LineSeries::new(vec![(lo, lo), (hi, hi)], BLACK.mix(0.6).stroke_width(1)))
        .map_err(err)?
        .label("identity")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(1)));
    chart
        .draw_series(points.iter().map(|&(x, y)| Circle::new((x, y), 3, BLUE.mix(0.6).filled())))
        .map_err(err)?
        .label(format!("held-out rows ({})", points.len()))
        .legend(|(x, y)| Circle::new((x + 9, y), 3, BLUE.filled()));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// ROC curves: binary targets get the head's curve (and the ridge baseline's, when given); multi-class targets get
/// one one-vs-rest curve per class (the 8 most frequent), each with its AUROC in the legend.
pub(crate) fn roc(
    path: &Path,
    name: &str,
    classes: &[String],
    truth: &[usize],
    probs: &[Vec<f64>],
    baseline: Option<&[Vec<f64>]>,
) -> Result<()> {
    let mut curves: Vec<(String, Vec<(f64, f64)>, RGBColor)> = Vec::new();
    if classes.len() == 2 {
        let positive: Vec<bool> = truth.iter().map(|&t| t == 1).collect();
        let scores: Vec<f64> = probs.iter().map(|p| p[1]).collect();
        curves.push((
            format!("head (AUROC {:.3})", metrics::auroc(&scores, &positive)),
            metrics::roc_curve(&scores, &positive),
            BLUE,
        ));
        if let Some(b) = baseline {
            let scores: Vec<f64> = b.iter().map(|p| p[1]).collect();
            curves.push((
                format!("ridge (AUROC {:.3})", metrics::auroc(&scores, &positive)),
                metrics::roc_curve(&scores, &positive),
                ORANGE,
            ));
        }
    } else {
        let mut counts: Vec<(usize, usize)> =
            (0..classes.len()).map(|c| (truth.iter().filter(|&&t| t == c).count(), c)).collect();
        counts.sort_by(|a, b| b.cmp(a));
        for (i, &(count, c)) in
            counts.iter().filter(|(n, _)| *n > 0 && *n < truth.len()).take(PALETTE.len()).enumerate()
        {
            let positive: Vec<bool> = truth.iter().map(|&t| t == c).collect();
            let scores: Vec<f64> = probs.iter().map(|p| p[c]).collect();
            curves.push((
                format!("{} (n={count}, AUROC {:.3})", classes[c], metrics::auroc(&scores, &positive)),
                metrics::roc_curve(&scores, &positive),
                PALETTE[i],
            ));
        }
    }
    let caption = format!("{name}: ROC on held-out rows (n = {})", truth.len());
    crate::plot::render(
        path,
        (760, 700),
        |root| draw_roc(root, &caption, &curves),
        |root| draw_roc(root, &caption, &curves),
    )
}

fn draw_roc<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    caption: &str,
    curves: &[(String, Vec<(f64, f64)>, RGBColor)],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow::anyhow!("{e:?}");
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..1.0, 0.0..1.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("false-positive rate")
        .y_desc("true-positive rate")
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    chart.draw_series(LineSeries::new(vec![(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.4).stroke_width(1))).map_err(err)?;
    for (label, points, color) in curves {
        let color = *color;
        chart
            .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))
            .map_err(err)?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
