//! End-to-end tests of issue 18's data safety (items 1, 3 and 8), all from biotorch-io: inputs identified by content
//! for `--resume` and `merge`, outputs that would overwrite or sit inside their inputs refused, temporary files of a
//! killed run removed by the next one, exit code 2 (naming the file and column) for the user's input, and CSV/TSV
//! outputs by name.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use biotorch_io::polars::prelude::*;

const BIN: &str = env!("CARGO_BIN_EXE_biotorch");
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn demo(name: &str) -> String {
    format!("{ROOT}/data/demo/{name}")
}

fn command(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.args(["--threads", "1"]).args(args).env_remove("BIOTORCH_MODELS_PATH");
    command
}

fn run(args: &[&str]) -> Output {
    command(args).output().expect("run biotorch")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a command that must succeed; returns its stderr.
fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(o.status.success(), "biotorch {}: exit {:?}\n{}", args.join(" "), o.status.code(), stderr(&o));
    stderr(&o)
}

/// Runs a command that must exit with `code` and say `needle`; returns its stderr.
fn fails(args: &[&str], code: i32, needle: &str) -> String {
    let o = run(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(code), "biotorch {}:\n{err}", args.join(" "));
    assert!(err.contains(needle), "expected {needle:?} in:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn read(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap()).finish().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn embeddings(df: &DataFrame) -> Vec<f32> {
    df.column("embedding").unwrap().array().unwrap().get_inner().f32().unwrap().into_no_null_iter().collect()
}

/// The hidden temporary files in `dir`.
fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && n.ends_with(".tmp"))
        .collect()
}

const TWO: &str = ">a\nMKTAYIAKQRQISFVKSHFSRQ\n>b\nMKVLAAGIVGLLLA\n";
/// The same records, one residue changed, the same size.
const TWO_CHANGED: &str = ">a\nMKTAYIAKQRQISFVKSHFSRQ\n>b\nMKVLAAGIVGLLLW\n";

const MOLECULES: &str = "smiles,id\nCCO,ethanol\nc1ccccc1,benzene\nC1CC,broken\n";

fn embed(input: &Path, output: &Path, extra: &[&str]) -> String {
    let mut args = vec!["embed", s(input), "--model", "protein-small", "-o", s(output)];
    args.extend(extra);
    ok(&args)
}

#[test]
fn embed_resume_recomputes_after_the_input_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("x.faa"), tmp.path().join("e.parquet"));
    std::fs::write(&input, TWO).unwrap();
    embed(&input, &out, &[]);
    let before = embeddings(&read(&out));
    let msg = embed(&input, &out, &["--resume"]);
    assert!(msg.contains("skipped (--resume)"), "{msg}");
    std::fs::write(&input, TWO_CHANGED).unwrap();
    let msg = embed(&input, &out, &["--resume"]);
    assert!(msg.contains("recomputing it: the input has changed since it was written"), "{msg}");
    let after = embeddings(&read(&out));
    assert_eq!(before[..128], after[..128], "record a is the same");
    assert_ne!(before[128..], after[128..], "record b was recomputed from the new input");
    let fresh = tmp.path().join("fresh.parquet");
    embed(&input, &fresh, &[]);
    assert_eq!(embeddings(&read(&fresh)), after);
}

#[test]
fn chem_resume_recomputes_after_the_input_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("m.csv"), tmp.path().join("p.parquet"));
    std::fs::write(&input, "smiles,id\nCCO,a\nc1ccccc1,b\n").unwrap();
    ok(&["chem", s(&input), "-o", s(&out)]);
    assert!(ok(&["chem", s(&input), "-o", s(&out), "--resume"]).contains("skipped (--resume)"));
    std::fs::write(&input, "smiles,id\nCCN,a\nc1ccccc1,b\n").unwrap();
    let msg = ok(&["chem", s(&input), "-o", s(&out), "--resume"]);
    assert!(msg.contains("recomputing it: the input has changed"), "{msg}");
    let smiles = read(&out).column("smiles").unwrap().str().unwrap().get(0).map(str::to_string);
    assert_eq!(smiles.as_deref(), Some("CCN"));
}

