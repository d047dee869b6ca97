//! Scatters and curves in the plane: points coloured by class (the PCA plot of embeddings), predicted against
//! measured values, and ROC curves.

use std::collections::HashMap;
use std::path::Path;

use plotters::prelude::*;

use crate::error::Result;
use crate::render::{fail, render, Area, Drawn, BLUE, PALETTE};

/// [`class_scatter`] colours at most this many classes (the most frequent); the others are drawn as `other`.
pub const MAX_CLASSES: usize = 10;

/// A scatter of points coloured by class (900 x 700 pixels). The [`MAX_CLASSES`] most frequent classes (ties by
/// name) get a colour and a legend entry, the rest are drawn together as `other`; with a single class there is no
/// legend. `classes[i]` is the class of `points[i]`.
pub fn class_scatter(
    path: &Path,
    points: &[(f64, f64)],
    classes: &[String],
    title: &str,
    axes: (&str, &str),
) -> Result<()> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for c in classes {
        *counts.entry(c.as_str()).or_default() += 1;
    }
    let mut order: Vec<(&str, usize)> = counts.into_iter().collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let shown: Vec<&str> = order.iter().take(MAX_CLASSES).map(|(c, _)| *c).collect();
    let group = |c: &str| shown.iter().position(|s| *s == c).unwrap_or(MAX_CLASSES);
    let grouped: Vec<(f64, f64, usize)> =
        points.iter().zip(classes).map(|(&(x, y), c)| (x, y, group(c.as_str()))).collect();
    let mut legend: Vec<String> = shown.iter().map(|s| s.to_string()).collect();
    if grouped.iter().any(|p| p.2 == MAX_CLASSES) {
        legend.push("other".into());
    }
    render(
        path,
        (900, 700),
        |root| draw_classes(root, &grouped, &legend, title, axes),
        |root| draw_classes(root, &grouped, &legend, title, axes),
    )
}

fn draw_classes<DB: DrawingBackend>(
    root: Area<DB>,
    points: &[(f64, f64, usize)],
    legend: &[String],
    title: &str,
    (xl, yl): (&str, &str),
) -> Drawn {
    root.fill(&WHITE).map_err(fail)?;
    let range = |f: fn(&(f64, f64, usize)) -> f64| {
        let (lo, hi) = points.iter().map(f).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
        let pad = ((hi - lo) * 0.05).max(1e-9);
        (lo - pad)..(hi + pad)
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(range(|p| p.0), range(|p| p.1))
        .map_err(fail)?;
    chart.configure_mesh().x_desc(xl).y_desc(yl).label_style(("sans-serif", 13)).draw().map_err(fail)?;
    for (g, name) in legend.iter().enumerate() {
        let color = Palette99::pick(g).to_rgba();
        chart
            .draw_series(points.iter().filter(|p| p.2 == g).map(|p| Circle::new((p.0, p.1), 4, color.filled())))
            .map_err(fail)?
            .label(name.as_str())
            .legend(move |(x, y)| Circle::new((x, y), 4, color.filled()));
    }
    if legend.len() > 1 {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(fail)?;
    }
    root.present().map_err(fail)
}

/// Predicted (y) against measured (x) values of `name`, with the identity line (760 x 700 pixels), both axes over
/// the same range.
pub fn predicted_vs_measured(path: &Path, points: &[(f64, f64)], caption: &str, name: &str) -> Result<()> {
    render(
        path,
        (760, 700),
        |root| draw_predicted(root, points, caption, name),
        |root| draw_predicted(root, points, caption, name),
    )
}

fn draw_predicted<DB: DrawingBackend>(root: Area<DB>, points: &[(f64, f64)], caption: &str, name: &str) -> Drawn {
    root.fill(&WHITE).map_err(fail)?;
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
        .map_err(fail)?;
    chart
        .configure_mesh()
        .x_desc(format!("measured {name}"))
        .y_desc(format!("predicted {name}"))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(fail)?;
    chart
        .draw_series(LineSeries::new(vec![(lo, lo), (hi, hi)], BLACK.mix(0.6).stroke_width(1)))
        .map_err(fail)?
        .label("identity")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(1)));
    chart
        .draw_series(points.iter().map(|&(x, y)| Circle::new((x, y), 3, BLUE.mix(0.6).filled())))
        .map_err(fail)?
        .label(format!("held-out rows ({})", points.len()))
        .legend(|(x, y)| Circle::new((x + 9, y), 3, BLUE.filled()));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(fail)?;
    root.present().map_err(fail)
}

