//! A streaming, validating FASTA reader.
//!
//! Why not `bio::io::fasta::Reader` alone: it does not report line numbers, does not strip a UTF-8 BOM,
//! and accepts any byte as sequence. Scientists need errors that say *where* a file is broken, so this
//! reader keeps `bio`'s record model (id = first word of the header, description = the rest, multi-line
//! sequences) and adds positions, alphabet checks and duplicate-id checks. `bio`'s writer is used in the
//! tests as an independent implementation to round-trip against.
//!
//! Memory is constant in the number of records: one record's buffers are reused, plus 16 bytes per
//! record for duplicate-id detection (off with [`FastaOptions::allow_duplicate_ids`]).

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::io::BufRead;
use std::path::Path;

use crate::alphabet::{guess_modality, show_byte, Modality, ModalityChoice};
use crate::error::{Error, Result};
use crate::source::Input;

/// How lowercase letters in sequences are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Case {
    /// Accept and upper-case them (soft-masked genomes, lowercase inserts in alignments).
    #[default]
    Upper,
    /// Reject them with an error.
    Reject,
}

/// Options of the FASTA reader.
#[derive(Debug, Clone, Default)]
pub struct FastaOptions {
    /// Which alphabet to check against.
    pub modality: ModalityChoice,
    /// What to do with lowercase letters.
    pub case: Case,
    /// Accept several records with the same id.
    pub allow_duplicate_ids: bool,
    /// Report characters outside the alphabet in [`Record::invalid`] instead of failing (for `biotorch stats`).
    pub report_invalid: bool,
    /// The model whose alphabet [`FastaOptions::modality`] is, when the alphabet comes from a model rather than from
    /// the user: a record of another kind of sequence is then explained by the model (`dna-small reads DNA: for
    /// proteins use a protein model`), not by `--modality`.
    pub model: Option<String>,
}

/// One FASTA record. Its sequence is upper-case and checked against the reader's modality.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// The first word of the header (after `>`).
    pub id: String,
    /// The rest of the header, trimmed; empty when there is none.
    pub description: String,
    /// The sequence, upper-case ASCII, line breaks and spaces removed.
    pub seq: Vec<u8>,
    /// 0-based index of the record in the file.
    pub index: u64,
    /// 1-based line number of the header.
    pub line: u64,
    /// With [`FastaOptions::report_invalid`]: the distinct characters outside the alphabet, in order of first
    /// appearance, and how many residues they account for. Always empty otherwise (such records are errors).
    pub invalid: Vec<u8>,
    /// Number of residues outside the alphabet (see [`Record::invalid`]).
    pub invalid_count: u64,
}

impl Record {
    /// The sequence as text. Validated sequences are ASCII; with [`FastaOptions::report_invalid`] a sequence may
    /// hold other bytes, which are shown as U+FFFD.
    pub fn seq_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.seq)
    }
}

/// Streams records from any buffered byte source.
///
/// ```
/// use biotorch_io::{FastaReader, FastaOptions};
/// let text = b">sp|P1 first protein\nMKT\nAYI\n>p2\nmkv\n";
/// let mut reader = FastaReader::new(&text[..], "example.fa", FastaOptions::default());
/// let records: Vec<_> = reader.records().collect::<Result<_, _>>().unwrap();
/// assert_eq!(records[0].id, "sp|P1");
/// assert_eq!(records[0].description, "first protein");
/// assert_eq!(records[0].seq, b"MKTAYI");
/// assert_eq!(records[1].seq, b"MKV");
/// ```
pub struct FastaReader<R> {
    inner: R,
    path: String,
    options: FastaOptions,
    modality: Option<Modality>,
    table: [bool; 256],
    line: u64,
    buf: Vec<u8>,
    /// The header line already read (without '>'), and its line number.
    pending: Option<u64>,
    header: Vec<u8>,
    started: bool,
    seen_bytes: bool,
    index: u64,
    ids: HashSet<u128>,
    hasher: std::collections::hash_map::RandomState,
    line_starts: Vec<(usize, u64)>,
}

impl FastaReader<Box<dyn BufRead + Send>> {
    /// Opens a file (plain or gzip) or `-` for standard input.
    pub fn from_path(path: impl AsRef<Path>, options: FastaOptions) -> Result<Self> {
        let input = Input::open(path)?;
        Ok(FastaReader::new(input.reader, input.name, options))
    }
}

