//! Scatters and curves in the plane: points coloured by class (the PCA plot of embeddings), predicted against
//! measured values, and ROC curves.

use std::collections::HashMap;
use std::path::Path;

use plotters::prelude::*;

use crate::error::Result;
use crate::layout::{draw_mesh, extent, frame, frame_with_legend, padded, titled, Axis, Framed, Occupied};
use crate::legend::{Legend, Marker};
use crate::palette::{class_colors, BLUE, OTHER_GREY, UNLABELLED_GREY};
use crate::render::{fail, render, Area, Drawn};

/// [`class_scatter`] colours at most this many classes (the most frequent); the others are drawn as `other`.
pub const MAX_CLASSES: usize = 10;

/// The class of a point without a label in [`class_scatter`] (an empty class counts as unlabelled too).
pub const UNLABELLED: &str = "(no label)";

/// Widest legend text of [`class_scatter`], in pixels; longer class names are shortened in the middle.
const LEGEND_TEXT: u32 = 300;

/// The groups of a class scatter: the classes shown (each with its colour and count), `other` and the unlabelled.
#[derive(Debug, Clone, PartialEq)]
struct Groups {
    /// Shown classes, sorted by name: (name, count, colour).
    shown: Vec<(String, usize, RGBColor)>,
    /// Per point: an index into `shown`, or [`OTHER`] or [`NO_LABEL`].
    of_point: Vec<usize>,
    /// Classes grouped as `other`, and their points.
    other: (usize, usize),
    /// Points without a label.
    unlabelled: usize,
}

const OTHER: usize = usize::MAX - 1;
const NO_LABEL: usize = usize::MAX;

impl Groups {
    fn new(classes: &[String]) -> Groups {
        let is_unlabelled = |c: &str| c.trim().is_empty() || c == UNLABELLED;
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for c in classes.iter().filter(|c| !is_unlabelled(c)) {
            *counts.entry(c.as_str()).or_default() += 1;
        }
        let mut order: Vec<(&str, usize)> = counts.into_iter().collect();
        order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let other_classes = order.len().saturating_sub(MAX_CLASSES);
        let mut shown: Vec<(&str, usize)> = order.into_iter().take(MAX_CLASSES).collect();
        shown.sort_by(|a, b| a.0.cmp(b.0));
        let names: Vec<&str> = shown.iter().map(|s| s.0).collect();
        // One class and nothing else: the figure's blue, as without labels.
        let colors = if names.len() == 1 { vec![BLUE] } else { class_colors(&names) };
        let of_point: Vec<usize> = classes
            .iter()
            .map(|c| if is_unlabelled(c) { NO_LABEL } else { names.binary_search(&c.as_str()).unwrap_or(OTHER) })
            .collect();
        let count = |g: usize| of_point.iter().filter(|&&p| p == g).count();
        Groups {
            shown: shown.iter().zip(colors).map(|(&(n, c), color)| (n.to_string(), c, color)).collect(),
            other: (other_classes, count(OTHER)),
            unlabelled: count(NO_LABEL),
            of_point,
        }
    }

    /// The legend: the shown classes by name with their counts, then `other`, then the unlabelled points; none
    /// when every point is in one class.
    fn legend(&self) -> Legend {
        let mut entries: Vec<(String, Marker)> =
            self.shown.iter().map(|(n, c, color)| (format!("{n} ({c})"), Marker::Dot(*color, 5))).collect();
        if self.other.1 > 0 {
            entries.push((format!("{} other classes ({})", self.other.0, self.other.1), Marker::Dot(OTHER_GREY, 5)));
        }
        if self.unlabelled > 0 {
            entries.push((format!("no label ({})", self.unlabelled), Marker::Dot(UNLABELLED_GREY, 5)));
        }
        if entries.len() < 2 {
            entries.clear();
        }
        Legend::new(entries, LEGEND_TEXT)
    }

    /// The groups in drawing order, with their colours: unlabelled points first (underneath), then `other`, then
    /// the classes from the largest to the smallest (small classes stay visible on top).
    fn drawing_order(&self) -> Vec<(usize, RGBColor)> {
        let mut order = vec![(NO_LABEL, UNLABELLED_GREY), (OTHER, OTHER_GREY)];
        let mut by_size: Vec<usize> = (0..self.shown.len()).collect();
        by_size.sort_by(|&a, &b| self.shown[b].1.cmp(&self.shown[a].1).then(a.cmp(&b)));
        order.extend(by_size.into_iter().map(|g| (g, self.shown[g].2)));
        order
    }
}

