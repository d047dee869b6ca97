//! Measuring and fitting text in the bundled font: what the layout and the legends both need.

use plotters::prelude::*;

use crate::render::register_font;

/// The font every figure is drawn in (the bundled DejaVu Sans).
pub(crate) const FONT: &str = "sans-serif";

/// Width and height in pixels of `text` drawn in the bundled font at `size` points.
pub fn text_size(text: &str, size: f64) -> (u32, u32) {
    register_font();
    if text.is_empty() {
        return (0, size.ceil() as u32);
    }
    // The font is bundled and registered: measuring cannot fail; an estimate keeps a layout going if it ever did.
    (FONT, size).into_font().box_size(text).unwrap_or(((text.chars().count() as f64 * size * 0.6) as u32, size as u32))
}

/// `text` fitted into `max_width` pixels: drawn at `size`, or smaller down to three quarters of it, and beyond that
/// shortened in the middle with an ellipsis (a long path keeps its start and its file name). Returns the text and
/// the size to draw it at.
pub fn fit_text(text: &str, size: f64, max_width: u32) -> (String, f64) {
    let mut s = size;
    while s > size * 0.75 {
        if text_size(text, s).0 <= max_width {
            return (text.to_string(), s);
        }
        s -= 1.0;
    }
    let s = size * 0.75;
    (elide(text, s, max_width), s)
}

/// `text` shortened in the middle with an ellipsis (keeping a third from the start, the rest from the end) until it
/// fits into `max_width` pixels at `size` points; unchanged when it fits.
pub fn elide(text: &str, size: f64, max_width: u32) -> String {
    if text_size(text, size).0 <= max_width {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut keep = chars.len();
    while keep > 2 {
        keep -= 1;
        let head = keep / 3;
        let tail = keep - head;
        let shortened: String =
            chars[..head].iter().chain(['…'].iter()).chain(chars[chars.len() - tail..].iter()).collect();
        if text_size(&shortened, size).0 <= max_width {
            return shortened;
        }
    }
    "…".into()
}