impl<R: BufRead> FastaReader<R> {
    /// Reads from `inner`; `path` is the name used in error messages.
    pub fn new(inner: R, path: impl Into<String>, options: FastaOptions) -> Self {
        let modality = match options.modality {
            ModalityChoice::Fixed(m) => Some(m),
            ModalityChoice::Auto => None,
        };
        FastaReader {
            inner,
            path: path.into(),
            table: modality.map(Modality::table).unwrap_or([false; 256]),
            modality,
            options,
            line: 0,
            buf: Vec::with_capacity(256),
            pending: None,
            header: Vec::new(),
            started: false,
            seen_bytes: false,
            index: 0,
            ids: HashSet::new(),
            hasher: std::collections::hash_map::RandomState::new(),
            line_starts: Vec::new(),
        }
    }

    /// The modality in force: the fixed one, or the one guessed from the first record (None before it is read).
    pub fn modality(&self) -> Option<Modality> {
        self.modality
    }

    /// The name used in messages.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Reads the next line into `self.buf` without its line ending. Returns false at the end of input.
    fn next_line(&mut self) -> Result<bool> {
        self.buf.clear();
        let n = self.inner.read_until(b'\n', &mut self.buf).map_err(|e| {
            let mut err = Error::io(&self.path, &e);
            if let Error::Io { message, .. } | Error::Gzip { message, .. } = &mut err {
                *message = format!("{message} (after line {})", self.line);
            }
            err
        })?;
        if n == 0 {
            return Ok(false);
        }
        self.line += 1;
        self.seen_bytes = true;
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        if self.line == 1 && self.buf.starts_with(b"\xEF\xBB\xBF") {
            self.buf.drain(..3);
        }
        Ok(true)
    }

    fn err(&self, line: u64, record: Option<&str>, reason: impl Into<String>) -> Error {
        Error::parse(&self.path, line, record, reason)
    }

    /// Reads the next record into `record`, reusing its buffers. Returns `Ok(false)` at the end of input.
    pub fn read_record(&mut self, record: &mut Record) -> Result<bool> {
        if !self.started {
            self.started = true;
            loop {
                if !self.next_line()? {
                    let what = if self.seen_bytes {
                        "no FASTA records: the file has only blank lines"
                    } else {
                        "the file is empty: no FASTA records"
                    };
                    return Err(Error::Empty { path: self.path.clone(), what: what.to_string() });
                }
                if self.buf.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                if self.buf[0] == b'>' {
                    self.take_header();
                    break;
                }
                return Err(self.err(
                    self.line,
                    None,
                    "sequence data before the first '>' header: a FASTA record starts with a line '>id description'",
                ));
            }
        }
        let Some(header_line) = self.pending.take() else {
            return Ok(false);
        };
        self.parse_header(record, header_line)?;
        record.seq.clear();
        self.line_starts.clear();
        loop {
            if !self.next_line()? {
                break;
            }
            if self.buf.first() == Some(&b'>') {
                self.take_header();
                break;
            }
            self.line_starts.push((record.seq.len(), self.line));
            let case = self.options.case;
            for &b in &self.buf {
                match b {
                    b'a'..=b'z' => {
                        if case == Case::Reject {
                            let line = self.line;
                            return Err(self.err(
                                line,
                                Some(&record.id),
                                format!(
                                    "lowercase {} is rejected (--strict-case); drop that flag to accept lowercase as upper-case",
                                    show_byte(b)
                                ),
                            ));
                        }
                        record.seq.push(b - 32);
                    }
                    b' ' | b'\t' => {}
                    _ => record.seq.push(b),
                }
            }
        }
        if record.seq.is_empty() {
            return Err(self.err(
                header_line,
                Some(&record.id),
                "empty sequence: the record has a header but no residues (remove it or add its sequence)",
            ));
        }
        if self.modality.is_none() {
            let m = guess_modality(&record.seq);
            self.modality = Some(m);
            self.table = m.table();
        }
        record.invalid.clear();
        record.invalid_count = 0;
        if self.options.report_invalid {
            for &b in &record.seq {
                if !self.table[b as usize] {
                    record.invalid_count += 1;
                    if !record.invalid.contains(&b) {
                        record.invalid.push(b);
                    }
                }
            }
        } else if let Some(pos) = record.seq.iter().position(|&b| !self.table[b as usize]) {
            let byte = record.seq[pos];
            let (start, line) = self.line_starts[self.line_starts.partition_point(|&(start, _)| start <= pos) - 1];
            let modality = self.modality.expect("set above");
            let reason = format!(
                "{} (residue {} of the record, column {} of the line)",
                match &self.options.model {
                    Some(model) => modality.explain_for_model(byte, model, &record.seq),
                    None => modality.explain(byte),
                },
                pos + 1,
                pos - start + 1
            );
            return Err(self.err(line, Some(&record.id), reason));
        }
        if !self.options.allow_duplicate_ids {
            let mut h1 = self.hasher.build_hasher();
            h1.write(record.id.as_bytes());
            let mut h2 = self.hasher.build_hasher();
            h2.write_u8(0xa5);
            h2.write(record.id.as_bytes());
            let key = (u128::from(h1.finish()) << 64) | u128::from(h2.finish());
            if !self.ids.insert(key) {
                return Err(self.err(
                    header_line,
                    Some(&record.id),
                    "duplicate id: an earlier record has the same id (rename one, or pass --allow-duplicate-ids)",
                ));
            }
        }
        record.index = self.index;
        self.index += 1;
        Ok(true)
    }