/// A scatter of points coloured by class (a PCA of embeddings), with the legend beside the plot (the figure is
/// 760 pixels plus the legend's width wide). The [`MAX_CLASSES`] most frequent classes (ties by name) get a colour
/// that follows their name (the same in every run and figure, [`crate::class_colors`]) and a legend entry with
/// their count, sorted by name; the rest are drawn together in grey as `other`; points whose class is
/// [`UNLABELLED`] or empty are light grey and drawn underneath the labelled ones. With a single class there is no
/// legend. `classes[i]` is the class of `points[i]`.
pub fn class_scatter(
    path: &Path,
    points: &[(f64, f64)],
    classes: &[String],
    title: &str,
    axes: (&str, &str),
) -> Result<()> {
    let groups = Groups::new(classes);
    let legend = groups.legend();
    let (lw, lh) = legend.size();
    let size = (760 + if legend.is_empty() { 0 } else { lw + 24 }, 700.max(lh + 120));
    render(
        path,
        size,
        |root| draw_classes(root, points, &groups, &legend, title, axes),
        |root| draw_classes(root, points, &groups, &legend, title, axes),
    )
}

fn draw_classes<DB: DrawingBackend>(
    root: Area<DB>,
    points: &[(f64, f64)],
    groups: &Groups,
    legend: &Legend,
    title: &str,
    (xl, yl): (&str, &str),
) -> Drawn {
    root.fill(&WHITE).map_err(fail)?;
    let area = titled(&root, title, 20.0)?;
    let (w, _) = area.dim_in_pixel();
    let (plot, side) = area.split_horizontally(if legend.is_empty() { w } else { 760 });
    let x = Axis::new(padded(extent(points.iter().map(|p| p.0)).unwrap_or((0.0, 1.0)), 0.05), xl);
    let y = Axis::new(padded(extent(points.iter().map(|p| p.1)).unwrap_or((0.0, 1.0)), 0.05), yl);
    let (mut chart, xt, yt) = frame(&plot, &x, &y)?;
    draw_mesh(&mut chart, &x, &y, &(xt, yt))?;
    for (group, color) in groups.drawing_order() {
        let style = if group == NO_LABEL { color.filled() } else { color.mix(0.9).filled() };
        chart
            .draw_series(
                points
                    .iter()
                    .zip(&groups.of_point)
                    .filter(|(_, &g)| g == group)
                    .map(|(&(px, py), _)| Circle::new((px, py), if group == NO_LABEL { 3 } else { 4 }, style)),
            )
            .map_err(fail)?;
    }
    // Beside the plot, level with the top of its plotting area.
    let top = chart.plotting_area().get_base_pixel().1 - side.get_base_pixel().1;
    legend.draw(&side, (8, top.max(0)))?;
    root.present().map_err(fail)
}

/// Predicted (y) against measured (x) values of `name`, with the identity line (760 x 700 pixels), both axes over
/// the same range; the legend sits where it covers no point.
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
    let area = titled(&root, caption, 18.0)?;
    let range = padded(extent(points.iter().flat_map(|p| [p.0, p.1])).unwrap_or((0.0, 1.0)), 0.05);
    let x = Axis::new(range, format!("measured {name}"));
    let y = Axis::new(range, format!("predicted {name}"));
    let identity = [(range.0, range.0), (range.1, range.1)];
    let legend = Legend::new(
        vec![
            ("identity".into(), Marker::Line(RGBColor(100, 100, 100), 1)),
            (format!("held-out rows ({})", points.len()), Marker::Dot(BLUE, 3)),
        ],
        300,
    );
    let occupied = Occupied { points: vec![points], lines: vec![&identity], radius: 3 };
    let Framed { mut chart, ticks, legend_at, y } = frame_with_legend(&area, &x, &y, &legend, &occupied, true)?;
    draw_mesh(&mut chart, &x, &y, &ticks)?;
    chart.draw_series(LineSeries::new(identity, BLACK.mix(0.6).stroke_width(1))).map_err(fail)?;
    chart.draw_series(points.iter().map(|&(x, y)| Circle::new((x, y), 3, BLUE.mix(0.6).filled()))).map_err(fail)?;
    legend.draw(&chart.plotting_area().strip_coord_spec(), legend_at)?;
    root.present().map_err(fail)
}

/// A ROC curve: its legend label and its (false-positive rate, true-positive rate) points.
pub type Curve = (String, Vec<(f64, f64)>);

