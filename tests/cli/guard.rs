//! Issue 18, items 5 and 6, end to end: huge molecules are invalid rows with the reason, quickly, in `chem` and
//! `stats`; a MODEL that is a missing path never goes to the HuggingFace hub, and a mistyped bundled name gets a
//! suggestion, both with exit code 2.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use biotorch_io::polars::prelude::*;

const BIN: &str = env!("CARGO_BIN_EXE_biotorch");
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// Runs biotorch in `cwd`, offline, with an empty HF cache; kills it and fails after `limit`.
fn run_in(cwd: &Path, args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(BIN)
        .args(["--threads", "2"])
        .args(args)
        .current_dir(cwd)
        .env_remove("BIOTORCH_MODELS_PATH")
        .env_remove("HF_HUB_CACHE")
        .env_remove("HUGGINGFACE_HUB_CACHE")
        .env("HF_HOME", cwd.join("hf-home"))
        .env("HF_HUB_OFFLINE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run biotorch");
    let started = Instant::now();
    while child.try_wait().expect("wait for biotorch").is_none() {
        if started.elapsed() > limit {
            child.kill().ok();
            child.wait().ok();
            panic!("biotorch {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("collect biotorch's output")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn read(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap()).finish().unwrap()
}

fn strings(df: &DataFrame, name: &str) -> Vec<Option<String>> {
    let values = df.column(name).unwrap().str().unwrap().clone();
    (0..values.len()).map(|i| values.get(i).map(str::to_owned)).collect()
}

fn bools(df: &DataFrame, name: &str) -> Vec<Option<bool>> {
    let values = df.column(name).unwrap().bool().unwrap().clone();
    (0..values.len()).map(|i| values.get(i)).collect()
}

// Regression: a 20,000-atom chain or a 3,000-deep branch kept `chem` and `stats` busy for minutes to hours (RDKit's
// time grows about cubically with the chain). Now they are invalid rows with the reason, and the run takes seconds.
#[test]
fn huge_molecules_are_flagged_rows_not_stalls() {
    let dir = tempfile::tempdir().unwrap();
    let chain = "C".repeat(20_000);
    let branch = format!("{}C{}", "C(".repeat(3_000), ")".repeat(3_000));
    // No heavy atom, but 19,000 atoms in a chain all the same.
    let dummies = "*".repeat(19_000);
    let aspirin = "CC(=O)Oc1ccccc1C(=O)O";
    let input = dir.path().join("huge.smi");
    std::fs::write(&input, format!("{aspirin}\n{chain}\n{branch}\n{dummies}\n")).unwrap();
    let expected_reasons = [
        None,
        Some("SMILES too large: 20000 heavy atoms, the limit is 1000".to_owned()),
        Some("SMILES too large: 3001 heavy atoms, the limit is 1000".to_owned()),
        Some("SMILES too large: 19000 atoms (hydrogens and * included), the limit is 1500".to_owned()),
    ];
    for command in ["chem", "stats"] {
        let out = dir.path().join(format!("{command}.parquet"));
        let o = run_in(dir.path(), &[command, "huge.smi", "-o", out.to_str().unwrap()], Duration::from_secs(60));
        assert!(o.status.success(), "{command}: exit {:?}\n{}", o.status.code(), stderr(&o));
        let df = read(&out);
        assert_eq!(bools(&df, "valid"), [Some(true), Some(false), Some(false), Some(false)], "{command}");
        assert_eq!(strings(&df, "reason"), expected_reasons, "{command}");
        assert_eq!(strings(&df, "canonical_smiles")[0].as_deref(), Some(aspirin), "{command}");
        // `chem` reports on stderr, `stats` on stdout.
        let report = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
        assert!(report.contains("invalid: 3 x SMILES too large"), "{command}:\n{report}");
    }
}

/// A protein FASTA for `embed` to read (it never gets that far).
fn fasta(dir: &Path) {
    std::fs::write(dir.join("p.faa"), ">p\nMKTAYIAKQR\n").unwrap();
}

fn usage_error(o: &Output, needles: &[&str]) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "expected exit 2, got {:?}:\n{err}", o.status.code());
    for needle in needles {
        assert!(err.contains(needle), "expected {needle:?} in:\n{err}");
    }
    err
}

// Regression: `--model runs/my-model` (a folder that does not exist) was tried as a HuggingFace repo id and
// "downloaded", with an error about the HF cache.
#[test]
fn missing_model_paths_are_not_repo_ids() {
    let dir = tempfile::tempdir().unwrap();
    fasta(dir.path());
    std::fs::create_dir_all(dir.path().join("runs/my-model")).unwrap();
    let limit = Duration::from_secs(60);
    for spec in ["runs/nope", "./nope", "../nope", "/nonexistent/nope", "~/nope", "runs/a/b"] {
        let o = run_in(dir.path(), &["embed", "p.faa", "--model", spec, "-o", "e.parquet"], limit);
        let err = usage_error(&o, &[&format!("model `{spec}` is not a folder (no such path"), "protein-small"]);
        assert!(!err.contains("HuggingFace cache") && !err.contains("download"), "{spec}:\n{err}");
    }
    let o = run_in(dir.path(), &["embed", "p.faa", "--model", "runs/my-modl", "-o", "e.parquet"], limit);
    usage_error(&o, &["did you mean `runs/my-model`?"]);
    // A symbolic link loop is a path that cannot be followed, not a model name.
    std::os::unix::fs::symlink("loop-b", dir.path().join("loop-a")).unwrap();
    std::os::unix::fs::symlink("loop-a", dir.path().join("loop-b")).unwrap();
    let o = run_in(dir.path(), &["embed", "p.faa", "--model", "loop-a", "-o", "e.parquet"], limit);
    usage_error(&o, &["model `loop-a` is not a folder (a symbolic link that cannot be followed"]);
    // `org/name` without an `org` folder here is a repo id, and the error says both rules.
    let o = run_in(dir.path(), &["embed", "p.faa", "--model", "someorg/nope", "-o", "e.parquet"], limit);
    usage_error(
        &o,
        &["model `someorg/nope` is not a folder (no such path) and not in the HuggingFace cache", "HF_HUB_OFFLINE"],
    );
    assert!(!dir.path().join("e.parquet").exists());
}

#[test]
fn mistyped_bundled_models_get_a_suggestion_and_the_list() {
    let dir = tempfile::tempdir().unwrap();
    fasta(dir.path());
    let o =
        run_in(dir.path(), &["embed", "p.faa", "--model", "protein-smal", "-o", "e.parquet"], Duration::from_secs(60));
    let err = usage_error(
        &o,
        &["model `protein-smal` not found (did you mean `protein-small`?)", "bundled models: dna-small, protein-small"],
    );
    // The bundled folder exists on this machine (the source tree), so it is named, by its real path.
    let models = Path::new(ROOT).join("data/models").canonicalize().unwrap();
    assert!(err.contains(&format!("looked in {}", models.display())), "{err}");
    assert!(!err.contains("crates/cli/../.."), "{err}");
}