    fn take_header(&mut self) {
        self.header.clear();
        self.header.extend_from_slice(&self.buf[1..]);
        self.pending = Some(self.line);
    }

    fn parse_header(&self, record: &mut Record, line: u64) -> Result<()> {
        let header = std::str::from_utf8(&self.header)
            .map_err(|_| self.err(line, None, "the header is not valid UTF-8 text (is this a binary file?)"))?;
        let header = header.trim_start();
        let (id, description) = match header.find(char::is_whitespace) {
            Some(i) => (&header[..i], header[i..].trim()),
            None => (header, ""),
        };
        if id.is_empty() {
            return Err(self.err(line, None, "empty header: a record needs an id after '>'"));
        }
        record.id.clear();
        record.id.push_str(id);
        record.description.clear();
        record.description.push_str(description);
        record.line = line;
        Ok(())
    }

    /// An iterator over the records (each one a fresh allocation; use [`read_record`](Self::read_record) to reuse buffers).
    pub fn records(&mut self) -> Records<'_, R> {
        Records { reader: self, done: false }
    }
}

/// Iterator returned by [`FastaReader::records`]. It stops after the first error.
pub struct Records<'a, R> {
    reader: &'a mut FastaReader<R>,
    done: bool,
}

impl<R: BufRead> Iterator for Records<'_, R> {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut record = Record::default();
        match self.reader.read_record(&mut record) {
            Ok(true) => Some(Ok(record)),
            Ok(false) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &[u8], options: FastaOptions) -> Result<Vec<Record>> {
        FastaReader::new(text, "t.fa", options).records().collect()
    }

    fn err_text(text: &[u8], options: FastaOptions) -> String {
        read(text, options).unwrap_err().to_string()
    }

    fn protein() -> FastaOptions {
        FastaOptions { modality: ModalityChoice::Fixed(Modality::Protein), ..Default::default() }
    }

    #[test]
    fn multiline_crlf_bom_and_description() {
        let recs = read(b"\xEF\xBB\xBF>a  desc here \r\nMK\r\nTA\r\n\r\n>b\r\nQQ", protein()).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!((recs[0].id.as_str(), recs[0].description.as_str()), ("a", "desc here"));
        assert_eq!(recs[0].seq, b"MKTA");
        assert_eq!((recs[1].id.as_str(), recs[1].seq.as_slice(), recs[1].line), ("b", &b"QQ"[..], 5));
        assert_eq!(recs[1].index, 1);
    }

    #[test]
    fn header_with_space_after_marker() {
        let recs = read(b"> BAHG_VITSP some globin\nMLDQ\n", protein()).unwrap();
        assert_eq!(recs[0].id, "BAHG_VITSP");
        assert_eq!(recs[0].description, "some globin");
    }

    #[test]
    fn lowercase_upper_cased_or_rejected() {
        assert_eq!(read(b">a\nmkTa\n", protein()).unwrap()[0].seq, b"MKTA");
        let strict = FastaOptions { case: Case::Reject, ..protein() };
        assert_eq!(
            err_text(b">a\nMKTa\n", strict),
            "t.fa:2: record \"a\": lowercase 'a' is rejected (--strict-case); drop that flag to accept lowercase as upper-case"
        );
    }

    #[test]
    fn error_cases_name_file_line_and_record() {
        assert_eq!(err_text(b"", protein()), "t.fa: the file is empty: no FASTA records");
        assert_eq!(err_text(b"\n\n", protein()), "t.fa: no FASTA records: the file has only blank lines");
        assert!(
            err_text(b"\nMKT\n>a\nMK\n", protein()).starts_with("t.fa:2: sequence data before the first '>' header")
        );
        assert!(err_text(b">a\n>b\nMK\n", protein()).starts_with("t.fa:1: record \"a\": empty sequence"));
        assert!(err_text(b">a\nMK\n>b\n", protein()).starts_with("t.fa:3: record \"b\": empty sequence"));
        assert!(err_text(b">a\nMK\nMKJ\n", protein()).starts_with(
            "t.fa:3: record \"a\": character 'J' is not an amino acid (allowed: ACDEFGHIKLMNPQRSTVWY and X B U Z O)"
        ));
        assert!(err_text(b">a\nMK*\n", protein()).contains("stop codon"));
        assert!(err_text(b">a\nMK1\n", protein()).contains("character '1' is not an amino acid"));
        assert!(err_text(b">a\nMK\xff\xfe\n", protein()).contains("byte 0xff"));
        assert!(err_text(b">\nMK\n", protein()).starts_with("t.fa:1: empty header"));
        assert!(err_text(b">a\xff\nMK\n", protein()).contains("not valid UTF-8"));
        assert_eq!(
            err_text(b">a\nMK\n>a\nMK\n", protein()),
            "t.fa:3: record \"a\": duplicate id: an earlier record has the same id (rename one, or pass --allow-duplicate-ids)"
        );
        let allow = FastaOptions { allow_duplicate_ids: true, ..protein() };
        assert_eq!(read(b">a\nMK\n>a\nMK\n", allow).unwrap().len(), 2);
    }

    #[test]
    fn report_invalid_instead_of_failing() {
        let opts = FastaOptions { report_invalid: true, ..protein() };
        let recs = read(b">a\nMKJ*J\n>b\nMK\n", opts).unwrap();
        assert_eq!((recs[0].invalid.as_slice(), recs[0].invalid_count), (&b"J*"[..], 3));
        assert!(recs[1].invalid.is_empty());
    }

    #[test]
    fn residue_position_in_error() {
        let e = err_text(b">a\nMKTA\nMKJA\n", protein());
        assert!(e.contains("residue 7 of the record, column 3 of the line"), "{e}");
    }

    #[test]
    fn dna_and_auto_modality() {
        let dna = FastaOptions { modality: ModalityChoice::Fixed(Modality::Dna), ..Default::default() };
        assert_eq!(read(b">c\nacgtnRY\n", dna.clone()).unwrap()[0].seq, b"ACGTNRY");
        assert!(err_text(b">c\nACGU\n", dna).contains("U is RNA"));
        let mut reader = FastaReader::new(&b">c\nacgtn\n>d\nACGT\n"[..], "t.fa", FastaOptions::default());
        assert_eq!(reader.records().count(), 2);
        assert_eq!(reader.modality(), Some(Modality::Dna));
        let e = err_text(b">c\nACGT\n>d\nMKE\n", FastaOptions::default());
        assert!(e.contains("not a DNA nucleotide") && e.contains("looks like a protein"), "{e}");
    }
}