/// A ROC curve: its legend label and its (false-positive rate, true-positive rate) points.
pub type Curve = (String, Vec<(f64, f64)>);

/// ROC curves over the chance diagonal (760 x 700 pixels), coloured blue, orange, green, ... in order (at most 8
/// colours, then they repeat).
pub fn roc_curves(path: &Path, caption: &str, curves: &[Curve]) -> Result<()> {
    render(path, (760, 700), |root| draw_roc(root, caption, curves), |root| draw_roc(root, caption, curves))
}

fn draw_roc<DB: DrawingBackend>(root: Area<DB>, caption: &str, curves: &[Curve]) -> Drawn {
    root.fill(&WHITE).map_err(fail)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..1.0, 0.0..1.0)
        .map_err(fail)?;
    chart
        .configure_mesh()
        .x_desc("false-positive rate")
        .y_desc("true-positive rate")
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(fail)?;
    chart.draw_series(LineSeries::new(vec![(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.4).stroke_width(1))).map_err(fail)?;
    for (i, (label, points)) in curves.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))
            .map_err(fail)?
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
        .map_err(fail)?;
    root.present().map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::assert_complete;

    #[test]
    fn class_scatter_png_and_svg() {
        let points: Vec<(f64, f64)> = (0..40).map(|i| ((i as f64).sin(), (i as f64).cos())).collect();
        let many: Vec<String> = (0..40).map(|i| format!("class {}", i % 13)).collect();
        let one: Vec<String> = vec!["all".into(); 40];
        for ext in ["png", "svg"] {
            for classes in [&many, &one] {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join(format!("pca.{ext}"));
                class_scatter(&path, &points, classes, "PCA of x.parquet", ("PC1 (30.0%)", "PC2 (20.0%)")).unwrap();
                assert_complete(&path);
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pca.svg");
        class_scatter(&path, &points, &many, "PCA", ("PC1", "PC2")).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(
            svg.contains("other") && svg.contains("class 12") && !svg.contains("class 9"),
            "13 classes: the 10 largest (ties by name) and other"
        );
    }

    #[test]
    fn predicted_and_roc_png_and_svg() {
        let points: Vec<(f64, f64)> = (0..30).map(|i| (i as f64, i as f64 + (i % 3) as f64)).collect();
        let curves: Vec<Curve> = vec![
            ("head (AUROC 0.900)".into(), vec![(0.0, 0.0), (0.1, 0.7), (1.0, 1.0)]),
            ("ridge (AUROC 0.800)".into(), vec![(0.0, 0.0), (0.3, 0.6), (1.0, 1.0)]),
        ];
        for ext in ["png", "svg"] {
            let dir = tempfile::tempdir().unwrap();
            let scatter = dir.path().join(format!("logS.{ext}"));
            predicted_vs_measured(&scatter, &points, "logS: R² 0.9", "logS").unwrap();
            assert_complete(&scatter);
            let single = dir.path().join(format!("one.{ext}"));
            predicted_vs_measured(&single, &[(1.0, 1.0)], "one point", "y").unwrap();
            assert_complete(&single);
            let roc = dir.path().join(format!("label.roc.{ext}"));
            roc_curves(&roc, "label: ROC on held-out rows (n = 30)", &curves).unwrap();
            assert_complete(&roc);
        }
    }
}
