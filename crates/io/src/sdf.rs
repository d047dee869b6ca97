//! SD files (`.sdf`, `.sd`, `.mol`, each maybe gzipped): records split at `$$$$` while streaming, each a MOL block
//! (title line first) and its data items (`> <name>` then value lines up to a blank line); and writing records
//! ([`write_record`]).
//!
//! This crate knows no chemistry: turning a MOL block into a SMILES and a SMILES into a MOL block is RDKit's job
//! (`biotorch-chem`), handed to this crate once by the program ([`register_chemistry`]) so that every reader of
//! molecules reads SD files and every table writer writes them.

use std::io::BufRead;
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// Converts between MOL blocks and SMILES; registered once by the program with [`register_chemistry`].
#[derive(Debug, Clone, Copy)]
pub struct SdfChemistry {
    /// A MOL block to its canonical SMILES (`""` for a block without atoms), or the reason it cannot be read.
    pub to_smiles: fn(&str) -> std::result::Result<String, String>,
    /// A SMILES to a MOL block with 2D coordinates, or the reason it cannot be written.
    pub to_molblock: fn(&str) -> std::result::Result<String, String>,
}

static CHEMISTRY: OnceLock<SdfChemistry> = OnceLock::new();

/// Hands the SD reader and writer their chemistry; the first registration wins (the program's, at start).
pub fn register_chemistry(chemistry: SdfChemistry) {
    let _ = CHEMISTRY.set(chemistry);
}

pub(crate) fn chemistry(path: &str) -> Result<&'static SdfChemistry> {
    CHEMISTRY.get().ok_or_else(|| {
        Error::Usage(format!("{path}: SD files need RDKit, which this program did not register (a biotorch bug)"))
    })
}

/// Whether `ext` (see [`content_extension`](crate::content_extension)) names an SD file.
pub(crate) fn is_sdf_extension(ext: &str) -> bool {
    matches!(ext, "sdf" | "sd" | "mol")
}

/// Records over this size are refused (a file that is not an SD file, or a missing `$$$$`).
const MAX_RECORD_BYTES: usize = 64 << 20;

/// One SD record as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SdfRecord {
    /// 1-based line of the record's first (title) line.
    pub line: u64,
    /// The title line (the molecule's name), trimmed.
    pub title: String,
    /// The MOL block, title line to `M  END` inclusive.
    pub molblock: String,
    /// The data items in file order: name and value (lines joined with `\n`).
    pub tags: Vec<(String, String)>,
}

/// Splits an SD stream into [`SdfRecord`]s, one record in memory at a time.
pub struct SdfRecords<R> {
    name: String,
    reader: R,
    line: u64,
    buf: String,
}

impl<R: BufRead> SdfRecords<R> {
    /// Reads records from `reader`; `name` is the file's name in messages.
    pub fn new(name: impl Into<String>, reader: R) -> Self {
        SdfRecords { name: name.into(), reader, line: 0, buf: String::new() }
    }

