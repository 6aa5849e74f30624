//! The tract backend against onnxruntime's outputs on skl2onnx exports.

use portcullis_runtime::{encode_labels, Classifier, OnnxClassifier, Roles, RuntimeError, Table};

use crate::support::{expected, fixture};

const PROBA_TOL: f64 = 1e-5;

fn check_model(file: &str, want: &serde_json::Value) {
    let model = OnnxClassifier::load(&fixture(&format!("sklearn-onnx/{file}")))
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    let classes: Vec<String> = model.classes().iter().map(ToString::to_string).collect();
    let want_classes: Vec<String> = serde_json::from_value(want["classes"].clone()).unwrap();
    assert_eq!(classes, want_classes, "{file}: classes");
    let string_classes = want["string_classes"].as_bool().unwrap();
    assert_eq!(
        matches!(model.classes()[0], portcullis_runtime::ClassLabel::Str(_)),
        string_classes,
        "{file}: label type"
    );
    let data = want["data"].as_str().unwrap();
    let table = Table::load(&fixture(&format!("sklearn-onnx/{data}"))).unwrap();
    let roles = Roles {
        label: Some("label".into()),
        ..Default::default()
    };
    let prepared = table.prepare(&roles, model.signature()).unwrap();
    let proba = model.predict_proba(&prepared.x).unwrap();
    let want_proba: Vec<Vec<f64>> = serde_json::from_value(want["proba"].clone()).unwrap();
    assert_eq!(proba.rows, want_proba.len(), "{file}: rows");
    for (i, row) in want_proba.iter().enumerate() {
        for (j, &w) in row.iter().enumerate() {
            let got = f64::from(proba.row(i)[j]);
            assert!(
                (got - w).abs() <= PROBA_TOL,
                "{file}: row {i} class {j}: tract {got} vs onnxruntime {w}"
            );
        }
    }
    // Labels are the argmax of the probabilities; they agree with
    // onnxruntime's label output wherever the top two are not tied.
    let predicted = model.predict(&prepared.x).unwrap();
    let ort_labels: Vec<String> = serde_json::from_value(want["ort_labels"].clone()).unwrap();
    let ort_idx = encode_labels(&ort_labels, model.classes()).unwrap();
    for (i, (&p, &o)) in predicted.iter().zip(&ort_idx).enumerate() {
        let mut row = want_proba[i].clone();
        row.sort_by(|a, b| b.partial_cmp(a).unwrap());
        if row[0] - row[1] > 1e-4 {
            assert_eq!(p, o, "{file}: row {i} label");
        }
    }
    // And the true labels are valid classes of the model.
    encode_labels(prepared.labels.as_ref().unwrap(), model.classes()).unwrap();
}

#[test]
fn every_sklearn_export_matches_onnxruntime() {
    let exp = expected("sklearn-onnx");
    let mut checked = 0;
    for (file, want) in exp.as_object().unwrap() {
        if want.get("proba").is_none() || file.starts_with("svc_") {
            continue;
        }
        check_model(file, want);
        checked += 1;
    }
    // 8 models × (zipmap, nozipmap) + 2 `zipmap='columns'` variants; the
    // SVM pair is checked separately.
    assert_eq!(checked, 18);
}

#[test]
fn zipmap_and_plain_exports_give_the_same_probabilities() {
    let a = OnnxClassifier::load(&fixture("sklearn-onnx/rf_wine.zipmap.onnx")).unwrap();
    let b = OnnxClassifier::load(&fixture("sklearn-onnx/rf_wine.nozipmap.onnx")).unwrap();
    let c = OnnxClassifier::load(&fixture("sklearn-onnx/rf_wine.columns.onnx")).unwrap();
    let table = Table::load(&fixture("sklearn-onnx/wine.csv")).unwrap();
    let roles = Roles {
        label: Some("label".into()),
        ..Default::default()
    };
    let x = table.prepare(&roles, a.signature()).unwrap().x;
    let pa = a.predict_proba(&x).unwrap();
    assert_eq!(pa, b.predict_proba(&x).unwrap());
    assert_eq!(pa, c.predict_proba(&x).unwrap());
    assert_eq!(c.probability_tensor(), "probabilities");
}