/// Runs `biotorch ARGS` with `stdin` as its standard input.
fn run_with_stdin(args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn embed_resume_on_stdin_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("e.parquet");
    let args = ["embed", "-", "--model", "protein-small", "-o", s(&out), "--resume"];
    let o = run_with_stdin(&args, TWO);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--resume cannot tell whether an output was computed from what standard input (-) holds")
    );
    assert!(!out.exists());
}

#[test]
fn merge_refuses_parts_of_two_versions_of_one_input() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, dir) = (tmp.path().join("x.faa"), tmp.path().join("ds"));
    let part = |i: u32| {
        let (shard, out) = (format!("{i}/2"), format!("{}/", dir.display()));
        ok(&["stats", s(&input), "--shard", &shard, "-o", &out]);
    };
    std::fs::write(&input, TWO).unwrap();
    part(0);
    std::fs::write(&input, TWO_CHANGED).unwrap();
    part(1);
    let merged = tmp.path().join("m.parquet");
    fails(&["merge", s(&dir), "-o", s(&merged)], 2, "were computed from different contents of");
    assert!(!merged.exists());
    // Parts of one version merge.
    part(0);
    assert!(ok(&["merge", s(&dir), "-o", s(&merged)]).contains("2 rows from 2 parts"));
}

#[test]
fn outputs_over_their_inputs_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("x.faa");
    std::fs::write(&input, TWO).unwrap();
    let same = format!("{}/./x.faa", tmp.path().display());
    fails(&["embed", s(&input), "--model", "protein-small", "-o", &same], 2, "the output would overwrite the input");
    fails(&["tokenize", s(&input), "--tokenizer", "esm2", "-o", s(&input)], 2, "the output would overwrite the input");
    assert_eq!(std::fs::read_to_string(&input).unwrap(), TWO, "the input is intact");

    let (csv, molecules) = (tmp.path().join("m.csv"), tmp.path().join("m.parquet"));
    std::fs::write(&csv, MOLECULES).unwrap();
    ok(&["chem", s(&csv), "-o", s(&molecules)]);
    let size = std::fs::metadata(&molecules).unwrap().len();
    fails(&["chem", s(&molecules), "-o", s(&molecules)], 2, "the output would overwrite the input");
    assert_eq!(std::fs::metadata(&molecules).unwrap().len(), size);

    let dir = tmp.path().join("ds");
    let out = format!("{}/", dir.display());
    ok(&["stats", s(&input), "-o", &out]);
    let inside = dir.join("merged.parquet");
    fails(&["merge", s(&dir), "-o", s(&inside)], 2, "the output is inside the input directory");
    assert!(!inside.exists());
    fails(&["select", s(&dir), "-o", s(&inside)], 2, "the output is inside the input directory");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "only the part is there");
    assert!(temp_files(tmp.path()).is_empty() && temp_files(&dir).is_empty());
}

