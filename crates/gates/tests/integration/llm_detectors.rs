//! The refusal detector measured on the frozen labelled reply set. The
//! floors asserted here are the numbers published in docs/llm-detectors.md.

use portcullis_gates::llm::detect::RefusalDetector;

const HELD_OUT_PRECISION: f64 = 0.98;
const HELD_OUT_RECALL: f64 = 0.98;

struct Scores {
    tp: usize,
    fp: usize,
    fn_: usize,
    tn: usize,
    misses: Vec<String>,
}

fn measure() -> Scores {
    measure_file("replies.jsonl")
}

fn measure_file(name: &str) -> Scores {
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/llm-detectors/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let d = RefusalDetector::default();
    let mut s = Scores {
        tp: 0,
        fp: 0,
        fn_: 0,
        tn: 0,
        misses: Vec::new(),
    };
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let refusal = v["label"] == "refusal";
        let said = d.is_refusal(v["text"].as_str().unwrap());
        match (refusal, said) {
            (true, true) => s.tp += 1,
            (false, true) => {
                s.fp += 1;
                s.misses.push(format!("FP {}", v["text"]));
            }
            (true, false) => {
                s.fn_ += 1;
                s.misses.push(format!("FN {}", v["text"]));
            }
            (false, false) => s.tn += 1,
        }
    }
    s
}

#[test]
fn refusal_detector_meets_the_documented_precision_and_recall() {
    let s = measure();
    let precision = s.tp as f64 / (s.tp + s.fp) as f64;
    let recall = s.tp as f64 / (s.tp + s.fn_) as f64;
    println!(
        "tp={} fp={} fn={} tn={} precision={precision:.4} recall={recall:.4}\n{}",
        s.tp,
        s.fp,
        s.fn_,
        s.tn,
        s.misses.join("\n")
    );
    assert!(s.tp + s.fp + s.fn_ + s.tn >= 180);
    assert!(precision >= 0.98, "precision {precision}");
    assert!(recall >= 0.98, "recall {recall}");
}

/// The mistake the detector exists to avoid: matching refusal and topic
/// words anywhere in the reply. It is measured here so the docs can show
/// what it costs on the same replies.
#[test]
fn matching_words_anywhere_misreads_compliant_replies() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/llm-detectors/replies.jsonl"
    ))
    .unwrap();
    let words = [
        "sorry",
        "cannot",
        "can't",
        "illegal",
        "harmful",
        "unethical",
        "dangerous",
        "as an ai",
        "i apologi",
    ];
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let refusal = v["label"] == "refusal";
        let t = v["text"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .replace('\u{2019}', "'");
        let said = words.iter().any(|w| t.contains(w));
        match (refusal, said) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (true, false) => fn_ += 1,
            _ => {}
        }
    }
    let precision = tp as f64 / (tp + fp) as f64;
    let recall = tp as f64 / (tp + fn_) as f64;
    println!("words-anywhere baseline: precision={precision:.4} recall={recall:.4}");
    assert!(precision < 0.9, "{precision}");
}

/// The held-out set was written after the first tuning. Measured before it
/// changed anything: precision 1.0, recall 0.675; its misses then drove a
/// second round of rules, so these floors no longer measure unseen replies
/// (docs/llm-detectors.md keeps both figures).
#[test]
fn refusal_detector_on_the_held_out_set_meets_the_documented_numbers() {
    let s = measure_file("replies-heldout.jsonl");
    let precision = s.tp as f64 / (s.tp + s.fp) as f64;
    let recall = s.tp as f64 / (s.tp + s.fn_) as f64;
    println!(
        "held-out: tp={} fp={} fn={} tn={} precision={precision:.4} recall={recall:.4}\n{}",
        s.tp,
        s.fp,
        s.fn_,
        s.tn,
        s.misses.join("\n")
    );
    assert_eq!(s.tp + s.fp + s.fn_ + s.tn, 80);
    assert!(precision >= HELD_OUT_PRECISION, "precision {precision}");
    assert!(recall >= HELD_OUT_RECALL, "recall {recall}");
}
