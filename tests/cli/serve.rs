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
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        // A body over the server's limit may be refused before it is all sent.
        let _ = stream.write_all(body.as_bytes());
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        let raw = String::from_utf8(raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no answer: {raw:?}"));
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        Reply { status, headers: head.to_ascii_lowercase(), body: body.to_string() }
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
    let server = Server::start(&["--max-sequences", "8", "--max-body-bytes", "200000"]);
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
    let server = Server::start(&["--max-queue", "4", "--max-sequences", "4", "--max-queue-delay-ms", "1500"]);
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
    let mut server = Server::start(&["--max-queue-delay-ms", "1500"]);
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
}