/// How many records of the FASTA file at `path` `keep` accepts (`keep(index, id)`, the id being the header's first
/// word), counted from the headers alone: what a progress bar needs to show a total and an ETA from the start.
/// `None` for standard input (`-`), which can be read once only. Reads the whole file (decompressed), at the speed
/// of the disk.
pub fn count_records(path: &std::path::Path, keep: &dyn Fn(u64, &str) -> bool) -> crate::Result<Option<u64>> {
    use std::io::BufRead;
    if path.as_os_str() == "-" {
        return Ok(None);
    }
    let mut input = crate::Input::open(path)?;
    let (mut index, mut kept) = (0u64, 0u64);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = input.reader.read_until(b'\n', &mut line).map_err(|e| crate::Error::io(&input.name, &e))?;
        if n == 0 {
            return Ok(Some(kept));
        }
        if line.first() == Some(&b'>') {
            let header = String::from_utf8_lossy(&line[1..]);
            let id = header.split_whitespace().next().unwrap_or("");
            kept += u64::from(keep(index, id));
            index += 1;
        }
    }
}

#[cfg(test)]
mod count_tests {
    #[test]
    fn records_are_counted_from_headers_with_the_shards_rule() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.fasta");
        std::fs::write(&path, ">a one\nMK\nTT\n>b\n\n>c\nAA\n").unwrap();
        assert_eq!(super::count_records(&path, &|_, _| true).unwrap(), Some(3));
        assert_eq!(super::count_records(&path, &|i, _| i % 2 == 0).unwrap(), Some(2));
        assert_eq!(super::count_records(&path, &|_, id| id == "a").unwrap(), Some(1));
        assert_eq!(super::count_records(std::path::Path::new("-"), &|_, _| true).unwrap(), None);
    }
}
