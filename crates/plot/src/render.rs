//! The shared part of every figure: the bundled font, the backend chosen by the file extension, and the atomic
//! write (a temporary file next to the output, renamed into place when the drawing is done).

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{DrawFailure, Error, Result};

/// A whole figure on some plotters backend.
pub type Area<DB> = DrawingArea<DB, Shift>;

/// What a drawing function returns: `Err` carries plotters' reason.
pub type Drawn = std::result::Result<(), DrawFailure>;

static FONT: Once = Once::new();

/// Registers the bundled DejaVu Sans as `sans-serif`, so figures render on machines without system fonts. Every
/// figure function calls it; call it yourself only when drawing with plotters directly.
pub fn register_font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../assets/DejaVuSans.ttf");
        // Registration fails only on a malformed font; the bundled one is checked by the tests.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
    });
}

/// Turns a plotters error into a [`DrawFailure`] that reads as a sentence (for `map_err` in drawing functions):
/// the operating system's or the font's message rather than `backend error: Drawing backend error: ...`.
pub fn fail<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> DrawFailure {
    use plotters_backend::DrawingErrorKind as Backend;
    DrawFailure(match e {
        DrawingAreaErrorKind::BackendError(Backend::DrawingError(e)) => e.to_string(),
        DrawingAreaErrorKind::BackendError(Backend::FontError(e)) => format!("the font could not be used ({e})"),
        DrawingAreaErrorKind::SharingError => "the figure was drawn from two places at once".to_string(),
        DrawingAreaErrorKind::LayoutError => "the figure is too small for its labels".to_string(),
    })
}

/// Checks that a figure can be written to `path` before any work is done: the extension is `.png` or `.svg` (any
/// case), the folder exists and `path` is not a folder. Every figure function checks the same.
pub fn check_path(path: &Path) -> Result<()> {
    let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default();
    if ext != "svg" && ext != "png" {
        return Err(Error::UnknownExtension { path: path.to_path_buf() });
    }
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !folder.is_dir() {
        return Err(Error::MissingFolder { path: path.to_path_buf(), folder });
    }
    if path.is_dir() {
        return Err(Error::IsFolder { path: path.to_path_buf() });
    }
    Ok(())
}

/// Draws a figure of `size` pixels into `path`: SVG for `.svg`, PNG for `.png` (any case); the path is checked
/// first ([`check_path`]). The same drawing is given once per backend type. The figure is drawn into
/// `.NAME.tmp.EXT` in the same folder and renamed to `path` when complete, so a failed run leaves no half-written
/// figure under the output name.
pub fn render(
    path: &Path,
    size: (u32, u32),
    draw_svg: impl FnOnce(Area<SVGBackend<'_>>) -> Drawn,
    draw_png: impl FnOnce(Area<BitMapBackend<'_>>) -> Drawn,
) -> Result<()> {
    register_font();
    check_path(path)?;
    let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default();
    let tmp = path.with_file_name(format!(
        ".{}.tmp.{ext}",
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    ));
    let drawn = if ext == "svg" {
        draw_svg(SVGBackend::new(&tmp, size).into_drawing_area())
    } else {
        draw_png(BitMapBackend::new(&tmp, size).into_drawing_area())
    };
    if let Err(reason) = drawn {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::Draw { path: path.to_path_buf(), reason });
    }
    std::fs::rename(&tmp, path).map_err(|source| Error::Write { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank<DB: DrawingBackend>(root: Area<DB>) -> Drawn {
        root.fill(&WHITE).map_err(fail)?;
        root.present().map_err(fail)
    }

    fn blank_svg(root: Area<SVGBackend<'_>>) -> Drawn {
        blank(root)
    }

    fn blank_png(root: Area<BitMapBackend<'_>>) -> Drawn {
        blank(root)
    }

    #[test]
    fn unknown_extension_and_missing_folder_are_the_users() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["fig.jpg", "fig", "fig.pdf"] {
            let e = render(&dir.path().join(name), (10, 10), blank_svg, blank_png).unwrap_err();
            assert!(matches!(e, Error::UnknownExtension { .. }) && e.is_bad_input(), "{name}: {e}");
        }
        let e = render(&dir.path().join("no/fig.png"), (10, 10), blank_svg, blank_png).unwrap_err();
        assert!(matches!(e, Error::MissingFolder { .. }) && e.is_bad_input(), "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing written");
    }

    #[test]
    fn check_path_refuses_what_render_would_refuse_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        check_path(&dir.path().join("a.png")).unwrap();
        check_path(&dir.path().join("b.SVG")).unwrap();
        check_path(Path::new("relative.png")).unwrap();
        for (path, message) in [
            (dir.path().join("a.jpg"), "plots are written as .png or .svg"),
            (dir.path().join("missing/a.png"), "does not exist"),
            (dir.path().join("."), "plots are written as .png or .svg"),
        ] {
            let e = check_path(&path).unwrap_err();
            assert!(e.is_bad_input() && e.to_string().contains(message), "{}: {e}", path.display());
        }
        std::fs::create_dir(dir.path().join("fig.png")).unwrap();
        let e = check_path(&dir.path().join("fig.png")).unwrap_err();
        assert!(matches!(e, Error::IsFolder { .. }) && e.is_bad_input(), "{e}");
        std::fs::remove_dir(dir.path().join("fig.png")).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing written");
    }

    #[test]
    fn drawing_failures_read_as_sentences() {
        let io = std::io::Error::new(std::io::ErrorKind::StorageFull, "No space left on device");
        let e: DrawingAreaErrorKind<std::io::Error> =
            DrawingAreaErrorKind::BackendError(plotters_backend::DrawingErrorKind::DrawingError(io));
        assert_eq!(fail(e).to_string(), "No space left on device");
        let e: DrawingAreaErrorKind<std::io::Error> = DrawingAreaErrorKind::LayoutError;
        assert_eq!(fail(e).to_string(), "the figure is too small for its labels");
    }

    #[test]
    fn extension_in_any_case_and_no_temporary_file_left() {
        let dir = tempfile::tempdir().unwrap();
        render(&dir.path().join("a.PNG"), (20, 10), blank_svg, blank_png).unwrap();
        render(&dir.path().join("b.Svg"), (20, 10), blank_svg, blank_png).unwrap();
        let mut names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        names.sort();
        assert_eq!(names, ["a.PNG", "b.Svg"]);
    }

    #[test]
    fn a_drawing_failure_is_not_the_users_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.png");
        let broken = |_root: Area<BitMapBackend<'_>>| -> Drawn { Err(DrawFailure("Bad layout".into())) };
        let e = render(&path, (10, 10), blank_svg, broken).unwrap_err();
        assert!(matches!(e, Error::Draw { .. }) && !e.is_bad_input());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