#[test]
fn penultimate_activations_are_exposed_by_tensor_name() {
    let m = OnnxClassifier::load(&fixture("sklearn-onnx/mlp_wine.nozipmap.onnx")).unwrap();
    let table = Table::load(&fixture("sklearn-onnx/wine.csv")).unwrap();
    let roles = Roles {
        label: Some("label".into()),
        ..Default::default()
    };
    let x = table.prepare(&roles, m.signature()).unwrap().x;
    // skl2onnx names the hidden layers' ReLU outputs `next_activations*`.
    let hidden: Vec<String> = m
        .tensor_names()
        .into_iter()
        .filter(|n| n.starts_with("next_activations"))
        .collect();
    assert!(!hidden.is_empty(), "{:?}", m.tensor_names());
    let last = hidden.iter().max().unwrap();
    let act = m.activations(last, &x).unwrap();
    assert_eq!(act.rows, x.rows);
    assert_eq!(act.cols, 8, "the second hidden layer has 8 units");
    assert!(
        act.data.iter().all(|v| *v >= 0.0),
        "ReLU outputs are non-negative"
    );
    let err = m.activations("no_such_node", &x).unwrap_err();
    assert!(matches!(err, RuntimeError::Unsupported(_)), "{err}");
}

#[test]
fn wrong_width_and_nan_inputs_are_errors() {
    let m = OnnxClassifier::load(&fixture("sklearn-onnx/logreg_bc.zipmap.onnx")).unwrap();
    let x = portcullis_runtime::Matrix::zeros(2, 29);
    assert!(matches!(m.predict_proba(&x), Err(RuntimeError::Shape(_))));
    let mut x = portcullis_runtime::Matrix::zeros(2, 30);
    x.data[31] = f32::NAN;
    let err = m.predict_proba(&x).unwrap_err().to_string();
    assert!(err.contains("row 1, column 1"), "{err}");
}

#[test]
fn garbage_and_truncated_files_are_load_errors() {
    let err =
        OnnxClassifier::from_bytes(b"not a model at all", "junk.onnx", &Default::default()).unwrap_err();
    assert!(err.to_string().contains("junk.onnx"), "{err}");
    let bytes = std::fs::read(fixture("sklearn-onnx/rf_wine.zipmap.onnx")).unwrap();
    for cut in [10, bytes.len() / 2, bytes.len() - 3] {
        let r = OnnxClassifier::from_bytes(&bytes[..cut], "cut.onnx", &Default::default());
        assert!(r.is_err(), "truncated at {cut} loaded");
    }
}

#[test]
fn an_unsupported_operator_is_named_with_the_ort_hint() {
    // Rename the SVM's operator (same length, so the protobuf stays valid).
    let bytes = std::fs::read(fixture("sklearn-onnx/svc_bc.zipmap.onnx")).unwrap();
    let text = b"SVMClassifier";
    let at = bytes.windows(text.len()).position(|w| w == text).unwrap();
    let mut patched = bytes.clone();
    patched[at..at + text.len()].copy_from_slice(b"SVMClassifixr");
    let err = OnnxClassifier::from_bytes(&patched, "renamed.onnx", &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("SVMClassifixr (domain ai.onnx.ml)"), "{err}");
    assert!(err.contains("`ort` feature"), "{err}");
    assert!(err.contains("renamed.onnx"), "{err}");
}

