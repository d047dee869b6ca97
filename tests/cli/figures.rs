//! Issue 18, items 10 and 12, end to end on shipped data: figures that read well (class colours that follow the class
//! name from run to run, unlabelled points grey and underneath, legends beside the PCA, whole-number ticks on counts
//! and lengths, units on axes) and the guardrails a head records (the hashes of its training rows, members not
//! converged, rows left out as unreadable next to the rows scored). What the CLI prints about them is wired and
//! tested elsewhere; here the files the commands write are checked, and a head's predictions through the library.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_biotorch");
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(["--threads", "2"]).args(args).output().expect("run biotorch")
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "biotorch {args:?} failed:\n{stderr}");
    format!("{}{stderr}", String::from_utf8_lossy(&o.stdout))
}

fn json_file(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// An SVG's circles (by fill colour) and texts, in drawing order.
#[derive(Debug, PartialEq)]
enum Svg {
    Circle(String),
    Text(String),
}

fn svg(path: &Path) -> Vec<Svg> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find('<') {
        rest = &rest[start..];
        if let Some(circle) = rest.strip_prefix("<circle") {
            let fill = circle.split("fill=\"").nth(1).and_then(|f| f.split('"').next()).unwrap_or_default();
            out.push(Svg::Circle(fill.to_string()));
        } else if rest.starts_with("<text") {
            let body = rest.split_once('>').map_or("", |x| x.1);
            out.push(Svg::Text(body.split("</text>").next().unwrap_or_default().trim().to_string()));
        }
        rest = &rest[1..];
    }
    out
}

fn texts(elements: &[Svg]) -> Vec<&str> {
    elements.iter().filter_map(|e| if let Svg::Text(t) = e { Some(t.as_str()) } else { None }).collect()
}

/// The colour of a legend entry: the circle drawn just before the entry's text (which starts with `name (`).
fn legend_colour<'a>(elements: &'a [Svg], name: &str) -> &'a str {
    let at = elements
        .iter()
        .position(|e| matches!(e, Svg::Text(t) if t.starts_with(&format!("{name} ("))))
        .unwrap_or_else(|| panic!("no legend entry {name}: {:?}", texts(elements)));
    match &elements[at - 1] {
        Svg::Circle(fill) => fill,
        other => panic!("{name}: {other:?} before the legend text"),
    }
}

#[test]
fn pca_classes_keep_their_colours_between_runs_and_unlabelled_points_are_grey_underneath() {
    let dir = tempfile::tempdir().unwrap();
    let labels = format!("{ROOT}/data/demo/swissprot_100_locations.csv");
    // A second labels file without two classes: the remaining classes' frequency ranks change.
    let fewer = dir.path().join("fewer.csv");
    let kept: Vec<String> = std::fs::read_to_string(&labels)
        .unwrap()
        .lines()
        .filter(|l| !l.ends_with(",Nucleus") && !l.ends_with(",Secreted"))
        .map(str::to_string)
        .collect();
    std::fs::write(&fewer, kept.join("\n") + "\n").unwrap();
    let mut figures = Vec::new();
    for (name, labels) in [("all", labels.as_str()), ("fewer", fewer.to_str().unwrap())] {
        let plot = dir.path().join(format!("{name}.svg"));
        ok(&[
            "embed",
            &format!("{ROOT}/data/demo/swissprot_100.fasta"),
            "--model",
            "protein-small",
            "--device",
            "cpu",
            "-o",
            dir.path().join(format!("{name}.parquet")).to_str().unwrap(),
            "--plot",
            plot.to_str().unwrap(),
            "--labels",
            labels,
            "--label-column",
            "location",
        ]);
        figures.push(svg(&plot));
    }
    let (all, fewer) = (&figures[0], &figures[1]);
    for class in ["Cytoplasm", "Cell membrane", "Membrane", "Golgi apparatus"] {
        assert_eq!(legend_colour(all, class), legend_colour(fewer, class), "{class} changed colour");
    }
    assert!(texts(fewer).iter().all(|t| !t.starts_with("Nucleus (")));
    // Points without a label: light grey, listed last in the legend, drawn before (under) every labelled point.
    let grey = "#BEBEBE";
    assert_eq!(legend_colour(all, "no label"), grey);
    let circles: Vec<&str> =
        all.iter().filter_map(|e| if let Svg::Circle(f) = e { Some(f.as_str()) } else { None }).collect();
    let unlabelled = circles.iter().filter(|&&c| c == grey).count() - 1;
    assert!(unlabelled > 10 && circles[..unlabelled].iter().all(|&c| c == grey), "grey points are drawn first");
    assert!(texts(all).contains(&format!("no label ({unlabelled})").as_str()), "{:?}", texts(all));
}

