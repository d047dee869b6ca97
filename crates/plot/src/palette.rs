//! Colours: the fixed series colours, and class colours that follow the class's name, so that a class keeps its
//! colour from one run (or one figure) to the next whatever the other classes and their frequencies are.

use plotters::style::RGBColor;

/// Blue of the first series.
pub(crate) const BLUE: RGBColor = RGBColor(52, 101, 164);
/// Orange of the second series.
pub(crate) const ORANGE: RGBColor = RGBColor(230, 120, 30);
/// Colours of up to four series in a panel, blue and orange first.
pub(crate) const SERIES: [RGBColor; 4] = [BLUE, ORANGE, RGBColor(60, 150, 60), RGBColor(170, 40, 40)];

/// The colours classes are drawn in: twelve that tell apart, none of them grey (grey is for points without a
/// label and for the classes grouped as `other`).
pub const CLASS_COLORS: [RGBColor; 12] = [
    RGBColor(31, 119, 180),  // blue
    RGBColor(255, 127, 14),  // orange
    RGBColor(44, 160, 44),   // green
    RGBColor(214, 39, 40),   // red
    RGBColor(148, 103, 189), // purple
    RGBColor(140, 86, 75),   // brown
    RGBColor(227, 119, 194), // pink
    RGBColor(23, 190, 207),  // cyan
    RGBColor(188, 189, 34),  // olive
    RGBColor(57, 59, 121),   // indigo
    RGBColor(231, 186, 82),  // gold
    RGBColor(99, 121, 57),   // moss
];

/// Points without a label: light grey, drawn under the labelled ones.
pub const UNLABELLED_GREY: RGBColor = RGBColor(190, 190, 190);
/// Classes beyond the ones shown, grouped as `other`: a darker grey.
pub const OTHER_GREY: RGBColor = RGBColor(120, 120, 120);

/// FNV-1a, 64 bits: a hash that is the same on every machine and in every build (unlike std's `DefaultHasher`).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The colour of each of `labels` (in the same order): each distinct label takes the [`CLASS_COLORS`] slot its name
/// hashes to, or the next free one when an earlier label (in sorted order) took it. The same labels therefore get the
/// same colours whatever their order or frequency, a label's colour depends on its name (and rarely on a clash), and
/// up to twelve labels never share a colour.
pub fn class_colors(labels: &[&str]) -> Vec<RGBColor> {
    let mut distinct: Vec<&str> = labels.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let n = CLASS_COLORS.len();
    let mut taken = [false; CLASS_COLORS.len()];
    let mut slot_of: Vec<(&str, usize)> = Vec::with_capacity(distinct.len());
    for (i, label) in distinct.iter().enumerate() {
        let mut slot = (fnv1a(label) % n as u64) as usize;
        if i < n {
            while taken[slot] {
                slot = (slot + 1) % n;
            }
            taken[slot] = true;
        }
        slot_of.push((label, slot));
    }
    labels
        .iter()
        .map(|l| {
            let i = slot_of.binary_search_by(|(s, _)| s.cmp(l)).expect("every label is in the list");
            CLASS_COLORS[slot_of[i].1]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_keeps_its_colour_whatever_the_order_and_frequency() {
        let a = class_colors(&["Cytoplasm", "Nucleus", "Membrane", "Secreted"]);
        let b = class_colors(&["Secreted", "Secreted", "Membrane", "Nucleus", "Cytoplasm", "Nucleus"]);
        let color =
            |labels: &[&str], colors: &[RGBColor], l: &str| colors[labels.iter().position(|x| *x == l).unwrap()];
        for l in ["Cytoplasm", "Nucleus", "Membrane", "Secreted"] {
            assert_eq!(
                color(&["Cytoplasm", "Nucleus", "Membrane", "Secreted"], &a, l),
                color(&["Secreted", "Secreted", "Membrane", "Nucleus", "Cytoplasm", "Nucleus"], &b, l),
                "{l}"
            );
        }
        // Fixed values: the same on every machine and in every build.
        assert_eq!(class_colors(&["Cytoplasm"]), class_colors(&["Cytoplasm"]));
        assert_eq!(class_colors(&["a", "b"])[0], CLASS_COLORS[(fnv1a("a") % 12) as usize]);
    }

    #[test]
    fn up_to_twelve_labels_never_share_a_colour_and_none_is_grey() {
        let labels: Vec<String> = (0..12).map(|i| format!("class {i}")).collect();
        let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
        let mut colors = class_colors(&refs);
        colors.sort_by_key(|c| (c.0, c.1, c.2));
        colors.dedup();
        assert_eq!(colors.len(), 12);
        assert!(CLASS_COLORS.iter().all(|c| !(c.0 == c.1 && c.1 == c.2)), "no grey");
        assert!(!CLASS_COLORS.contains(&UNLABELLED_GREY) && !CLASS_COLORS.contains(&OTHER_GREY));
    }
}