/// Every kernel, binary and one-vs-one multi-class, with and without a
/// scaler in front: the native SVM gives onnxruntime's probabilities.
#[test]
fn native_svm_matches_onnxruntime_for_every_kernel() {
    let mut cases: Vec<(String, String, Vec<Vec<f64>>)> = Vec::new();
    let svm = expected("svm");
    for (file, e) in svm.as_object().unwrap() {
        cases.push((
            format!("svm/{file}"),
            format!("svm/{}", e["data"].as_str().unwrap()),
            serde_json::from_value(e["proba"].clone()).unwrap(),
        ));
    }
    let sk = expected("sklearn-onnx");
    for file in ["svc_bc.zipmap.onnx", "svc_bc.nozipmap.onnx"] {
        cases.push((
            format!("sklearn-onnx/{file}"),
            "sklearn-onnx/breast_cancer.csv".into(),
            serde_json::from_value(sk[file]["proba"].clone()).unwrap(),
        ));
    }
    assert_eq!(cases.len(), 11);
    for (file, data, want) in cases {
        let m = OnnxClassifier::load(&fixture(&file)).unwrap();
        let table = Table::load(&fixture(&data)).unwrap();
        let roles = Roles {
            label: Some("label".into()),
            ..Default::default()
        };
        let x = table.prepare(&roles, m.signature()).unwrap().x;
        let p = m.predict_proba(&x).unwrap();
        assert_eq!(p.rows, want.len(), "{file}");
        for (i, row) in want.iter().enumerate() {
            for (j, w) in row.iter().enumerate() {
                let got = f64::from(p.row(i)[j]);
                assert!((got - w).abs() <= 1e-5, "{file} row {i} class {j}: {got} vs {w}");
            }
        }
    }
}

/// The onnxruntime backend runs what tract cannot (the SVM). Needs the
/// `ort` feature and `ORT_DYLIB_PATH`; skipped otherwise.
#[cfg(feature = "ort")]
#[test]
fn ort_backend_runs_the_svm_when_onnxruntime_is_available() {
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        return;
    }
    let exp = expected("sklearn-onnx");
    for file in ["svc_bc.zipmap.onnx", "svc_bc.nozipmap.onnx"] {
        let m =
            portcullis_runtime::onnx::OrtClassifier::load(&fixture(&format!("sklearn-onnx/{file}"))).unwrap();
        let table = Table::load(&fixture("sklearn-onnx/breast_cancer.csv")).unwrap();
        let roles = Roles {
            label: Some("label".into()),
            ..Default::default()
        };
        let x = table.prepare(&roles, m.signature()).unwrap().x;
        let p = m.predict_proba(&x).unwrap();
        let want: Vec<Vec<f64>> = serde_json::from_value(exp[file]["proba"].clone()).unwrap();
        for (i, row) in want.iter().enumerate() {
            for (j, w) in row.iter().enumerate() {
                assert!((f64::from(p.row(i)[j]) - w).abs() <= PROBA_TOL, "{file} row {i}");
            }
        }
    }
}

#[cfg(feature = "parquet")]
#[test]
fn parquet_and_csv_give_the_same_rows() {
    let m = OnnxClassifier::load(&fixture("sklearn-onnx/logreg_bc.zipmap.onnx")).unwrap();
    let csv = Table::load(&fixture("sklearn-onnx/breast_cancer.csv")).unwrap();
    let pq = Table::load(&fixture("parquet/breast_cancer.parquet")).unwrap();
    let roles = Roles {
        label: Some("label".into()),
        slices: vec!["site".into()],
        ..Default::default()
    };
    let a = csv
        .prepare(
            &Roles {
                label: Some("label".into()),
                ..Default::default()
            },
            m.signature(),
        )
        .unwrap();
    let b = pq.prepare(&roles, m.signature()).unwrap();
    assert_eq!(a.x, b.x);
    assert_eq!(a.labels, b.labels);
    assert_eq!(b.groups["site"][0], "south");
    assert_eq!(m.predict_proba(&a.x).unwrap(), m.predict_proba(&b.x).unwrap());
}
