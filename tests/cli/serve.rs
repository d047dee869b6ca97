//! End-to-end tests of `biotorch serve` (issue 14) on loopback: readiness, embeddings equal to `biotorch embed`'s
//! whatever else shares the batch, 64 concurrent clients, every bad-input answer, queue overflow (429) and
//! recovery, draining on SIGTERM. Each server listens on 127.0.0.1 port 0 and says its port on its first line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use biotorch_io::polars::prelude::*;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_biotorch");
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// A running server, killed when dropped.
struct Server {
    child: Child,
    client: Client,
}

/// Sends requests to a server (one connection each, `Connection: close`).
#[derive(Clone)]
struct Client {
    addr: String,
}

/// Status, headers (lower-cased) and body of an answer.
struct Reply {
    status: u16,
    headers: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The error body's code and message (every error answer has them).
    fn error(&self) -> (String, String) {
        let v = self.json();
        (v["error"]["code"].as_str().unwrap().to_string(), v["error"]["message"].as_str().unwrap().to_string())
    }
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .args(["--threads", "1", "serve", "--model", "protein-small", "--device", "cpu", "--port", "0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start biotorch serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.trim().strip_prefix("listening on http://").unwrap_or_else(|| panic!("first line: {line:?}"));
        Server { client: Client { addr: addr.to_string() }, child }
    }
}

impl std::ops::Deref for Server {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Client {
    fn request(&self, method: &str, path: &str, body: &str) -> Reply {
        let (status, headers, body) = self.request_bytes(method, path, "", body);
        Reply { status, headers, body: String::from_utf8(body).unwrap() }
    }

    /// A request with `extra` header lines (each ending in CRLF); the answer's status, headers and body bytes.
    fn request_bytes(&self, method: &str, path: &str, extra: &str, body: &str) -> (u16, String, Vec<u8>) {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        // A body over the server's limit may be refused before it is all sent.
        let _ = stream.write_all(body.as_bytes());
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| panic!("no answer: {raw:?}"));
        let head = String::from_utf8(raw[..end].to_vec()).unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, head.to_ascii_lowercase(), raw[end + 4..].to_vec())
    }

    fn post(&self, path: &str, body: &Value) -> Reply {
        self.request("POST", path, &body.to_string())
    }

