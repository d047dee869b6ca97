//! Outputs that would destroy or mix into their inputs: an output that is an input (`embed x.faa -o x.faa`), lies
//! inside an input directory (`merge DIR -o DIR/merged.parquet`, which the next read of DIR would take for a part),
//! or is a directory that contains an input (`train --init DIR/checkpoint -o DIR`). Compared by canonical path, so
//! `./x`, `../d/x` and symbolic links are seen through, and by file identity (hard links).

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// Refuses `output` when it is one of `inputs`, is inside an input directory, or is a directory containing an input
/// (an [`Error::OutputOverInput`], the user's to fix). Standard input and output (`-`) and inputs that do not exist
/// are passed over; the output need not exist yet (its nearest existing folder is resolved).
///
/// ```
/// use std::path::Path;
/// use biotorch_io::dataset::check_output;
/// let dir = tempfile::tempdir().unwrap();
/// let input = dir.path().join("x.faa");
/// std::fs::write(&input, ">a\nMK\n").unwrap();
/// assert!(check_output(&dir.path().join("x.parquet"), &[&input]).is_ok());
/// let e = check_output(&dir.path().join("./x.faa"), &[&input]).unwrap_err();
/// assert!(e.is_bad_input());
/// ```
pub fn check_output(output: &Path, inputs: &[&Path]) -> Result<()> {
    if output.as_os_str() == "-" {
        return Ok(());
    }
    let out = resolve(output);
    let fail = |reason: String| Err(Error::OutputOverInput { output: output.display().to_string(), reason });
    for input in inputs {
        if input.as_os_str() == "-" {
            continue;
        }
        let Ok(inp) = std::fs::canonicalize(input) else { continue };
        let shown = input.display();
        if out == inp || same_file(output, input) {
            return fail(format!("the output would overwrite the input {shown}: choose another output name"));
        }
        if out.starts_with(&inp) {
            return fail(format!("the output is inside the input directory {shown}: write it elsewhere"));
        }
        if inp.starts_with(&out) {
            return fail(format!("the output directory contains the input {shown}: write it elsewhere"));
        }
    }
    Ok(())
}

/// `path` made absolute with its nearest existing ancestor canonicalized (symbolic links resolved) and the rest, which
/// does not exist yet, appended as written (`.` dropped, `..` taken lexically).
fn resolve(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(path)).unwrap_or_else(|_| path.to_path_buf())
    };
    let mut rest: Vec<Component<'_>> = Vec::new();
    let mut base = absolute.as_path();
    let mut resolved = loop {
        if let Ok(canonical) = std::fs::canonicalize(base) {
            break canonical;
        }
        match (base.parent(), base.components().next_back()) {
            (Some(parent), Some(last)) => {
                rest.push(last);
                base = parent;
            }
            _ => break base.to_path_buf(),
        }
    };
    for component in rest.into_iter().rev() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                resolved.pop();
            }
            other => resolved.push(other.as_os_str()),
        }
    }
    resolved
}

/// Whether two existing paths are the same file (hard links included).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(a), Ok(b)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return a.dev() == b.dev() && a.ino() == b.ino();
        }
    }
    let _ = (a, b);
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_over_inputs_are_refused_by_canonical_path() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let input = root.join("x.faa");
        std::fs::write(&input, ">a\nMK\n").unwrap();
        let ds = root.join("ds");
        std::fs::create_dir(&ds).unwrap();
        std::os::unix::fs::symlink(&input, root.join("link.faa")).unwrap();
        std::fs::hard_link(&input, root.join("hard.faa")).unwrap();

        let refused = |output: PathBuf, input: &Path| {
            let e = check_output(&output, &[Path::new("-"), input]).unwrap_err();
            assert!(e.is_bad_input(), "{e}");
            assert!(e.to_string().starts_with(&format!("{}: ", output.display())), "{e}");
            e.to_string()
        };
        let e = refused(input.clone(), &input);
        assert!(
            e.ends_with(&format!(
                "the output would overwrite the input {}: choose another output name",
                input.display()
            )),
            "{e}"
        );
        refused(ds.join("..").join("x.faa"), &input);
        refused(root.join("link.faa"), &input);
        refused(root.join("hard.faa"), &input);
        // A symbolic link to the input's folder, and an output inside an input directory (not there yet).
        std::os::unix::fs::symlink(root, root.join("here")).unwrap();
        refused(root.join("here/x.faa"), &input);
        let e = refused(ds.join("merged.parquet"), &ds);
        assert!(
            e.ends_with(&format!("the output is inside the input directory {}: write it elsewhere", ds.display())),
            "{e}"
        );
        refused(ds.join("new/deeper/m.parquet"), &ds);
        let e = refused(root.to_path_buf(), &input);
        assert!(e.contains("the output directory contains the input"), "{e}");

        // Beside the input, a sibling directory, standard output, inputs that are not there: fine.
        check_output(&root.join("x.parquet"), &[&input, &ds]).unwrap();
        check_output(&root.join("ds2/m.parquet"), &[&ds]).unwrap();
        check_output(&root.join("dsx"), &[&ds]).unwrap();
        check_output(Path::new("-"), &[&input]).unwrap();
        check_output(&input, &[&root.join("gone.faa"), Path::new("-")]).unwrap();
    }

    #[test]
    fn relative_paths_resolve_against_the_working_directory() {
        let here = std::env::current_dir().unwrap();
        assert_eq!(
            resolve(Path::new("no-such-dir/./a/../b.parquet")),
            std::fs::canonicalize(&here).unwrap().join("no-such-dir/b.parquet")
        );
        let e = check_output(Path::new("./Cargo.toml"), &[&here.join("Cargo.toml")]).unwrap_err();
        assert!(e.to_string().starts_with("./Cargo.toml: the output would overwrite the input"), "{e}");
    }
}