#[test]
fn length_histograms_have_whole_number_ticks_and_property_plots_have_units() {
    let dir = tempfile::tempdir().unwrap();
    let lengths = dir.path().join("lengths.svg");
    ok(&[
        "stats",
        &format!("{ROOT}/data/demo/ecoli_proteins_500.faa"),
        "-o",
        dir.path().join("s.parquet").to_str().unwrap(),
        "--plot",
        lengths.to_str().unwrap(),
    ]);
    let elements = svg(&lengths);
    let numbers: Vec<&str> = texts(&elements).into_iter().filter(|t| t.parse::<f64>().is_ok()).collect();
    assert!(numbers.len() > 6, "{numbers:?}");
    assert!(numbers.iter().all(|t| t.parse::<i64>().is_ok()), "lengths and counts are whole numbers: {numbers:?}");
    assert!(texts(&elements).contains(&"sequence length (residues)"));

    let properties = dir.path().join("properties.svg");
    ok(&[
        "generate",
        "--model",
        "smiles-small",
        "-n",
        "40",
        "--seed",
        "0",
        "--device",
        "cpu",
        "--train-set",
        &format!("{ROOT}/data/demo/chembl_2000.csv"),
        "-o",
        dir.path().join("g.parquet").to_str().unwrap(),
        "--plot",
        properties.to_str().unwrap(),
    ]);
    let elements = svg(&properties);
    assert!(texts(&elements).contains(&"molecular weight (Da)"), "{:?}", texts(&elements));
}

/// Writes the first `n` rows of the Huuskonen solubility table, two unreadable SMILES and a row without a label;
/// returns the SMILES of the whole table.
fn small_solubility_table(path: &Path, n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(format!("{ROOT}/data/tasks/huuskonen_solubility_1282.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().take(n + 1).map(str::to_string).collect();
    lines.push("train,9001,broken,C1CC(,-2.0,(B) medium".into());
    lines.push("train,9002,not a molecule,xyz,-1.0,(B) medium".into());
    lines.push("train,9003,unlabelled,CCCCCCO,,".into());
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let column = reader.headers().unwrap().iter().position(|h| h == "smiles").unwrap();
    reader.records().map(|r| r.unwrap()[column].to_string()).collect()
}

#[test]
fn a_head_records_its_training_rows_and_states_what_its_metrics_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("solubility.csv");
    let all_smiles = small_solubility_table(&data, 80);
    let head: PathBuf = dir.path().join("head");
    // One epoch: the best validation loss is necessarily at the last epoch.
    ok(&[
        "finetune",
        "--model",
        "smiles-small",
        "--data",
        data.to_str().unwrap(),
        "--target",
        "logS",
        "--epochs",
        "1",
        "--seed",
        "0",
        "--device",
        "cpu",
        "-o",
        head.to_str().unwrap(),
    ]);

    let metrics = json_file(&head.join("metrics.json"));
    assert_eq!(metrics["rows"], json!({"rows": 83, "usable": 80, "unreadable": 2, "unlabelled": 1}), "{metrics:#}");
    let target = &metrics["targets"]["logS"];
    assert_eq!(target["rows"]["unreadable"], 2);
    assert_eq!(target["rows"]["unlabelled"], 1);
    assert_eq!(target["rows"]["scored"], target["head"]["metrics"]["n"], "{target:#}");
    assert_eq!(metrics["members"][0]["converged"], false);
    let warnings = metrics["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].as_str().unwrap().contains("not converged; more --epochs"), "{warnings:?}");

    // The training rows: the train and validation rows' hashes, 8 bytes each after a 16-byte header.
    let spec = json_file(&head.join("head.json"));
    assert_eq!(spec["training_rows"], "training_rows.bin");
    let folds = &spec["training"]["folds"][0];
    let seen = (folds["train"].as_u64().unwrap() + folds["valid"].as_u64().unwrap()) as usize;
    assert_eq!(spec["training"]["data"]["training_rows"], seen, "the first 80 molecules are distinct");
    let bytes = std::fs::read(head.join("training_rows.bin")).unwrap();
    assert_eq!((&bytes[..8], bytes.len()), (&b"BTROWS01"[..], 16 + 8 * seen));

    // Through the library: the head tells its training rows (whatever their spelling) from new molecules.
    use biotorch_heads::predict::{self, Predictor};
    use biotorch_heads::seen::Overlap;
    let spec = biotorch_heads::HeadSpec::read(&head).unwrap();
    let source = predict::locate(&head, &spec, &biotorch_models::Resolver::from_env()).unwrap();
    let predictor = Predictor::load(&head, spec, &source, tch::Device::Cpu, 4096).unwrap();
    assert!(predictor.knows_training_rows());
    let mut overlap = Overlap::default();
    overlap.add_predictions(&predictor.predict(&all_smiles[..80]).unwrap());
    assert_eq!((overlap.rows, overlap.seen), (80, seen as u64), "the test rows are the only unseen ones");
    let new = predictor.predict(&all_smiles[1000..1010]).unwrap();
    assert!(new.iter().all(|p| p.is_valid() && !p.in_training), "molecules from beyond the table's first rows");
    assert!(overlap.message().unwrap().contains("were in the head's training or validation data"));
}
