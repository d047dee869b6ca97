//! Issue 18, item 11: every command example in the docs runs. The ```sh, ```bash and ```console blocks of every
//! Markdown file of the repository (README.md, docs/, workflows/, data/, crates/) are read; each `biotorch` command
//! runs with this build as `biotorch` (as does a `mkdir` for their outputs), and each `snakemake` command as a dry run (`-n`: the Snakefile parses and its
//! inputs exist; tests/cli/workflows.rs runs the pipelines). A file's examples run in order, in a fresh folder that
//! links the repository's `data`, `scripts`, `workflows` and `.venv`, so they read the shipped data and files that an
//! earlier example of the same file wrote, and write nothing into the checkout. Each must exit 0.
//!
//! A `biotorch serve` example starts the server in the background (on a free port: `--port` is replaced by
//! `--port 0`), waits until `/v1/health/ready` answers 200 and keeps it running for the rest of the file; each later
//! `curl` example of the file then runs against it, its `127.0.0.1:PORT` (PORT: the example's `--port`, default
//! 8000) rewritten to the server's address. A curl example must pass `-f`, `--fail` or `--fail-with-body`, so that an
//! error answer fails it. After the file's last example the server gets SIGTERM and must exit 0 (it drains).
//!
//! A block that should not run is marked on the line before its fence with `<!-- not run: REASON -->` (a long
//! training run, a cluster's paths); the test counts these and prints them. Blocks without one of the three
//! languages (synopses with placeholders, printed output, diagrams) are not commands. In a runnable block, `make`
//! and `export` lines are set-up steps the test does not repeat; any other command is an error, so that every
//! example is either run or marked.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_biotorch");
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// The marker that keeps the next block from running.
const NOT_RUN: &str = "<!-- not run:";
/// The longest one example may take (they take seconds; a hang fails rather than blocks the suite).
const LIMIT: Duration = Duration::from_secs(180);

/// What the test does with one command line of a runnable block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A `biotorch` command (or a pipeline with one): run it.
    Biotorch,
    /// A Snakemake command: run it with `-n`.
    Snakemake,
    /// `biotorch serve`: start it in the background for the file's later `curl` examples.
    Serve,
    /// A `curl` request to the server of an earlier `biotorch serve` example.
    Curl,
    /// `mkdir`, for the output folder of the examples that follow: run it.
    Mkdir,
    /// A set-up step (`make ...`, `export ...`) the test environment already provides.
    Setup,
}

/// One command of a doc: the file, the line it starts on, its text (continuation lines included).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Example {
    line: usize,
    command: String,
    kind: Kind,
}

/// A block marked not to run: the line of its fence and the reason given.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Skipped {
    line: usize,
    reason: String,
}

/// The examples and the skipped blocks of a Markdown text; an error for a command the test cannot classify or a
/// malformed marker.
fn extract(text: &str) -> Result<(Vec<Example>, Vec<Skipped>), String> {
    let lines: Vec<&str> = text.lines().collect();
    let (mut examples, mut skipped) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < lines.len() {
        let Some(info) = lines[i].trim_start().strip_prefix("```") else {
            i += 1;
            continue;
        };
        let fence = i;
        let end = (fence + 1..lines.len())
            .find(|&j| lines[j].trim_start().starts_with("```"))
            .ok_or_else(|| format!("line {}: the code block never ends", fence + 1))?;
        i = end + 1;
        let language = info.trim();
        if !matches!(language, "sh" | "bash" | "console") {
            continue;
        }
        let before = lines[..fence].iter().rev().find(|l| !l.trim().is_empty()).map(|l| l.trim());
        if let Some(marker) = before.filter(|l| l.starts_with("<!--") && l.contains("not run")) {
            let reason = marker
                .strip_prefix(NOT_RUN)
                .and_then(|r| r.strip_suffix("-->"))
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .ok_or_else(|| format!("line {fence}: write the marker as `{NOT_RUN} REASON -->`"))?;
            skipped.push(Skipped { line: fence + 1, reason: reason.to_owned() });
            continue;
        }
        let body = &lines[fence + 1..end];
        let mut k = 0;
        while k < body.len() {
            let start = k;
            let first = if language == "console" {
                match body[k].strip_prefix("$ ") {
                    Some(command) => command,
                    None => {
                        k += 1;
                        continue;
                    }
                }
            } else {
                body[k]
            };
            let mut command = first.to_owned();
            while command.trim_end().ends_with('\\') && k + 1 < body.len() {
                k += 1;
                command.push('\n');
                command.push_str(body[k]);
            }
            k += 1;
            let words: Vec<&str> = command.split_whitespace().collect();
            let Some(&program) = words.first() else { continue };
            if program.starts_with('#') {
                continue;
            }
            let subcommand = words.iter().skip(1).find(|w| !w.starts_with('-') && w.parse::<f64>().is_err());
            let kind = if program == "biotorch" && subcommand == Some(&"serve") {
                Kind::Serve
            } else if program == "biotorch" || words.windows(2).any(|w| w[0] == "|" && w[1] == "biotorch") {
                Kind::Biotorch
            } else if program == "curl" {
                let fails = |w: &&str| {
                    matches!(*w, "--fail" | "--fail-with-body")
                        || (w.starts_with('-') && !w.starts_with("--") && w.contains('f'))
                };
                if !words.iter().any(fails) {
                    return Err(format!(
                        "line {}: a curl example must pass `--fail-with-body` (or `-f`), so that an error answer \
                         fails it",
                        fence + 2 + start
                    ));
                }
                Kind::Curl
            } else if program.ends_with("snakemake") {
                Kind::Snakemake
            } else if program == "mkdir" {
                Kind::Mkdir
            } else if matches!(program, "make" | "export") {
                Kind::Setup
            } else {
                return Err(format!(
                    "line {}: `{program}` is neither a biotorch nor a snakemake command: make it one, or mark the \
                     block with `{NOT_RUN} REASON -->`",
                    fence + 2 + start
                ));
            };
            examples.push(Example { line: fence + 2 + start, command, kind });
        }
    }
    Ok((examples, skipped))
}

