//! Issue 18 as the CLI wires it: options refused once for every command (zero counts, missing GPUs, bad `--plot` and
//! `--labels`) before any work, one training run per output folder, never a model's own folder as the output,
//! temporary files removed on SIGTERM, and threads that behave on a shared machine.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_biotorch");
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn demo(name: &str) -> String {
    format!("{ROOT}/data/demo/{name}")
}

fn command(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args).env_remove("BIOTORCH_MODELS_PATH").env_remove("OMP_WAIT_POLICY");
    command
}

fn run(args: &[&str]) -> Output {
    command(args).output().expect("run biotorch")
}

fn spawn(args: &[&str]) -> Child {
    command(args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("start biotorch")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs and expects exit code 2 (never a panic's 101), returning stderr.
fn refused(args: &[&str]) -> String {
    let o = run(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "biotorch {args:?}:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// Waits until `ready` holds (polling), failing after a minute.
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

// Regression: `--threads 0` and `--device cuda` on a machine without that GPU panicked (exit 101) in train, generate,
// finetune, predict and optimize; zero look-ahead, token budgets and epochs were accepted.
#[test]
fn zero_counts_threads_and_missing_gpus_are_refused_by_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let fasta = demo("swissprot_100.fasta");
    let smiles = demo("chembl_2000.csv");
    let tasks = format!("{ROOT}/data/tasks/huuskonen_solubility_1282.csv");
    let commands: Vec<Vec<String>> = vec![
        vec!["embed".into(), fasta.clone(), "--model".into(), "protein-small".into(), "-o".into(), out("e.parquet")],
        vec!["train".into(), "--objective".into(), "mlm".into(), "--arch".into(), "esm2-tiny".into(), "--train".into()]
            .into_iter()
            .chain([fasta.clone(), "-o".into(), out("run")])
            .collect(),
        vec![
            "generate".into(),
            "--model".into(),
            "smiles-small".into(),
            "-n".into(),
            "4".into(),
            "-o".into(),
            out("g"),
        ],
        vec!["optimize".into(), "--model".into(), "smiles-small".into(), "--objective".into(), "qed".into()]
            .into_iter()
            .chain(["--steps".into(), "1".into(), "-o".into(), out("o.parquet")])
            .collect(),
        vec!["finetune".into(), "--model".into(), "smiles-small".into(), "--data".into(), tasks.clone()]
            .into_iter()
            .chain(["--target".into(), "logS".into(), "-o".into(), out("head")])
            .collect(),
        vec!["predict".into(), "--model".into(), out("head"), smiles.clone(), "-o".into(), out("p.parquet")],
    ];
    for args in &commands {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let err = refused(&[&["--threads", "0"], &args[..]].concat());
        assert!(err.contains("--threads") && err.contains("at least 1"), "{err}");
        if tch_has_no_cuda() {
            for device in ["cuda", "cuda:3"] {
                let err = refused(&[&args[..], &["--device", device]].concat());
                assert!(err.contains(&format!("--device {device}")), "{args:?}: {err}");
                assert!(err.contains("no CUDA device is visible") && err.contains("use --device cpu"), "{err}");
            }
        }
    }
    let embed = ["embed", &fasta, "--model", "protein-small", "-o", &out("e.parquet")];
    for zero in [["--lookahead", "0"], ["--batch-tokens", "0"]] {
        let err = refused(&[&embed[..], &zero].concat());
        assert!(err.contains(zero[0]) && err.contains("at least 1"), "{err}");
    }
    let err = refused(&[&commands[4].iter().map(String::as_str).collect::<Vec<_>>()[..], &["--epochs", "0"]].concat());
    assert!(err.contains("--epochs") && err.contains("at least 1"), "{err}");
    assert!(!dir.path().join("e.parquet").exists() && !dir.path().join("head").exists());
}

/// This test machine has no GPU (the device tests above need one that is missing).
fn tch_has_no_cuda() -> bool {
    !Path::new("/dev/nvidia0").exists()
}

// Regression: a bad --plot or --labels was found after the embeddings were computed and written.
#[test]
fn plot_and_labels_are_checked_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.parquet");
    let embed = ["embed", &demo("swissprot_100.fasta"), "--model", "protein-small", "-o", s(&out)];
    let pdf = dir.path().join("pca.pdf");
    let err = refused(&[&embed[..], &["--plot", s(&pdf)]].concat());
    assert!(err.contains("pca.pdf"), "{err}");
    let err = refused(&[&embed[..], &["--plot", &format!("{}/no-such-folder/pca.png", dir.path().display())]].concat());
    assert!(err.contains("no-such-folder"), "{err}");
    let labels = dir.path().join("labels.csv");
    std::fs::write(&labels, "id,location\nP1,nucleus\n").unwrap();
    let png = dir.path().join("pca.png");
    let err = refused(&[&embed[..], &["--plot", s(&png), "--labels", s(&labels), "--label-column", "loc"]].concat());
    assert!(err.contains("no column named 'loc'") && err.contains("location"), "{err}");
    let err = refused(&[&embed[..], &["--labels", s(&labels)]].concat());
    assert!(err.contains("--plot"), "{err}");
    assert_eq!(files(dir.path()), ["labels.csv"], "nothing computed or written");

    // The other commands with --plot refuse it before their work too.
    let g = dir.path().join("g.parquet");
    let err = refused(&["generate", "--model", "smiles-small", "-n", "8", "-o", s(&g), "--plot", s(&pdf)]);
    assert!(err.contains("pca.pdf"), "{err}");
    let o = dir.path().join("o.parquet");
    refused(&[
        "optimize",
        "--model",
        "smiles-small",
        "--objective",
        "qed",
        "--steps",
        "1",
        "-o",
        s(&o),
        "--plot",
        s(&pdf),
    ]);
    refused(&["stats", &demo("chembl_2000.csv"), "--plot", s(&pdf)]);
    assert_eq!(files(dir.path()), ["labels.csv"]);
}

fn tiny_run(fasta: &str, out: &Path) -> Vec<String> {
    ["--threads", "1", "train", "--objective", "mlm", "--arch", "esm2-tiny", "--train", fasta, "-o", s(out)]
        .map(str::to_string)
        .to_vec()
}

// Regression: two `train` runs into one folder mixed their files; `train --init DIR -o DIR` rewrote its source model.
#[test]
fn one_training_run_per_output_folder_and_never_into_the_init_model() {
    let dir = tempfile::tempdir().unwrap();
    let fasta = demo("swissprot_100.fasta");
    let out = dir.path().join("run");
    let mut first: Vec<String> = tiny_run(&fasta, &out);
    first.extend(["--epochs", "200"].map(str::to_string));
    let mut child = spawn(&first.iter().map(String::as_str).collect::<Vec<_>>());
    let lock = out.join(".biotorch.lock");
    wait_for("the first run's lock", || std::fs::read_to_string(&lock).is_ok_and(|t| t.contains("pid")));
    let second = tiny_run(&fasta, &out);
    let err = refused(&second.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(err.contains("is being written by another biotorch run") && err.contains(&format!("pid {}", child.id())));
    let resume = ["train", "--objective", "mlm", "--train", &fasta, "-o", s(&out), "--resume"];
    assert!(refused(&resume).contains("is being written by another biotorch run"));
    child.kill().unwrap();
    child.wait().unwrap();

    // A model folder is never the output of a run that starts from it, nor contains it.
    let model = dir.path().join("model");
    let o =
        run(&[&tiny_run(&fasta, &model).iter().map(String::as_str).collect::<Vec<_>>()[..], &["--epochs", "1"]]
            .concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let before = std::fs::read(model.join("model.safetensors")).unwrap();
    let init = |output: &Path| {
        let args = ["--threads", "1", "train", "--objective", "mlm", "--init", s(&model), "--train", &fasta];
        refused(&[&args[..], &["-o", s(output), "--epochs", "1"]].concat())
    };
    assert!(init(&model).contains("would overwrite the input"));
    assert!(init(&model.join("finetuned")).contains("inside the input directory"));
    assert_eq!(std::fs::read(model.join("model.safetensors")).unwrap(), before, "the init model is untouched");
    assert!(!model.join("finetuned").exists());
}

fn temporary_files(dir: &Path) -> Vec<String> {
    files(dir).into_iter().filter(|n| n.ends_with(".tmp")).collect()
}

fn environment(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', "\n"))
        .unwrap_or_default()
}

// Regression: SIGINT/SIGTERM (a Slurm time limit) left `.NAME.*.tmp` files behind; and with the default --threads
// and one core busy elsewhere, libtorch's spinning OpenMP workers made runs 13-40x slower.
#[test]
fn sigterm_removes_temporary_files_and_openmp_waits_passively() {
    let dir = tempfile::tempdir().unwrap();
    // 2,000 proteins, written in row groups as they go (a look-ahead of 16): a run of many seconds.
    let input = dir.path().join("many.fasta");
    std::fs::write(&input, std::fs::read_to_string(demo("swissprot_100.fasta")).unwrap().repeat(20)).unwrap();
    let out = dir.path().join("e.parquet");
    let embed = [
        "--threads",
        "1",
        "embed",
        s(&input),
        "--model",
        "protein-small",
        "--lookahead",
        "16",
        "--allow-duplicate-ids",
        "-o",
        s(&out),
    ];
    // Other work running when biotorch starts (a neighbour spinning on a core): OpenMP must wait passively.
    let mut neighbour = Command::new("sh").args(["-c", "while :; do :; done"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let child = spawn(&embed);
    let pid = child.id();
    wait_for("the temporary output", || !temporary_files(dir.path()).is_empty());
    let env = environment(pid);
    neighbour.kill().unwrap();
    neighbour.wait().unwrap();
    assert!(env.lines().any(|l| l == "OMP_WAIT_POLICY=PASSIVE"), "{env}");
    assert!(Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap().success());
    let o = child.wait_with_output().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(o.status.signal(), Some(15), "ended by the signal, as without a handler: {:?}", o.status);
    assert_eq!(temporary_files(dir.path()), Vec::<String>::new());
    assert!(!out.exists());

    // A policy the user chose is kept.
    let child =
        command(&embed).env("OMP_WAIT_POLICY", "ACTIVE").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let pid = child.id();
    wait_for("the temporary output", || !temporary_files(dir.path()).is_empty() || out.exists());
    assert!(environment(pid).lines().any(|l| l == "OMP_WAIT_POLICY=ACTIVE"));
    let mut child = child;
    child.kill().unwrap();
    child.wait().unwrap();
}

// Regression: --progress drew nothing where stderr is not a terminal (indicatif hides itself there), and embed's
// counter had no total or ETA.
#[test]
fn progress_is_forced_into_logs_and_embed_knows_its_total_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.parquet");
    let args = ["--threads", "1", "embed", &demo("swissprot_100.fasta"), "--model", "protein-small", "-o", s(&out)];
    let o = run(&[&["--progress"], &args[..]].concat());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.lines().any(|l| l.contains("embedding") && l.contains("0/100") && l.contains("ETA")), "{err}");
    let o = run(&args);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("ETA"), "no bar in a log without --progress");
}

// Regression: `embed --model dna-small` on proteins said "use --modality protein", which cannot help: the model
// reads DNA.
#[test]
fn a_model_of_another_modality_is_named_as_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.parquet");
    let err = refused(&["embed", &demo("swissprot_100.fasta"), "--model", "dna-small", "-o", s(&out)]);
    assert!(err.contains("looks like proteins, and the model dna-small reads DNA; use a protein model"), "{err}");
    assert!(!err.contains("--modality"), "{err}");
}

// Regression: chem wrote the input's SMILES column twice (`smiles` and `input_smiles`), and its id column twice.
#[test]
fn chem_does_not_repeat_the_smiles_and_id_columns() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("m.csv");
    std::fs::write(&input, "name,smiles,pIC50\nethanol, CCO ,5.1\nbenzene,c1ccccc1,6.2\n").unwrap();
    let out = dir.path().join("p.parquet");
    let o = run(&["--threads", "1", "chem", s(&input), "-o", s(&out)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    use biotorch_io::polars::prelude::{ParquetReader, SerReader};
    let df = ParquetReader::new(std::fs::File::open(&out).unwrap()).finish().unwrap();
    let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
    assert_eq!(&names[..6], ["index", "line", "id", "smiles", "pIC50", "valid"]);
    let smiles = df.column("smiles").unwrap().str().unwrap().clone();
    let ids = df.column("id").unwrap().str().unwrap().clone();
    assert_eq!((smiles.get(0), ids.get(1)), (Some("CCO"), Some("benzene")));
}

// Regression: reading a large --train-set (canonical SMILES and fingerprints of 300k molecules: minutes) began with
// nothing said.
#[test]
fn generate_says_it_reads_the_training_set_before_doing_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("g.parquet");
    let args = ["--threads", "1", "generate", "--model", "smiles-small", "-n", "4", "--seed", "1"];
    let o = run(&[&args[..], &["--train-set", &demo("chembl_2000.csv"), "-o", s(&out)]].concat());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let first = err.lines().position(|l| l.starts_with("reading the training set")).expect("the announcement");
    let summary = err.lines().position(|l| l.contains("2000 molecules, 2000 valid")).expect("the summary");
    assert!(first < summary, "{err}");
}

fn copy_model(name: &str, to: &Path, without: &str) {
    let from = Path::new(ROOT).join("data/models").join(name);
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != without {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

// Regressions found by scripts/probe.sh: a model folder without config.json (exit 1), a DNA model without its
// vocab.txt run silently with the 33-token protein vocabulary (exit 0, garbage), a missing --labels file (exit 1),
// and `-o x.csv` refused only after all the embeddings were computed.
#[test]
fn broken_model_folders_labels_and_csv_outputs_are_refused_before_the_work() {
    let dir = tempfile::tempdir().unwrap();
    let fasta = demo("swissprot_100.fasta");
    let out = dir.path().join("e.parquet");
    let no_config = dir.path().join("no-config");
    copy_model("protein-small", &no_config, "config.json");
    let err = refused(&["embed", &fasta, "--model", s(&no_config), "-o", s(&out)]);
    assert!(err.contains("config.json") && err.contains("no config.json next to the weights"), "{err}");
    let no_vocab = dir.path().join("dna-no-vocab");
    copy_model("dna-small", &no_vocab, "vocab.txt");
    let dna = dir.path().join("dna.fa");
    std::fs::write(&dna, ">a\nACGTACGTACGTAAC\n").unwrap();
    let err = refused(&["embed", s(&dna), "--model", s(&no_vocab), "-o", s(&out)]);
    assert!(
        err.contains("no vocab.txt, and the model's vocabulary") && err.contains("not the standard ESM-2"),
        "{err}"
    );
    let png = dir.path().join("pca.png");
    let missing = dir.path().join("labels.csv");
    let err = refused(&[
        "embed",
        &fasta,
        "--model",
        "protein-small",
        "-o",
        s(&out),
        "--plot",
        s(&png),
        "--labels",
        s(&missing),
    ]);
    assert!(err.contains("--labels") && err.contains("labels.csv"), "{err}");
    let started = Instant::now();
    let err = refused(&["embed", &fasta, "--model", "protein-small", "-o", &format!("{}/e.csv", dir.path().display())]);
    assert!(err.contains("CSV/TSV file cannot hold") && started.elapsed() < Duration::from_secs(5), "{err}");
    assert!(!out.exists() && !dir.path().join("e.csv").exists() && !png.exists());
}

// Regression: a run started under `nohup` (SIGHUP ignored) died on SIGHUP once biotorch installed its handler.
#[test]
fn signals_ignored_at_start_stay_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.parquet");
    let input = dir.path().join("many.fasta");
    std::fs::write(&input, std::fs::read_to_string(demo("swissprot_100.fasta")).unwrap().repeat(5)).unwrap();
    let script = format!(
        "trap '' HUP; exec {BIN} --threads 1 embed {} --model protein-small --lookahead 16 --allow-duplicate-ids -o {}",
        input.display(),
        out.display()
    );
    let child = Command::new("sh").args(["-c", &script]).stderr(Stdio::piped()).spawn().unwrap();
    wait_for("the temporary output", || !temporary_files(dir.path()).is_empty());
    assert!(Command::new("kill").args(["-HUP", &child.id().to_string()]).status().unwrap().success());
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{:?}: {}", o.status, String::from_utf8_lossy(&o.stderr));
    assert!(out.exists());
}