    /// Waits (at most a minute) until `ready` answers 200.
    fn wait_ready(&self) {
        for _ in 0..600 {
            if self.request("GET", "/v1/health/ready", "").status == 200 {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the server was not ready within a minute");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sequences of the demo FASTA, in order.
fn demo_sequences() -> Vec<String> {
    let text = std::fs::read_to_string(format!("{ROOT}/data/demo/swissprot_100.fasta")).unwrap();
    text.split('>').skip(1).map(|r| r.lines().skip(1).collect::<String>()).collect()
}

/// `biotorch embed` of the demo FASTA: per record, the last layer's mean, cls and per-token values.
fn embed_demo() -> Vec<[Vec<f32>; 3]> {
    let dir = tempfile::tempdir().unwrap();
    let out: PathBuf = dir.path().join("e.parquet");
    let o = Command::new(BIN)
        .args(["embed", &format!("{ROOT}/data/demo/swissprot_100.fasta"), "--model", "protein-small"])
        .args(["--device", "cpu", "--pooling", "mean,cls,per-token", "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let df = ParquetReader::new(std::fs::File::open(&out).unwrap()).finish().unwrap();
    let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
    let cls = names.iter().find(|n| n.starts_with("embedding_cls")).unwrap();
    let tokens = names.iter().find(|n| n.starts_with("embedding_per_token")).unwrap();
    let flat = |s: Series| -> Vec<f32> {
        let s = s.explode(ExplodeOptions { empty_as_null: false, keep_nulls: false }).unwrap();
        match s.dtype() {
            DataType::Float32 => s.f32().unwrap().into_no_null_iter().collect(),
            _ => s
                .array()
                .unwrap()
                .explode(ExplodeOptions { empty_as_null: false, keep_nulls: false })
                .unwrap()
                .f32()
                .unwrap()
                .into_no_null_iter()
                .collect(),
        }
    };
    (0..df.height())
        .map(|i| {
            let row = |c: &str| df.column(c).unwrap().as_materialized_series().slice(i as i64, 1);
            [flat(row("embedding")), flat(row(cls)), flat(row(tokens))]
        })
        .collect()
}

fn floats(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(a) => a.iter().flat_map(floats).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap() as f32],
        other => panic!("not numbers: {other}"),
    }
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn serve_answers_like_embed_for_64_concurrent_clients_and_checks_every_request() {
    let server = Server::start(&["--max-sequences", "8", "--max-body-bytes", "200000", "--max-batch-sequences", "64"]);
    // Readiness is 503 while the model loads (asked right after the port is known), then 200.
    let first = server.request("GET", "/v1/health/ready", "");
    assert_eq!(first.status, 503, "{}", first.body);
    assert_eq!(server.request("GET", "/v1/health/live", "").status, 200);
    server.wait_ready();
    let models = server.request("GET", "/v1/models", "").json();
    let card = &models["models"][0];
    assert_eq!(
        (card["name"].as_str(), card["kind"].as_str(), card["modality"].as_str()),
        (Some("protein-small"), Some("encoder"), Some("protein"))
    );
    assert_eq!(card["embedding_width"], 128);
    assert_eq!(card["weights_sha256"].as_str().unwrap().len(), 64);

    let sequences = demo_sequences();
    let expected = embed_demo();
    assert_eq!(expected.len(), sequences.len());

    // cls and per-token of a few records, with truncation of the long ones as embed does.
    for pooling in ["cls", "per_token"] {
        let column = if pooling == "cls" { 1 } else { 2 };
        let r = server.post(
            "/v1/embeddings",
            &json!({"model": "protein-small", "sequences": &sequences[..3], "pooling": pooling, "truncate": true}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        for i in 0..3 {
            let d = max_diff(&floats(&v["embeddings"][i]), &expected[i][column]);
            assert!(d < 1e-5, "{pooling} of record {i}: {d}");
        }
    }

    // 64 clients at once, 1-4 sequences each of mixed lengths: each gets exactly its own rows.
    let clients: Vec<_> = (0..64)
        .map(|c| {
            let picks: Vec<usize> = (0..1 + c % 4).map(|k| (c * 7 + k * 13) % sequences.len()).collect();
            let body = json!({"model": "protein-small", "sequences": picks.iter().map(|&i| &sequences[i]).collect::<Vec<_>>(), "truncate": true});
            let client = server.client.clone();
            std::thread::spawn(move || (picks, client.post("/v1/embeddings", &body)))
        })
        .collect();
    for client in clients {
        let (picks, r) = client.join().unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        for (k, &i) in picks.iter().enumerate() {
            let d = max_diff(&floats(&v["embeddings"][k]), &expected[i][0]);
            assert!(d < 1e-5, "record {i} as sequence {k} of its request: {d}");
            assert_eq!(v["lengths"][k], sequences[i].len());
            assert_eq!(v["truncated"][k], sequences[i].len() > 1022);
        }
    }

    // Every bad input: the status, the code, and a message naming what is wrong.
    let embed = |body: Value| server.post("/v1/embeddings", &body);
    let r = embed(json!({"model": "nope", "sequences": ["MKT"]}));
    assert_eq!((r.status, r.error().0.as_str()), (404, "model_not_found"));
    assert!(r.error().1.contains("protein-small"), "{}", r.body);
    let r = embed(json!({"model": "protein-small", "sequences": ["MKT", "MK1TA"]}));
    assert_eq!((r.status, r.error().0.as_str()), (422, "invalid_sequence"));
    assert!(r.error().1.contains("sequence 1") && r.error().1.contains("position 2"), "{}", r.body);
    let long = "A".repeat(1100);
    let r = embed(json!({"model": "protein-small", "sequences": ["MKT", long]}));
    assert_eq!((r.status, r.error().0.as_str()), (422, "sequence_too_long"));
    assert!(r.error().1.contains("sequence 1"), "{}", r.body);
    let r = embed(json!({"model": "protein-small", "sequences": [long], "truncate": true}));
    assert_eq!((r.status, r.json()["truncated"][0].as_bool()), (200, Some(true)));
    let r = embed(json!({"model": "protein-small", "sequences": vec!["MKT"; 9]}));
    assert_eq!((r.status, r.error().0.as_str()), (413, "too_many_sequences"));
    let r = embed(json!({"model": "protein-small", "sequences": ["A".repeat(250_000)]}));
    assert_eq!((r.status, r.error().0.as_str()), (413, "payload_too_large"));
    let r = embed(json!({"model": "protein-small", "sequences": ["MKT"], "pooling": "max"}));
    assert_eq!((r.status, r.error().0.as_str()), (422, "invalid_pooling"));
    let r = embed(json!({"model": "protein-small", "sequences": ["MKT"], "layers": [9]}));
    assert_eq!((r.status, r.error().0.as_str()), (422, "invalid_layer"));
    let r = embed(json!({"model": "protein-small", "sequences": []}));
    assert_eq!((r.status, r.error().0.as_str()), (422, "invalid_sequence"));
    let r = server.request("POST", "/v1/embeddings", "{not json");
    assert_eq!((r.status, r.error().0.as_str()), (400, "bad_request"));
    let r = server.request("GET", "/v1/nothing", "");
    assert_eq!((r.status, r.error().0.as_str()), (404, "not_found"));

    // Several layers: one vector per layer, the last equal to the default.
    let r = embed(json!({"model": "protein-small", "sequences": [&sequences[5]], "layers": [2, -1]}));
    let v = r.json();
    assert_eq!(v["layers"], json!([2, 4]));
    assert!(max_diff(&floats(&v["embeddings"][0][1]), &expected[5][0]) < 1e-5);

    let openapi = server.request("GET", "/openapi.json", "").json();
    assert!(openapi["paths"]["/v1/embeddings"]["post"].is_object(), "{openapi}");

    let metrics = server.request("GET", "/v1/metrics", "").body;
    assert!(metrics.contains("biotorch_requests_total{endpoint=\"/v1/embeddings\",status=\"200\"}"), "{metrics}");
    assert!(metrics.contains("biotorch_requests_total{endpoint=\"/v1/embeddings\",status=\"422\"} 5"), "{metrics}");
    assert!(metrics.contains("biotorch_batch_sequences_count"), "{metrics}");
    let batches = metric(&metrics, "biotorch_batch_sequences_count");
    let sequences_done = metric(&metrics, "biotorch_batch_sequences_sum");
    assert!(
        batches < sequences_done,
        "no batch held more than one sequence: {batches} batches, {sequences_done} sequences"
    );
}

fn metric(text: &str, name: &str) -> f64 {
    let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("no {name}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn a_full_queue_answers_429_with_retry_after_and_the_server_recovers() {
    // A long queue delay keeps the first request's 4 sequences waiting: the queue (4) is full meanwhile.
    let server = Server::start(&[
        "--max-queue",
        "4",
        "--max-sequences",
        "4",
        "--max-queue-delay-ms",
        "1500",
        "--max-batch-sequences",
        "64",
    ]);
    server.wait_ready();
    let client = server.client.clone();
    let first = std::thread::spawn(move || {
        client.post("/v1/embeddings", &json!({"model": "protein-small", "sequences": ["MKT", "MKTA", "MKTAY", "MK"]}))
    });
    std::thread::sleep(Duration::from_millis(400));
    let r = server.post("/v1/embeddings", &json!({"model": "protein-small", "sequences": ["MKT"]}));
    assert_eq!((r.status, r.error().0.as_str()), (429, "queue_full"), "{}", r.body);
    assert!(r.headers.contains("retry-after: 1"), "{}", r.headers);
    assert_eq!(first.join().unwrap().status, 200);
    let r = server.post("/v1/embeddings", &json!({"model": "protein-small", "sequences": ["MKT"]}));
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn sigterm_finishes_the_requests_in_flight_and_exits_0() {
    let mut server = Server::start(&["--max-queue-delay-ms", "1500", "--max-batch-sequences", "64"]);
    server.wait_ready();
    let client = server.client.clone();
    let started = Instant::now();
    let in_flight = std::thread::spawn(move || {
        client.post("/v1/embeddings", &json!({"model": "protein-small", "sequences": ["MKTAYIAK"]}))
    });
    std::thread::sleep(Duration::from_millis(400));
    let kill = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let r = in_flight.join().unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    // The signal came while the request waited for its batch (1.5 s queue delay): closing the queue runs it at once.
    assert!(started.elapsed() < Duration::from_millis(1400), "the drain waited for the queue delay");
    let status = (0..300)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            server.child.try_wait().unwrap()
        })
        .expect("the server did not exit within 30 s of SIGTERM");
    assert_eq!(status.code(), Some(0));
    assert!(TcpStream::connect(&server.addr).is_err(), "still accepting connections after SIGTERM");
}

#[test]
fn predict_answers_like_the_predict_command() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(format!("{ROOT}/data/tasks/huuskonen_solubility_1282.csv")).unwrap();
    let csv = dir.path().join("train.csv");
    std::fs::write(&csv, text.lines().take(81).collect::<Vec<_>>().join("\n") + "\n").unwrap();
    let head = dir.path().join("head");
    let head = head.to_str().unwrap();
    let o = Command::new(BIN)
        .args(["--threads", "1", "finetune", "--model", "smiles-small", "--data", csv.to_str().unwrap()])
        .args(["--target", "logS", "--epochs", "2", "--ensemble", "2", "--device", "cpu", "-o", head])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let smiles = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CCCCCCCCCC(=O)O"];
    let smi = dir.path().join("m.smi");
    std::fs::write(&smi, smiles.join("\n") + "\n").unwrap();
    let out = dir.path().join("p.parquet");
    let o = Command::new(BIN)
        .args(["--threads", "1", "predict", "--model", head, smi.to_str().unwrap(), "--device", "cpu", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let df = ParquetReader::new(std::fs::File::open(&out).unwrap()).finish().unwrap();
    let column = |name: &str| -> Vec<f64> {
        let c = df.column(name).unwrap().cast(&DataType::Float64).unwrap();
        c.f64().unwrap().into_no_null_iter().collect()
    };
    let (values, stds) = (column("logS_pred"), column("logS_std"));

    let server = Server::start(&["--head", head]);
    server.wait_ready();
    let models = server.request("GET", "/v1/models", "").json();
    assert!(models["models"].as_array().unwrap().iter().any(|m| m["kind"] == "head" && m["name"] == head), "{models}");
    let r = server.post("/v1/predict", &json!({"head": head, "smiles": smiles}));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    for i in 0..smiles.len() {
        let t = &v["predictions"][i]["targets"]["logS"];
        assert!((t["value"].as_f64().unwrap() - values[i]).abs() < 1e-5, "{i}: {t} vs {}", values[i]);
        assert!((t["std"].as_f64().unwrap() - stds[i]).abs() < 1e-5, "{i}: {t} vs {}", stds[i]);
    }
    let r = server.post("/v1/predict", &json!({"head": head, "smiles": ["CCO", "C1CC("]}));
    assert_eq!((r.status, r.error().0.as_str()), (422, "invalid_input"), "{}", r.body);
    assert!(r.error().1.starts_with("SMILES 1: "), "{}", r.body);
    let r = server.post("/v1/predict", &json!({"head": "nope", "smiles": ["CCO"]}));
    assert_eq!((r.status, r.error().0.as_str()), (404, "head_not_found"));
    let r = server.post("/v1/predict", &json!({"head": head}));
    assert_eq!((r.status, r.error().0.as_str()), (422, "bad_request"));
}

#[test]
fn generate_samples_like_the_generate_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("g.parquet");
    let o = Command::new(BIN)
        .args(["--threads", "1", "generate", "--model", "smiles-small", "-n", "12", "--seed", "7", "--device", "cpu"])
        .args(["--filter", "qed > 0.3", "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let df = ParquetReader::new(std::fs::File::open(&out).unwrap()).finish().unwrap();
    let text = |c: &str| -> Vec<String> {
        let column = df.column(c).unwrap().str().unwrap();
        (0..df.height()).map(|i| column.get(i).unwrap_or_default().to_string()).collect()
    };
    let (smiles, states) = (text("smiles"), text("state"));
    let nll: Vec<f64> = df.column("nll").unwrap().f64().unwrap().into_no_null_iter().collect();

    let server = Server::start(&["--model", "smiles-small"]);
    server.wait_ready();
    let body = json!({"model": "smiles-small", "num_molecules": 12, "seed": 7, "filter": "qed > 0.3"});
    let r = server.post("/v1/generate", &body);
    assert_eq!(r.status, 200, "{}", r.body);
    let molecules = r.json()["molecules"].as_array().unwrap().clone();
    assert_eq!(molecules.len(), 12);
    for (i, m) in molecules.iter().enumerate() {
        assert_eq!(
            (m["smiles"].as_str().unwrap(), m["state"].as_str().unwrap()),
            (smiles[i].as_str(), states[i].as_str())
        );
        assert!((m["nll"].as_f64().unwrap() - nll[i]).abs() < 1e-6, "{i}: {m}");
        assert_eq!(m["properties"].is_object(), states[i] != "invalid", "{m}");
    }
    let r = server.post("/v1/generate", &json!({"model": "smiles-small", "filter": "qed >"}));
    assert_eq!((r.status, r.error().0.as_str()), (422, "invalid_filter"), "{}", r.body);
    let r = server.post("/v1/generate", &json!({"model": "protein-small"}));
    assert_eq!((r.status, r.error().0.as_str()), (404, "model_not_found"), "{}", r.body);
    let r = server.post("/v1/embeddings", &json!({"model": "smiles-small", "sequences": ["CCO"]}));
    assert_eq!((r.status, r.error().0.as_str()), (422, "wrong_model_kind"), "{}", r.body);
    let models = server.request("GET", "/v1/models", "").json();
    assert!(models["models"].as_array().unwrap().iter().any(|m| m["kind"] == "decoder"), "{models}");

    // With an objective: the optimisation of `biotorch optimize`, the same best molecules and scores.
    let best = dir.path().join("best.parquet");
    let (objective, reference) = ("qed - 0.1*sa + 0.5*sim_ref", "CC(=O)Nc1ccc(O)cc1");
    let o = Command::new(BIN)
        .args(["--threads", "1", "optimize", "--model", "smiles-small", "--objective", objective])
        .args(["--similar-to", reference, "--min-similarity", "0.2", "--filter", "heavy_atoms < 40"])
        .args(["--steps", "3", "--batch-size", "16", "--seed", "5", "--top", "8", "--device", "cpu"])
        .args(["-o", best.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let df = ParquetReader::new(std::fs::File::open(&best).unwrap()).finish().unwrap();
    let smiles: Vec<String> =
        get(&df, "smiles", |c, i| c.str().unwrap().get(i).map(String::from)).into_iter().flatten().collect();
    let scores: Vec<f64> = df.column("score").unwrap().f64().unwrap().into_no_null_iter().collect();
    let meets: Vec<bool> =
        get(&df, "meets_constraints", |c, i| c.bool().unwrap().get(i)).into_iter().flatten().collect();
    assert!(!smiles.is_empty());
    let body = json!({"model": "smiles-small", "objective": objective, "similar_to": reference, "min_similarity": 0.2,
        "filter": "heavy_atoms < 40", "steps": 3, "batch_size": 16, "seed": 5, "num_molecules": 8});
    let r = server.post("/v1/generate", &body);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let molecules = v["molecules"].as_array().unwrap();
    assert_eq!(molecules.len(), smiles.len(), "{v}");
    for (i, m) in molecules.iter().enumerate() {
        assert_eq!((m["rank"].as_u64(), m["smiles"].as_str()), (Some(i as u64 + 1), Some(smiles[i].as_str())), "{m}");
        assert!((m["score"].as_f64().unwrap() - scores[i]).abs() < 1e-9, "{i}: {m} vs {}", scores[i]);
        assert_eq!(m["meets_constraints"].as_bool(), Some(meets[i]), "{m}");
        assert!(m["properties"]["qed"].is_number(), "{m}");
    }
    assert_eq!(v["steps"].as_array().unwrap().len(), 3, "{v}");
    // A bad objective: 422 with the expression language's message; optimisation options need an objective.
    let r = server.post("/v1/generate", &json!({"model": "smiles-small", "objective": "qed +", "steps": 1}));
    assert_eq!((r.status, r.error().0.as_str()), (422, "invalid_objective"), "{}", r.body);
    assert!(r.error().1.contains("--objective"), "{}", r.body);
    let r = server.post("/v1/generate", &json!({"model": "smiles-small", "objective": "qed", "similar_to": "C1CC("}));
    assert_eq!((r.status, r.error().0.as_str()), (422, "invalid_request"), "{}", r.body);
    assert!(r.error().1.contains("not a valid molecule"), "{}", r.body);
    let r = server.post("/v1/generate", &json!({"model": "smiles-small", "steps": 3}));
    assert_eq!((r.status, r.error().0.as_str()), (422, "invalid_request"), "{}", r.body);
    let r = server.post("/v1/generate", &json!({"model": "smiles-small", "objective": "qed", "temperature": 0.5}));
    assert_eq!((r.status, r.error().0.as_str()), (422, "invalid_request"), "{}", r.body);
}

#[test]
fn an_optimisation_past_its_deadline_answers_504_and_frees_the_decoder() {
    let server = Server::start(&["--model", "smiles-small", "--request-timeout", "2"]);
    server.wait_ready();
    // Far more steps than 2 s allow: 504, and the run stops at its next step instead of holding the decoder.
    let body = json!({"model": "smiles-small", "objective": "qed", "steps": 100000, "batch_size": 16, "seed": 1});
    let r = server.post("/v1/generate", &body);
    assert_eq!((r.status, r.error().0.as_str()), (504, "timeout"), "{}", r.body);
    // The decoder answers again within a few seconds (a held decoder would time out every one of these).
    let small = json!({"model": "smiles-small", "num_molecules": 2, "seed": 1});
    let answered = (0..8).any(|_| server.post("/v1/generate", &small).status == 200);
    assert!(answered, "the decoder was still busy with the abandoned optimisation after 8 requests");
}

#[test]
fn score_answers_like_the_score_command_with_invalid_mutations_flagged() {
    // The random checkpoint with its LM head that tests/cli/score.rs checks against HF, loaded beside protein-small.
    let small = format!("{ROOT}/.fixtures/esm_checkpoints/models/small");
    assert!(std::path::Path::new(&small).exists(), "missing {small}: run `make fixtures`");
    const WT: &str = "GNSRGGGAGLGNNQGSNMGGGMNFGAFSINPAMMAAAQAALQSSWGMM";
    // Valid ones (a leading zero, a double mutant, the wild type itself), then each kind of invalid one.
    let mutations = [
        "G290A",
        "N291D:R293K",
        "S292W",
        "WT",
        "G0295C",
        "M307L",
        "A290G",
        "G9999A",
        "X290A",
        "garbage",
        "G290A:G290C",
    ];
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("m.csv");
    std::fs::write(&input, format!("mutant\n{}\n", mutations.join("\n"))).unwrap();
    let server = Server::start(&["--model", &small]);
    server.wait_ready();
    for method in ["masked-marginal", "wt-marginal", "pll"] {
        let out = dir.path().join(format!("{method}.parquet"));
        let o = Command::new(BIN)
            .args(["score", "--model", &small, "--wt", WT, "--offset", "290", "--method", method, "--skip-invalid"])
            .args(["--mutations", input.to_str().unwrap(), "--device", "cpu", "-o", out.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let df = ParquetReader::new(std::fs::File::open(&out).unwrap()).finish().unwrap();
        let scores: Vec<Option<f64>> = get(&df, "score", |c, i| c.f64().unwrap().get(i));
        let valid: Vec<Option<bool>> = get(&df, "valid", |c, i| c.bool().unwrap().get(i));
        let texts =
            |name: &str| -> Vec<Option<String>> { get(&df, name, |c, i| c.str().unwrap().get(i).map(String::from)) };
        let (mutants, reasons) = (texts("mutant"), texts("reason"));

        let body = json!({"model": small, "wt": WT, "mutations": mutations, "method": method, "offset": 290});
        let r = server.post("/v1/score", &body);
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        assert_eq!((v["method"].as_str(), v["offset"].as_i64()), (Some(method), Some(290)));
        let rows = v["scores"].as_array().unwrap();
        assert_eq!(rows.len(), mutations.len());
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(row["mutation"], mutations[i]);
            assert_eq!(row["valid"].as_bool(), valid[i], "{method} {i}: {row}");
            assert_eq!(row["mutant"].as_str(), mutants[i].as_deref(), "{method} {i}: {row}");
            assert_eq!(row["reason"].as_str(), reasons[i].as_deref(), "{method} {i}: {row}");
            match scores[i] {
                Some(expected) => {
                    let got = row["score"].as_f64().unwrap();
                    assert!((got - expected).abs() < 1e-5, "{method} {}: {got} vs score's {expected}", mutations[i]);
                }
                None => assert!(row["score"].is_null(), "{row}"),
            }
            assert_eq!(row["sites"].is_array(), method != "pll" && valid[i] == Some(true), "{row}");
        }
        assert_eq!(valid.iter().filter(|v| **v == Some(true)).count(), 6);
    }
    let reason = |r: &Reply, i: usize| r.json()["scores"][i]["reason"].as_str().unwrap().to_string();
    let r =
        server.post("/v1/score", &json!({"model": small, "wt": WT, "mutations": ["A290G", "G290A"], "offset": 290}));
    assert!(reason(&r, 0).contains("the wild type has G there"), "{}", r.body);

    // Bad requests: the status, the code and what is wrong.
    let score = |body: Value| server.post("/v1/score", &body);
    let r = score(json!({"model": "nope", "wt": WT, "mutations": ["G1A"]}));
    assert_eq!((r.status, r.error().0.as_str()), (404, "model_not_found"), "{}", r.body);
    let r = score(json!({"model": small, "wt": WT, "mutations": ["G1A"], "method": "max"}));
    assert_eq!((r.status, r.error().0.as_str()), (422, "invalid_method"), "{}", r.body);
    assert!(r.error().1.contains("masked-marginal, wt-marginal or pll"), "{}", r.body);
    let r = score(json!({"model": small, "wt": "MKT1A", "mutations": ["M1A"]}));
    assert_eq!((r.status, r.error().0.as_str()), (422, "invalid_wild_type"), "{}", r.body);
    assert!(r.error().1.contains("position 3"), "{}", r.body);
    let r = score(json!({"model": small, "wt": "  ", "mutations": ["M1A"]}));
    assert_eq!((r.status, r.error().0.as_str()), (422, "invalid_wild_type"), "{}", r.body);
    let r = score(json!({"model": small, "wt": WT, "mutations": []}));
    assert_eq!((r.status, r.error().0.as_str()), (422, "invalid_sequence"), "{}", r.body);
    let r = score(json!({"model": small, "mutations": ["G1A"]}));
    assert_eq!((r.status, r.error().0.as_str()), (422, "bad_request"), "{}", r.body);
    assert!(r.error().1.contains("wt"), "{}", r.body);
    let r = server.request("POST", "/v1/score", "{\"model\": ");
    assert_eq!((r.status, r.error().0.as_str()), (400, "bad_request"), "{}", r.body);
    let openapi = server.request("GET", "/openapi.json", "").json();
    assert!(openapi["paths"]["/v1/score"]["post"].is_object(), "{openapi}");
    let metrics = server.request("GET", "/v1/metrics", "").body;
    assert!(metrics.contains("biotorch_requests_total{endpoint=\"/v1/score\",status=\"200\"} 4"), "{metrics}");
}

#[test]
fn embeddings_as_an_arrow_stream_equal_the_json_answer() {
    let server = Server::start(&[]);
    server.wait_ready();
    let sequences = &demo_sequences()[..5];
    let arrow = "Accept: application/vnd.apache.arrow.stream\r\n";
    for (pooling, layers) in
        [("mean", json!([-1])), ("cls", json!([-1])), ("per_token", json!([-1])), ("mean", json!([1, -1]))]
    {
        let body = json!({"model": "protein-small", "sequences": sequences, "pooling": pooling, "layers": layers, "truncate": true});
        let expected = server.post("/v1/embeddings", &body).json();
        let (status, headers, bytes) = server.request_bytes("POST", "/v1/embeddings", arrow, &body.to_string());
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
        assert!(headers.contains("content-type: application/vnd.apache.arrow.stream"), "{headers}");
        let df = IpcStreamReader::new(std::io::Cursor::new(bytes)).finish().unwrap();
        assert_eq!(df.height(), sequences.len());
        let names: Vec<&str> = df.get_column_names().iter().map(|n| n.as_str()).collect();
        let layer_columns: Vec<String> = match expected["layers"].as_array().unwrap().as_slice() {
            [_] => vec!["embedding".to_string()],
            several => several.iter().map(|l| format!("embedding_layer_{l}")).collect(),
        };
        assert_eq!(names[..3], ["index", "length", "truncated"]);
        assert_eq!(names[3..], layer_columns.iter().map(String::as_str).collect::<Vec<_>>()[..]);
        let index: Vec<u32> = df.column("index").unwrap().u32().unwrap().into_no_null_iter().collect();
        assert_eq!(index, (0..sequences.len() as u32).collect::<Vec<_>>());
        let lengths: Vec<u32> = df.column("length").unwrap().u32().unwrap().into_no_null_iter().collect();
        assert_eq!(json!(lengths), expected["lengths"]);
        let truncated: Vec<bool> =
            get(&df, "truncated", |c, i| c.bool().unwrap().get(i)).into_iter().flatten().collect();
        assert_eq!(json!(truncated), expected["truncated"]);
        let per_token = pooling == "per_token";
        for (k, name) in layer_columns.iter().enumerate() {
            let column = df.column(name).unwrap().as_materialized_series().clone();
            let want = if per_token { "list[list[f32]]" } else { "list[f32]" };
            assert_eq!(column.dtype().to_string(), want, "{name}");
            for i in 0..sequences.len() {
                let json =
                    if layer_columns.len() > 1 { &expected["embeddings"][i][k] } else { &expected["embeddings"][i] };
                let cell = column
                    .slice(i as i64, 1)
                    .explode(ExplodeOptions { empty_as_null: false, keep_nulls: false })
                    .unwrap();
                let values: Vec<Vec<f32>> = if per_token {
                    let tokens = cell.list().unwrap();
                    (0..tokens.len())
                        .map(|t| tokens.get_as_series(t).unwrap().f32().unwrap().into_no_null_iter().collect())
                        .collect()
                } else {
                    vec![cell.f32().unwrap().into_no_null_iter().collect()]
                };
                let json: Vec<Vec<f32>> =
                    if per_token { json.as_array().unwrap().iter().map(floats).collect() } else { vec![floats(json)] };
                // The same f32 values, bit for bit: JSON writes each f32 in its shortest exact form.
                assert_eq!(values, json, "{pooling} {name} of sequence {i}");
            }
        }
    }
    // Without the header, or with another type first among several, JSON; errors stay JSON.
    let body = json!({"model": "protein-small", "sequences": ["MKT"]}).to_string();
    let (_, headers, _) = server.request_bytes("POST", "/v1/embeddings", "Accept: application/json\r\n", &body);
    assert!(headers.contains("content-type: application/json"), "{headers}");
    let (_, headers, _) = server.request_bytes(
        "POST",
        "/v1/embeddings",
        "Accept: application/json;q=0.5, application/vnd.apache.arrow.stream\r\n",
        &body,
    );
    assert!(headers.contains("content-type: application/vnd.apache.arrow.stream"), "{headers}");
    let bad = json!({"model": "nope", "sequences": ["MKT"]}).to_string();
    let (status, headers, _) = server.request_bytes("POST", "/v1/embeddings", arrow, &bad);
    assert_eq!(status, 404);
    assert!(headers.contains("content-type: application/json"), "{headers}");
}

/// Column `name` of `df`, row by row, read with `at`.
fn get<T>(df: &DataFrame, name: &str, at: impl Fn(&Column, usize) -> Option<T>) -> Vec<Option<T>> {
    let c = df.column(name).unwrap();
    (0..c.len()).map(|i| at(c, i)).collect()
}

/// `serve --dtype int8` quantizes its encoders as `embed --dtype int8` does: the same mean embeddings.
#[test]
fn an_int8_server_answers_like_embed_in_int8() {
    let dir = tempfile::tempdir().unwrap();
    let fasta = dir.path().join("five.faa");
    let sequences = &demo_sequences()[..5];
    let records: String = sequences.iter().enumerate().map(|(i, s)| format!(">s{i}\n{s}\n")).collect();
    std::fs::write(&fasta, records).unwrap();
    let out = dir.path().join("e.parquet");
    let o = Command::new(BIN)
        .args(["--threads", "1", "embed", fasta.to_str().unwrap(), "--model", "protein-small", "--device", "cpu"])
        .args(["--dtype", "int8", "--batch-tokens", "1", "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let df = ParquetReader::new(std::fs::File::open(&out).unwrap()).finish().unwrap();
    let column = df.column("embedding").unwrap().as_materialized_series().clone();

    let server = Server::start(&["--dtype", "int8"]);
    server.wait_ready();
    let reply = server.post("/v1/embeddings", &json!({"model": "protein-small", "sequences": sequences}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let answer = reply.json();
    for (i, _) in sequences.iter().enumerate() {
        let cell =
            column.slice(i as i64, 1).explode(ExplodeOptions { empty_as_null: false, keep_nulls: false }).unwrap();
        let cell = match cell.dtype() {
            DataType::Float32 => cell,
            _ => cell.array().unwrap().explode(ExplodeOptions { empty_as_null: false, keep_nulls: false }).unwrap(),
        };
        let expected: Vec<f32> = cell.f32().unwrap().into_no_null_iter().collect();
        let served = floats(&answer["embeddings"][i]);
        // One sequence per batch on both sides (the CPU server's default), so the same int8 scales: equal up to
        // the JSON round trip.
        assert!(max_diff(&expected, &served) < 1e-6, "sequence {i}: {}", max_diff(&expected, &served));
    }
    let f32_server = Server::start(&[]);
    f32_server.wait_ready();
    let f32_answer =
        f32_server.post("/v1/embeddings", &json!({"model": "protein-small", "sequences": sequences})).json();
    let diff = max_diff(&floats(&f32_answer["embeddings"][0]), &floats(&answer["embeddings"][0]));
    assert!(diff > 1e-6 && diff < 0.05, "int8 vs f32: {diff}");
}