#[test]
fn the_next_run_removes_the_temporary_file_of_a_killed_one() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("e.parquet");
    let args =
        ["embed", &demo("ecoli_proteins_500.faa"), "--model", "protein-small", "--lookahead", "2", "-o", s(&out)];
    let mut child = command(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    while temp_files(tmp.path()).is_empty() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before its temporary file was seen");
        assert!(started.elapsed() < Duration::from_secs(120), "no temporary file appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL: nothing of the process runs any more
    child.wait().unwrap();
    let stale = temp_files(tmp.path());
    assert_eq!(stale.len(), 1, "the killed run left its temporary file: {stale:?}");
    assert!(!out.exists());

    // Another output in the same folder leaves it; the next run of the same output removes it.
    ok(&["stats", &demo("swissprot_100.fasta"), "-o", s(&tmp.path().join("other.parquet"))]);
    assert_eq!(temp_files(tmp.path()), stale);
    ok(&["embed", &demo("swissprot_100.fasta"), "--model", "protein-small", "-o", s(&out)]);
    assert!(temp_files(tmp.path()).is_empty(), "{:?}", temp_files(tmp.path()));
    assert_eq!(read(&out).height(), 100);
}

/// Writes `columns` as a Parquet file.
fn parquet(path: &Path, columns: Vec<Column>) -> PathBuf {
    let mut df = DataFrame::new(2, columns).unwrap();
    biotorch_io::write_parquet(path, &mut df, vec![]).unwrap();
    path.to_path_buf()
}

#[test]
fn the_users_input_exits_2_naming_the_file_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| tmp.path().join(name);
    let out = p("out.parquet");

    // A directory given as input, to the FASTA and the SMILES readers.
    for name in ["d.faa", "d.smi", "d.csv", "d.parquet"] {
        std::fs::create_dir(p(name)).unwrap();
    }
    fails(&["stats", s(&p("d.faa")), "-o", s(&out)], 2, "d.faa: is a directory, not a file");
    fails(&["tokenize", s(&p("d.faa")), "--tokenizer", "esm2", "-o", s(&out)], 2, "d.faa: is a directory");
    for name in ["d.smi", "d.csv", "d.parquet"] {
        fails(&["chem", s(&p(name)), "-o", s(&out)], 2, &format!("{name}: is a directory, not a file"));
    }

    // A SMILES column that is not text: lists, bytes that are not UTF-8.
    let lists = Series::new("smiles".into(), [Series::new("".into(), ["CCO"]), Series::new("".into(), ["CC"])]);
    let list_file = parquet(&p("lists.parquet"), vec![lists.into()]);
    fails(&["chem", s(&list_file), "-o", s(&out)], 2, "lists.parquet: column 'smiles' holds lists, not text");
    let bytes = Series::new("smiles".into(), [&b"CC"[..], &b"\xff\xfe"[..]]);
    let byte_file = parquet(&p("bytes.parquet"), vec![bytes.into()]);
    fails(&["chem", s(&byte_file), "-o", s(&out)], 2, "bytes.parquet: column 'smiles' cannot be read as text");

    // A truncated part in merge.
    let input = p("x.faa");
    std::fs::write(&input, TWO).unwrap();
    let dir = p("ds");
    for i in 0..2 {
        ok(&["stats", s(&input), "--shard", &format!("{i}/2"), "-o", &format!("{}/", dir.display())]);
    }
    let part = dir.join("part-00001-of-00002.parquet");
    let bytes = std::fs::read(&part).unwrap();
    std::fs::write(&part, &bytes[..bytes.len() - 10]).unwrap();
    fails(&["merge", s(&dir), "-o", s(&out)], 2, &format!("{}: not a complete Parquet file (", part.display()));

    // A missing output folder.
    fails(&["stats", s(&input), "-o", s(&p("nodir/x.parquet"))], 2, "the output folder");
    assert!(!out.exists());
}

#[test]
fn csv_and_tsv_outputs_by_name_and_no_file_named_dash() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("x.faa");
    std::fs::write(&input, TWO).unwrap();
    let csv = tmp.path().join("s.csv");
    ok(&["stats", s(&input), "-o", s(&csv)]);
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("index,id,description,length,"), "{text}");
    assert!(lines.next().unwrap().starts_with("0,a,,22,"), "{text}");
    assert_eq!(lines.count(), 1);

    let (molecules, tsv) = (tmp.path().join("m.csv"), tmp.path().join("p.TSV"));
    std::fs::write(&molecules, MOLECULES).unwrap();
    ok(&["chem", s(&molecules), "-o", s(&tsv)]);
    let text = std::fs::read_to_string(&tsv).unwrap();
    assert_eq!(text.lines().count(), 4);
    let header: Vec<&str> = text.lines().next().unwrap().split('\t').collect();
    assert_eq!(header[..4], ["index", "line", "id", "smiles"]);
    assert!(header.contains(&"qed"), "{header:?}");

    // List columns do not fit in CSV: refused, naming the column, nothing written.
    let e = tmp.path().join("e.csv");
    fails(&["embed", s(&input), "--model", "protein-small", "-o", s(&e)], 2, "a CSV/TSV file cannot hold");
    assert!(!e.exists());

    // `-o -` is refused instead of creating a file named `-`.
    let o = command(&["stats", s(&input), "-o", "-"]).current_dir(tmp.path()).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("give a file name instead of -"), "{}", stderr(&o));
    assert!(!tmp.path().join("-").exists());
}