    fn read_line(&mut self) -> Result<bool> {
        self.buf.clear();
        let n = self.reader.read_line(&mut self.buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                Error::parse(
                    &self.name,
                    self.line + 1,
                    None,
                    "the line is not valid UTF-8 text (is this a binary file?)",
                )
            } else {
                Error::io(&self.name, &e)
            }
        })?;
        if n > 0 {
            self.line += 1;
        }
        Ok(n > 0)
    }

    /// The next record, `None` at the end. A record without `M  END` before its `$$$$` is a parse error naming its
    /// line; blank lines after the last `$$$$` are ignored, and the last record may lack its `$$$$`.
    pub fn next_record(&mut self) -> Result<Option<SdfRecord>> {
        let mut record = SdfRecord::default();
        let mut in_block = true;
        let mut started = false;
        let mut tag: Option<(String, String)> = None;
        loop {
            if !self.read_line()? {
                if !started || (in_block && record.molblock.trim().is_empty()) {
                    // Nothing, or only blank lines after the last `$$$$`.
                    return Ok(None);
                }
                if in_block {
                    return Err(self.unfinished(&record));
                }
                if let Some(t) = tag.take() {
                    record.tags.push(t);
                }
                return Ok(Some(record));
            }
            let text = self.buf.trim_end_matches(['\n', '\r']);
            if !started {
                started = true;
                record.line = self.line;
                record.title = text.trim_start_matches('\u{feff}').trim().to_string();
            }
            if text.starts_with("$$$$") {
                if in_block {
                    if record.molblock.trim().is_empty() {
                        // An empty record (two `$$$$` in a row or blank lines before one): skipped.
                        record = SdfRecord::default();
                        started = false;
                        continue;
                    }
                    return Err(self.unfinished(&record));
                }
                if let Some(t) = tag.take() {
                    record.tags.push(t);
                }
                return Ok(Some(record));
            }
            if in_block {
                record.molblock.push_str(text.trim_start_matches('\u{feff}'));
                record.molblock.push('\n');
                if record.molblock.len() > MAX_RECORD_BYTES {
                    return Err(Error::parse(
                        &self.name,
                        record.line,
                        None,
                        format!("SD record over {} MB without `M  END`: is this an SD file?", MAX_RECORD_BYTES >> 20),
                    ));
                }
                if text.starts_with("M  END") {
                    in_block = false;
                }
                continue;
            }
            if text.starts_with('>') {
                if let Some(t) = tag.take() {
                    record.tags.push(t);
                }
                tag = tag_name(text).map(|n| (n, String::new()));
            } else if text.trim().is_empty() {
                if let Some(t) = tag.take() {
                    record.tags.push(t);
                }
            } else if let Some((_, value)) = tag.as_mut() {
                if value.len() > MAX_RECORD_BYTES {
                    return Err(Error::parse(&self.name, self.line, None, "SD data item over 64 MB"));
                }
                if !value.is_empty() {
                    value.push('\n');
                }
                value.push_str(text);
            }
        }
    }

    fn unfinished(&self, record: &SdfRecord) -> Error {
        Error::parse(
            &self.name,
            record.line,
            None,
            "SD record without `M  END` before its `$$$$` (or the end of the file): not a MOL block",
        )
    }
}

/// The name of a data item header such as `> <pIC50>`, `>  <qed>  (1)` or `> 25 <id>`: the text between the first
/// `<` and the next `>`; `None` for a header without a name.
fn tag_name(header: &str) -> Option<String> {
    let start = header.find('<')? + 1;
    let end = header[start..].find('>')? + start;
    Some(header[start..end].to_string())
}

/// An empty MOL block (no atoms): what [`write_record`] writes for a row without a molecule.
pub(crate) const EMPTY_MOLBLOCK: &str = "\n     biotorch\n\n  0  0  0  0  0  0  0  0  0  0999 V2000\nM  END\n";

/// Writes one SD record: `molblock` with its first line replaced by `title`, then each `(name, value)` data item
/// (values with blank lines closed up, so that a value never ends the item early), then `$$$$`.
pub(crate) fn write_record(
    out: &mut impl std::io::Write,
    title: &str,
    molblock: &str,
    tags: &[(&str, String)],
) -> std::io::Result<()> {
    let title: String = title.chars().map(|c| if c.is_control() { ' ' } else { c }).take(80).collect();
    let body = molblock.split_once('\n').map_or("", |(_, rest)| rest);
    writeln!(out, "{title}")?;
    out.write_all(body.as_bytes())?;
    if !body.ends_with('\n') && !body.is_empty() {
        writeln!(out)?;
    }
    for (name, value) in tags {
        writeln!(out, "> <{name}>")?;
        for line in value.lines().filter(|l| !l.trim().is_empty()) {
            let line = if line.starts_with("$$$$") { line.replacen("$$$$", "$$$ $", 1) } else { line.to_string() };
            writeln!(out, "{line}")?;
        }
        writeln!(out)?;
    }
    writeln!(out, "$$$$")
}