/// ROC curves over the chance diagonal (760 x 700 pixels), with the legend where it covers no curve. A curve's
/// colour follows its name (its label up to ` (`, e.g. the class), as the classes of [`class_scatter`] do.
pub fn roc_curves(path: &Path, caption: &str, curves: &[Curve]) -> Result<()> {
    let axes = ("false-positive rate", "true-positive rate");
    render(path, (760, 700), |root| draw_roc(root, caption, curves, axes), |root| draw_roc(root, caption, curves, axes))
}

/// A reliability diagram (760 x 700 pixels): per curve, the (mean top-class probability, fraction correct) of each
/// non-empty probability bin, over the diagonal of perfect calibration.
pub fn reliability_curves(path: &Path, caption: &str, curves: &[Curve]) -> Result<()> {
    let axes = ("mean predicted probability of the top class", "fraction correct");
    render(path, (760, 700), |root| draw_roc(root, caption, curves, axes), |root| draw_roc(root, caption, curves, axes))
}

/// The colours of ROC curves: by the name in each label (the text before ` (`).
fn curve_colors(curves: &[Curve]) -> Vec<RGBColor> {
    let names: Vec<&str> = curves.iter().map(|(label, _)| label.split(" (").next().unwrap_or(label)).collect();
    class_colors(&names)
}

fn draw_roc<DB: DrawingBackend>(root: Area<DB>, caption: &str, curves: &[Curve], axes: (&str, &str)) -> Drawn {
    root.fill(&WHITE).map_err(fail)?;
    let area = titled(&root, caption, 18.0)?;
    let x = Axis::new((0.0, 1.0), axes.0);
    let y = Axis::new((0.0, 1.0), axes.1);
    let colors = curve_colors(curves);
    let legend = Legend::new(
        curves.iter().zip(&colors).map(|((label, _), &c)| (label.clone(), Marker::Line(c, 2))).collect(),
        400,
    );
    let diagonal = [(0.0, 0.0), (1.0, 1.0)];
    let mut lines: Vec<&[(f64, f64)]> = vec![&diagonal];
    lines.extend(curves.iter().map(|c| c.1.as_slice()));
    let occupied = Occupied { lines, ..Occupied::default() };
    let Framed { mut chart, ticks, legend_at, y } = frame_with_legend(&area, &x, &y, &legend, &occupied, true)?;
    draw_mesh(&mut chart, &x, &y, &ticks)?;
    chart.draw_series(LineSeries::new(diagonal, BLACK.mix(0.4).stroke_width(1))).map_err(fail)?;
    for ((_, points), &color) in curves.iter().zip(&colors) {
        chart.draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2))).map_err(fail)?;
    }
    legend.draw(&chart.plotting_area().strip_coord_spec(), legend_at)?;
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
    fn unlabelled_points_are_grey_underneath_and_classes_keep_their_colours() {
        let classes: Vec<String> = ["b", "a", UNLABELLED, "b", "", "c", "b"].iter().map(|s| s.to_string()).collect();
        let g = Groups::new(&classes);
        let names: Vec<&str> = g.shown.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"], "the legend is sorted by name");
        assert_eq!(g.unlabelled, 2);
        assert_eq!(g.of_point[2], NO_LABEL);
        let order = g.drawing_order();
        assert_eq!(order[0], (NO_LABEL, UNLABELLED_GREY), "unlabelled points are drawn first, in grey");
        assert_eq!(order[2].0, 1, "then the largest class (b)");
        // The same classes with other frequencies (and without unlabelled points) keep their colours.
        let other: Vec<String> = ["c", "c", "c", "a", "b"].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            Groups::new(&other).shown.iter().map(|s| s.2).collect::<Vec<_>>(),
            g.shown.iter().map(|s| s.2).collect::<Vec<_>>()
        );
        // One class: blue, no legend; a class and unlabelled points: a legend.
        assert!(Groups::new(&["all".to_string(), "all".to_string()]).legend().is_empty());
        assert!(!Groups::new(&["x".to_string(), String::new()]).legend().is_empty());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pca.svg");
        let points: Vec<(f64, f64)> = (0..7).map(|i| (i as f64, (i * i) as f64)).collect();
        class_scatter(&path, &points, &classes, "PCA", ("PC1", "PC2")).unwrap();
        let texts = crate::tests::svg_texts(&path);
        assert!(texts.iter().any(|t| t == "no label (2)") && texts.iter().any(|t| t == "b (3)"), "{texts:?}");
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
            let calibration = dir.path().join(format!("label.calibration.{ext}"));
            reliability_curves(&calibration, "label: calibration", &curves[..1]).unwrap();
            assert_complete(&calibration);
        }
    }
}
