//! The optional onnxruntime backend (`ort` feature), for operators tract
//! cannot run (e.g. `SVMClassifier`). onnxruntime is loaded at run time
//! (`ORT_DYLIB_PATH`, e.g. the library inside the PyPI `onnxruntime` wheel),
//! so building needs no download. The graph is read the same way as for
//! tract: the probability tensor feeding ZipMap is added as a graph output
//! and read directly; labels are the argmax.

use std::path::Path;
use std::sync::Mutex;

use prost::Message;

use super::{find_probabilities, input_slot, load_err, MAX_MODEL_BYTES};
use crate::classifier::{ClassLabel, Classifier, InputSignature, Matrix, RuntimeError};

/// An ONNX classifier run by onnxruntime.
pub struct OrtClassifier {
    origin: String,
    session: Mutex<ort::session::Session>,
    input: String,
    output: String,
    signature: InputSignature,
    classes: Vec<ClassLabel>,
}

impl std::fmt::Debug for OrtClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtClassifier")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl OrtClassifier {
    /// Loads a single-input ONNX classifier into onnxruntime.
    ///
    /// # Errors
    /// [`RuntimeError::Load`] when the file is unreadable, not a single-input
    /// classifier with declared class labels, or onnxruntime cannot be
    /// loaded or rejects the graph.
    pub fn load(path: &Path) -> Result<Self, RuntimeError> {
        let origin = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| load_err(&origin, format!("cannot read: {e}")))?;
        if meta.len() > MAX_MODEL_BYTES {
            return Err(load_err(&origin, "file is over the size limit"));
        }
        let bytes = std::fs::read(path).map_err(|e| load_err(&origin, format!("cannot read: {e}")))?;
        let mut proto = tract_onnx::pb::ModelProto::decode(bytes.as_slice())
            .map_err(|e| load_err(&origin, format!("not a readable ONNX model: {e}")))?;
        let graph = proto
            .graph
            .as_mut()
            .ok_or_else(|| load_err(&origin, "no graph"))?;
        let found = find_probabilities(graph, None).map_err(|m| load_err(&origin, m))?;
        let inits: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
        let inputs: Vec<&tract_onnx::pb::ValueInfoProto> = graph
            .input
            .iter()
            .filter(|i| !inits.contains(&i.name.as_str()))
            .collect();
        let [input] = inputs.as_slice() else {
            return Err(load_err(
                &origin,
                "the ort backend takes models with one input tensor",
            ));
        };
        let slot = input_slot(Some(input), &input.name).map_err(|m| load_err(&origin, m))?;
        let classes = found
            .classes
            .ok_or_else(|| load_err(&origin, "the model declares no class labels"))?;
        if !graph.output.iter().any(|o| o.name == found.tensor) {
            graph.output.push(tract_onnx::pb::ValueInfoProto {
                name: found.tensor.clone(),
                ..Default::default()
            });
        }
        let buf = proto.encode_to_vec();
        let session = ort::session::Session::builder()
            .and_then(|b| b.commit_from_memory(&buf))
            .map_err(|e| {
                load_err(
                    &origin,
                    format!("onnxruntime: {e} (set ORT_DYLIB_PATH to libonnxruntime)"),
                )
            })?;
        Ok(OrtClassifier {
            origin,
            session: Mutex::new(session),
            input: slot.name,
            output: found.tensor,
            signature: InputSignature {
                n_features: slot.width,
                names: Vec::new(),
                shape: Some(slot.shape),
            },
            classes,
        })
    }
}

impl Classifier for OrtClassifier {
    fn signature(&self) -> &InputSignature {
        &self.signature
    }

    fn classes(&self) -> &[ClassLabel] {
        &self.classes
    }

    fn predict_proba(&self, x: &Matrix) -> Result<Matrix, RuntimeError> {
        if x.cols != self.signature.n_features {
            return Err(RuntimeError::Shape(format!(
                "{} takes {} features per row, got {}",
                self.origin, self.signature.n_features, x.cols
            )));
        }
        let err = |e: ort::Error| RuntimeError::Inference(format!("{}: {e}", self.origin));
        let tensor = ort::value::Tensor::from_array(([x.rows, x.cols], x.data.clone())).map_err(err)?;
        let mut session = self
            .session
            .lock()
            .map_err(|_| RuntimeError::Inference("the session lock is poisoned".into()))?;
        let outputs = session
            .run(ort::inputs![self.input.as_str() => tensor])
            .map_err(err)?;
        let value = outputs
            .get(self.output.as_str())
            .ok_or_else(|| RuntimeError::Inference(format!("no output '{}'", self.output)))?;
        let (_, data) = value.try_extract_tensor::<f32>().map_err(err)?;
        let k = self.classes.len();
        if data.len() != x.rows * k || data.iter().any(|v| !v.is_finite()) {
            return Err(RuntimeError::Inference(format!(
                "{}: probabilities are not {}×{k} finite values",
                self.origin, x.rows
            )));
        }
        Matrix::new(data.to_vec(), x.rows, k)
    }
}