/// A stand-in for RDKit in this crate's tests: a MOL block's SMILES is a `C` per atom (an error when its title is
/// `BAD`), a SMILES's MOL block has a `C` atom per character.
#[cfg(test)]
pub(crate) fn register_fake_chemistry() {
    fn to_smiles(block: &str) -> std::result::Result<String, String> {
        if block.starts_with("BAD") {
            return Err("bad block".into());
        }
        let counts = block.lines().nth(3).ok_or("no counts line")?;
        let n: usize = counts.get(..3).and_then(|a| a.trim().parse().ok()).ok_or("bad counts line")?;
        Ok("C".repeat(n))
    }
    fn to_molblock(smiles: &str) -> std::result::Result<String, String> {
        if smiles.contains('!') {
            return Err("cannot draw".into());
        }
        let atoms = "    0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0\n".repeat(smiles.len());
        Ok(format!("\n     fake\n\n{:>3}  0  0  0  0  0  0  0  0  0999 V2000\n{atoms}M  END\n", smiles.len()))
    }
    register_chemistry(SdfChemistry { to_smiles, to_molblock });
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "ethanol\n  RDKit          2D\n\n  3  2  0  0  0  0  0  0  0  0999 V2000\n    0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0\n    1.2990    0.7500    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0\n    2.5981   -0.0000    0.0000 O   0  0  0  0  0  0  0  0  0  0  0  0\n  1  2  1  0\n  2  3  1  0\nM  END\n>  <pIC50>  (1) \n6.5\n\n> <note>\nline one\nline two\n\n$$$$\n\n     RDKit\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\n    0.0000    0.0000    0.0000 N   0  0  0  0  0  0  0  0  0  0  0  0\nM  END\n> <pIC50>\n7\n";

    #[test]
    fn records_titles_blocks_and_tags() {
        let mut records = SdfRecords::new("t.sdf", TWO.as_bytes());
        let a = records.next_record().unwrap().unwrap();
        assert_eq!((a.line, a.title.as_str()), (1, "ethanol"));
        assert!(a.molblock.starts_with("ethanol\n") && a.molblock.ends_with("M  END\n"));
        assert_eq!(a.tags, [("pIC50".into(), "6.5".into()), ("note".into(), "line one\nline two".into())]);
        let b = records.next_record().unwrap().unwrap();
        assert_eq!((b.line, b.title.as_str()), (19, ""));
        assert_eq!(b.tags, [("pIC50".into(), "7".into())], "the last record may lack its $$$$");
        assert!(records.next_record().unwrap().is_none());
    }

    #[test]
    fn a_record_without_m_end_is_a_parse_error_with_its_line() {
        let text = TWO.replacen("M  END\n", "", 1);
        let mut records = SdfRecords::new("t.sdf", text.as_bytes());
        let e = records.next_record().unwrap_err();
        assert!(e.is_bad_input());
        assert!(e.to_string().starts_with("t.sdf:1: SD record without `M  END`"), "{e}");
    }

    #[test]
    fn written_records_read_back() {
        let mut out = Vec::new();
        let tags = [("qed", "0.5".to_string()), ("reason", "a\n\nb".to_string())];
        write_record(&mut out, "m\n1", TWO.split("$$$$").next().unwrap().split("> ").next().unwrap(), &tags).unwrap();
        write_record(&mut out, "", EMPTY_MOLBLOCK, &[("valid", "false".into())]).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut records = SdfRecords::new("o.sdf", text.as_bytes());
        let a = records.next_record().unwrap().unwrap();
        assert_eq!(a.title, "m 1");
        assert_eq!(a.tags, [("qed".into(), "0.5".into()), ("reason".into(), "a\nb".into())]);
        let b = records.next_record().unwrap().unwrap();
        assert_eq!((b.title.as_str(), b.tags.len()), ("", 1));
        assert!(b.molblock.contains("  0  0  0") && b.molblock.ends_with("M  END\n"));
        assert!(records.next_record().unwrap().is_none());
    }
}
