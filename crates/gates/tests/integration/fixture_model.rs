//! The committed fixture models as `Classifier`s, read from the dense
//! weights the generator writes beside each ONNX file (`model.json`), plus
//! a small CSV reader for the fixture data.

use std::path::{Path, PathBuf};

use portcullis_gates::ml::data::LabelledData;
use portcullis_runtime::{ClassLabel, Classifier, InputSignature, Matrix, RuntimeError};
use serde::Deserialize;

#[derive(Deserialize)]
struct Layer {
    weights: Vec<Vec<f32>>,
    bias: Vec<f32>,
}

#[derive(Deserialize)]
struct Spec {
    activation: String,
    output: String,
    classes: Vec<i64>,
    layers: Vec<Layer>,
}

/// A scikit-learn MLP evaluated from its weights.
pub struct Mlp {
    spec: Spec,
    sig: InputSignature,
    classes: Vec<ClassLabel>,
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/backdoor")
}

impl Mlp {
    pub fn load(dir: &Path) -> Mlp {
        let spec: Spec = serde_json::from_slice(&std::fs::read(dir.join("model.json")).unwrap()).unwrap();
        assert_eq!(spec.activation, "relu");
        let n_features = spec.layers[0].weights[0].len();
        let classes = spec.classes.iter().map(|c| ClassLabel::Int(*c)).collect();
        Mlp {
            spec,
            sig: InputSignature {
                n_features,
                ..Default::default()
            },
            classes,
        }
    }

    fn forward(&self, x: &[f32], stop_before_output: bool) -> Vec<f32> {
        let mut h = x.to_vec();
        let last = self.spec.layers.len() - 1;
        for (li, l) in self.spec.layers.iter().enumerate() {
            if stop_before_output && li == last {
                return h;
            }
            let mut out: Vec<f32> = l
                .weights
                .iter()
                .zip(&l.bias)
                .map(|(w, b)| w.iter().zip(&h).map(|(a, v)| a * v).sum::<f32>() + b)
                .collect();
            if li < last {
                out.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            h = out;
        }
        match self.spec.output.as_str() {
            "softmax" => {
                let m = h.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let e: Vec<f32> = h.iter().map(|v| (v - m).exp()).collect();
                let z: f32 = e.iter().sum();
                e.into_iter().map(|v| v / z).collect()
            }
            "logistic" => {
                let p = 1.0 / (1.0 + (-h[0]).exp());
                vec![1.0 - p, p]
            }
            other => panic!("output {other}"),
        }
    }
}

impl Classifier for Mlp {
    fn signature(&self) -> &InputSignature {
        &self.sig
    }
    fn classes(&self) -> &[ClassLabel] {
        &self.classes
    }
    fn predict_proba(&self, x: &Matrix) -> Result<Matrix, RuntimeError> {
        let k = self.classes.len();
        let data: Vec<f32> = (0..x.rows).flat_map(|i| self.forward(x.row(i), false)).collect();
        Matrix::new(data, x.rows, k)
    }
    fn activations(&self, node: &str, x: &Matrix) -> Result<Matrix, RuntimeError> {
        if node != "penultimate" {
            return Err(RuntimeError::Unsupported(node.to_string()));
        }
        let data: Vec<f32> = (0..x.rows).flat_map(|i| self.forward(x.row(i), true)).collect();
        let cols = data.len() / x.rows.max(1);
        Matrix::new(data, x.rows, cols)
    }
}

/// Reads a fixture CSV: features, `label`, and an optional `poisoned` column
/// kept aside.
pub fn read_csv(path: &Path) -> LabelledData {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(str::to_string).collect();
    let label_at = header.iter().position(|h| h == "label").unwrap();
    let poison_at = header.iter().position(|h| h == "poisoned");
    let feature_names: Vec<String> = header
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != label_at && Some(*i) != poison_at)
        .map(|(_, h)| h.clone())
        .collect();
    let (mut x, mut y, mut poison) = (Vec::new(), Vec::new(), Vec::new());
    for line in lines {
        for (i, v) in line.split(',').enumerate() {
            let v: f32 = v.parse().unwrap();
            if i == label_at {
                y.push(v as usize);
            } else if Some(i) == poison_at {
                poison.push(v);
            } else {
                x.push(v);
            }
        }
    }
    let rows = y.len();
    LabelledData {
        x: Matrix::new(x, rows, feature_names.len()).unwrap(),
        y,
        feature_names,
        extra: if poison_at.is_some() {
            vec![("poisoned".into(), poison)]
        } else {
            vec![]
        },
        source: path.file_name().unwrap().to_string_lossy().into_owned(),
    }
}