/// The Markdown files of the repository (hidden folders and `target` left out), sorted.
fn markdown_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == "target" {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                walk(&path, out);
            } else if name.ends_with(".md") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(Path::new(ROOT), &mut files);
    files.sort();
    files
}

/// A folder to run one doc's examples in: the repository's shipped folders linked in, `biotorch` on `PATH` as this
/// build with one thread (unless the example sets `--threads`), so that examples share two cores politely.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["data", "scripts", "workflows", ".venv"] {
        std::os::unix::fs::symlink(Path::new(ROOT).join(name), dir.path().join(name)).unwrap();
    }
    let bin = dir.path().join(".bin");
    std::fs::create_dir(&bin).unwrap();
    let wrapper = format!(
        "#!/bin/sh\ncase \" $* \" in *\" --threads \"*|*\" --threads=\"*) exec '{BIN}' \"$@\";; esac\nexec '{BIN}' \
         --threads 1 \"$@\"\n"
    );
    let path = bin.join("biotorch");
    std::fs::write(&path, wrapper).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// `sh -c command` in `dir`, offline, with an empty HF cache and this build first on `PATH`.
fn shell(dir: &Path, command: &str) -> Command {
    let path = format!("{}:{}", dir.join(".bin").display(), std::env::var("PATH").unwrap_or_default());
    // `$(scripts/target-dir.sh)` in an example names this build's target folder.
    let target = Path::new(BIN).parent().and_then(Path::parent).unwrap();
    let mut sh = Command::new("sh");
    sh.args(["-c", command])
        .current_dir(dir)
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("BIOTORCH_MODELS_PATH")
        .env_remove("HF_HUB_CACHE")
        .env_remove("HUGGINGFACE_HUB_CACHE")
        .env("HF_HOME", dir.join(".hf-home"))
        .env("HF_HUB_OFFLINE", "1")
        .stdin(Stdio::null());
    sh
}

