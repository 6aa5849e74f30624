//! NPZ tables written by numpy, against the CSV they were made from.

use portcullis_runtime::dataset::ColumnValues;
use portcullis_runtime::{Classifier, OnnxClassifier, Roles, Table};

use crate::support::fixture;

fn numeric(t: &Table, name: &str) -> Vec<f64> {
    match &t.column(name).unwrap().values {
        ColumnValues::Numeric(v) => v.clone(),
        ColumnValues::Text(_) => panic!("{name} is text"),
    }
}

#[test]
fn numpy_savez_and_savez_compressed_read_as_the_csv_they_came_from() {
    let csv = Table::load(&fixture("sklearn-onnx/breast_cancer.csv")).unwrap();
    for file in ["npz/bc.npz", "npz/bc_stored.npz"] {
        let t = Table::load(&fixture(file)).unwrap();
        assert_eq!(t.rows, csv.rows, "{file}");
        assert_eq!(t.columns.len(), 31, "{file}");
        assert_eq!(numeric(&t, "y"), numeric(&csv, "label"), "{file}");
        for j in [0, 17, 29] {
            let want: Vec<f64> = numeric(&csv, &format!("f{j}"))
                .iter()
                .map(|v| f64::from(*v as f32))
                .collect();
            assert_eq!(numeric(&t, &format!("x[{j}]")), want, "{file} x[{j}]");
        }
    }
}

#[test]
fn a_model_scores_an_npz_with_the_label_array_named_by_its_role() {
    let model = OnnxClassifier::load(&fixture("sklearn-onnx/rf_bc.nozipmap.onnx")).unwrap();
    let csv = Table::load(&fixture("sklearn-onnx/breast_cancer.csv")).unwrap();
    let npz = Table::load(&fixture("npz/bc.npz")).unwrap();
    let a = csv
        .prepare(
            &Roles {
                label: Some("label".into()),
                ..Default::default()
            },
            model.signature(),
        )
        .unwrap();
    let b = npz
        .prepare(
            &Roles {
                label: Some("y".into()),
                ..Default::default()
            },
            model.signature(),
        )
        .unwrap();
    assert_eq!(b.labels, a.labels);
    assert_eq!(
        model.predict_proba(&b.x).unwrap(),
        model.predict_proba(&a.x).unwrap()
    );
}

#[test]
fn a_truncated_or_inflating_npz_is_an_error_naming_the_file() {
    let bytes = std::fs::read(fixture("npz/bc.npz")).unwrap();
    let dir = tempfile_dir();
    let cut = dir.join("cut.npz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = Table::load(&cut).unwrap_err().to_string();
    assert!(err.contains("cut.npz"), "{err}");
    // Declare a smaller uncompressed size for x.npy in the central
    // directory: inflating past it is refused (the zip-bomb bound).
    let mut lie = bytes.clone();
    let cd = lie
        .windows(4)
        .position(|w| w == [0x50, 0x4b, 0x01, 0x02])
        .unwrap();
    lie[cd + 24..cd + 28].copy_from_slice(&100u32.to_le_bytes());
    let bomb = dir.join("bomb.npz");
    std::fs::write(&bomb, &lie).unwrap();
    let err = Table::load(&bomb).unwrap_err().to_string();
    assert!(err.contains("declares 100"), "{err}");
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("portcullis-npz-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