/// Runs one example with `sh` in `dir`, offline, with an empty HF cache; `None` when it ran past [`LIMIT`].
fn run(dir: &Path, example: &Example) -> Option<Output> {
    let command = match example.kind {
        Kind::Snakemake => example.command.replacen("snakemake", "snakemake -n", 1),
        _ => example.command.clone(),
    };
    let mut child = shell(dir, &command).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run sh");
    let started = Instant::now();
    while child.try_wait().expect("wait for the example").is_none() {
        if started.elapsed() > LIMIT {
            child.kill().ok();
            child.wait().ok();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(child.wait_with_output().expect("collect the example's output"))
}

/// A `biotorch serve` example's command on a free port (its `--port` replaced by `--port 0`), and the port the
/// example names (default 8000), which the file's curl examples use.
fn serve_command(command: &str) -> (String, String) {
    let mut words = command.split_whitespace().filter(|w| *w != "\\");
    let (mut kept, mut port) = (Vec::new(), "8000".to_owned());
    while let Some(word) = words.next() {
        if word == "--port" {
            port = words.next().unwrap_or_default().to_owned();
        } else if let Some(p) = word.strip_prefix("--port=") {
            port = p.to_owned();
        } else {
            kept.push(word);
        }
    }
    (format!("{} --port 0", kept.join(" ")), port)
}

/// The status of `GET path` on `addr`, `None` when nothing answers.
fn http_status(addr: &str, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut head = String::new();
    BufReader::new(stream).read_line(&mut head).ok()?;
    head.split(' ').nth(1)?.parse().ok()
}

/// The server of a `biotorch serve` example, running in the background for the file's later curl examples;
/// killed when dropped.
struct Served {
    child: Child,
    /// The port the examples name.
    port: String,
    /// The address it listens on.
    addr: String,
    /// Its stderr.
    log: PathBuf,
}

impl Served {
    /// Starts the example's server on a free port and waits (at most [`LIMIT`]) until it is ready.
    fn start(dir: &Path, example: &Example) -> Result<Served, String> {
        let (command, port) = serve_command(&example.command);
        let log = dir.join(format!(".serve-{}.log", example.line));
        let stderr = std::fs::File::create(&log).unwrap();
        let mut child =
            shell(dir, &format!("exec {command}")).stdout(Stdio::piped()).stderr(stderr).spawn().expect("run sh");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let mut served = Served { child, port, addr: String::new(), log };
        let line = rx.recv_timeout(LIMIT).unwrap_or_default();
        match line.trim().strip_prefix("listening on http://") {
            Some(addr) => served.addr = addr.to_owned(),
            None => return Err(served.failure(&format!("`{command}`: the first line was {line:?}"))),
        }
        let started = Instant::now();
        while http_status(&served.addr, "/v1/health/ready") != Some(200) {
            if let Ok(Some(status)) = served.child.try_wait() {
                return Err(served.failure(&format!("`{command}` ended ({status}) before it was ready")));
            }
            if started.elapsed() > LIMIT {
                return Err(served.failure(&format!("`{command}` was not ready after {LIMIT:?}")));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(served)
    }

    /// A curl example's command aimed at this server.
    fn aim(&self, command: &str) -> String {
        let mut aimed = command.to_owned();
        for host in ["127.0.0.1", "localhost"] {
            aimed = aimed.replace(&format!("{host}:{}", self.port), &self.addr);
        }
        aimed
    }

    /// What went wrong, with the server's stderr.
    fn failure(&self, what: &str) -> String {
        format!("{what}; its stderr:\n{}", std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    /// SIGTERM; the server must drain and exit 0 within [`LIMIT`].
    fn stop(mut self) -> Result<(), String> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
        let started = Instant::now();
        loop {
            match self.child.try_wait().expect("wait for the server") {
                Some(status) if status.success() => return Ok(()),
                Some(status) => return Err(self.failure(&format!("the server exited with {status} on SIGTERM"))),
                None if started.elapsed() > LIMIT => {
                    return Err(self.failure(&format!("the server still ran {LIMIT:?} after SIGTERM")))
                }
                None => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn extract_reads_runnable_blocks_and_honours_markers() {
    let text = "intro\n```sh\nmake demo   # set up\nbiotorch stats a.fa \\\n    -o s.parquet\n```\n\n```console\n\
                $ biotorch chem x.csv -o p.parquet      # comment\noutput line\n$ printf 'x' | biotorch tokenize - \
                --tokenizer esm2 -o t.parquet; echo \"exit $?\"\n```\n```\nbiotorch finetune --model MODEL\n```\n\
                <!-- not run: an hour -->\n```sh\nbiotorch train --steps 100000\n```\n```bash\n.venv/bin/snakemake \
                -s S --config a=b\n```\n";
    let (examples, skipped) = extract(text).unwrap();
    let summary: Vec<(usize, Kind)> = examples.iter().map(|e| (e.line, e.kind)).collect();
    assert_eq!(
        summary,
        [(3, Kind::Setup), (4, Kind::Biotorch), (9, Kind::Biotorch), (11, Kind::Biotorch), (21, Kind::Snakemake)]
    );
    assert_eq!(examples[1].command, "biotorch stats a.fa \\\n    -o s.parquet");
    assert_eq!(skipped, [Skipped { line: 17, reason: "an hour".into() }]);

    let (examples, _) = extract("```console\n$ mkdir -p out/tour\n```\n").unwrap();
    assert_eq!(examples[0].kind, Kind::Mkdir);
    let e = extract("```sh\npython x.py\n```\n").unwrap_err();
    assert!(e.contains("`python` is neither"), "{e}");
    assert!(extract("<!-- not run -->\n```sh\nbiotorch x\n```\n").unwrap_err().contains("REASON"));
}

#[test]
fn serve_and_curl_examples_are_recognised() {
    let text = "```sh\nbiotorch --threads 2 serve --model protein-small \\\n    --port 8080\n```\n```console\n$ curl \
                -sS --fail-with-body http://127.0.0.1:8080/v1/models\n$ curl -fsS localhost:8080/v1/health/ready\n```\n";
    let (examples, _) = extract(text).unwrap();
    let kinds: Vec<Kind> = examples.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [Kind::Serve, Kind::Curl, Kind::Curl]);
    assert_eq!(
        serve_command(&examples[0].command),
        ("biotorch --threads 2 serve --model protein-small --port 0".to_owned(), "8080".to_owned())
    );
    assert_eq!(serve_command("biotorch serve --model m --port=9000").1, "9000");
    assert_eq!(serve_command("biotorch serve --model m").1, "8000");
    let e = extract("```sh\ncurl -s http://127.0.0.1:8000/v1/models\n```\n").unwrap_err();
    assert!(e.contains("--fail-with-body"), "{e}");
    // `biotorch embed` with a file named serve is not a server.
    assert_eq!(extract("```sh\nbiotorch embed serve.fa -o o.parquet\n```\n").unwrap().0[0].kind, Kind::Biotorch);
}

// Regression: docs/training.md said `clm` and SMILES enumeration were not implemented, and the examples of the README,
// the guide and training.md named files that do not exist (proteins.faa, molecules.csv.gz, proteins.fasta).
#[test]
fn every_example_in_the_docs_runs() {
    let started = Instant::now();
    let (mut ran, mut dry, mut setup, mut failures) = (0, 0, 0, Vec::new());
    let (mut servers, mut requests) = (0, 0);
    let mut skipped_all = Vec::new();
    let mut per_file = Vec::new();
    for file in markdown_files() {
        let name = file.strip_prefix(ROOT).unwrap().display().to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        let (examples, skipped) = extract(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        skipped_all.extend(skipped.into_iter().map(|s| format!("{name}:{}: {}", s.line, s.reason)));
        if examples.is_empty() {
            continue;
        }
        per_file.push((name.clone(), examples.iter().filter(|e| e.kind == Kind::Biotorch).count()));
        let dir = workspace();
        let mut served: Option<Served> = None;
        for example in &examples {
            let mut example = example.clone();
            match example.kind {
                Kind::Setup => {
                    setup += 1;
                    continue;
                }
                Kind::Biotorch => ran += 1,
                Kind::Snakemake => dry += 1,
                Kind::Mkdir => {}
                Kind::Serve => {
                    servers += 1;
                    if let Err(e) = served.take().map_or(Ok(()), Served::stop) {
                        failures.push(format!("{name}: {e}"));
                    }
                    let t = Instant::now();
                    match Served::start(dir.path(), &example) {
                        Ok(s) => served = Some(s),
                        Err(e) => failures.push(format!("{name}:{}: {e}", example.line)),
                    }
                    eprintln!("{name}:{}: server ready in {:.1} s", example.line, t.elapsed().as_secs_f64());
                    continue;
                }
                Kind::Curl => {
                    requests += 1;
                    let Some(server) = &served else {
                        failures.push(format!(
                            "{name}:{}: a curl example with no `biotorch serve` example before it in the file",
                            example.line
                        ));
                        continue;
                    };
                    example.command = server.aim(&example.command);
                }
            }
            let example = &example;
            let t = Instant::now();
            let result = run(dir.path(), example);
            eprintln!("{name}:{}: {:.1} s", example.line, t.elapsed().as_secs_f64());
            match result {
                None => failures.push(format!("{name}:{}: still running after {LIMIT:?}", example.line)),
                Some(o) if !o.status.success() => failures.push(format!(
                    "{name}:{}: `{}` failed ({}):\n{}{}",
                    example.line,
                    example.command,
                    o.status,
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                )),
                Some(_) => {}
            }
        }
        if let Err(e) = served.take().map_or(Ok(()), Served::stop) {
            failures.push(format!("{name}: {e}"));
        }
    }
    eprintln!(
        "docs: {ran} biotorch examples run, {servers} server(s) started for {requests} curl request(s), {dry} snakemake \
         dry runs, {setup} set-up lines not repeated, {} blocks not run, in {:.1} s",
        skipped_all.len(),
        started.elapsed().as_secs_f64()
    );
    for s in &skipped_all {
        eprintln!("  not run: {s}");
    }
    assert!(failures.is_empty(), "{} doc example(s) failed:\n\n{}", failures.len(), failures.join("\n\n"));
    for must in ["README.md", "docs/guide.md", "docs/training.md"] {
        assert!(
            per_file.iter().any(|(name, n)| name == must && *n > 0),
            "{must} has no biotorch example the test found: {per_file:?}"
        );
    }
}
