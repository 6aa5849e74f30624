//! The ONNX backend: a [`Classifier`] over an ONNX file, run by tract (pure
//! Rust, nothing native to install).
//!
//! It is shaped around what scikit-learn exports through skl2onnx look like,
//! since that is what tabular models in production are:
//!
//! - **Probabilities, not ZipMap.** skl2onnx ends classifiers in a `ZipMap`
//!   (a sequence of maps) by default. We read the probability tensor that
//!   feeds it, and with `zipmap=False` or `zipmap='columns'` the tensor named
//!   `probabilities`. Graph outputs are never trusted blindly: the chosen
//!   tensor must be `rows × classes`.
//! - **Labels by argmax.** The label output is never read (tract's binary
//!   `TreeEnsembleClassifier` label is wrong); [`Classifier::predict`]
//!   takes the argmax of the probabilities.
//! - **Classes** come from the ZipMap's or the classifier operator's
//!   `classlabels_*` attributes, else from the `classes` initializer an
//!   `ArrayFeatureExtractor` indexes (MLP exports), else `0..k`.
//! - **Missing operators** (`Scaler`, `TreeEnsembleRegressor`, binary
//!   gradient-boosting base values) are rewritten into standard ones
//!   beforehand (see `lower`). An operator tract still cannot run is named in
//!   the load error, with a pointer to the `ort` feature.
//! - **Activations.** Any tensor or node of the graph can be selected as an
//!   extra output; plans are built on first use and cached.

mod lower;
#[cfg(feature = "ort")]
mod ort_backend;
mod post;
mod svm;
mod trees;

#[cfg(feature = "ort")]
pub use ort_backend::OrtClassifier;

use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use tract_onnx::pb;
use tract_onnx::prelude::*;

use crate::classifier::{ClassLabel, Classifier, InputSignature, Matrix, RuntimeError};

/// The largest model file loaded, in bytes.
pub const MAX_MODEL_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Rows per inference call; larger batches are split.
pub const DEFAULT_BATCH_ROWS: usize = 4096;

/// How to read an ONNX classifier.
#[derive(Debug, Clone, Default)]
pub struct OnnxOptions {
    /// The tensor that holds class probabilities, when it cannot be found
    /// automatically (ZipMap input, `probabilities`, the only float output).
    pub probability_output: Option<String>,
    /// Rows per inference call (0 means [`DEFAULT_BATCH_ROWS`]).
    pub batch_rows: usize,
}

type Plan = Arc<TypedRunnableModel>;

/// One graph input: its name and how many feature columns it takes.
#[derive(Debug, Clone)]
struct InputSlot {
    name: String,
    width: usize,
    shape: Vec<usize>,
}

/// An ONNX classifier run by tract.
pub struct OnnxClassifier {
    origin: String,
    signature: InputSignature,
    classes: Vec<ClassLabel>,
    inputs: Vec<InputSlot>,
    probability_tensor: String,
    /// The tract plan; `None` when the native tree evaluator serves
    /// [`Classifier::predict_proba`] (built on demand for activations).
    plan: Option<Plan>,
    batch_rows: usize,
    /// The parsed graph before output selection, for activation plans.
    graph: InferenceModel,
    outlets_by_name: HashMap<String, OutletId>,
    node_outputs: BTreeMap<String, String>,
    activation_plans: Mutex<BTreeMap<String, Plan>>,
    /// The native evaluator, when the probabilities come straight from one
    /// tree ensemble over the input.
    native: Option<Native>,
}

impl std::fmt::Debug for OnnxClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxClassifier")
            .field("origin", &self.origin)
            .field("signature", &self.signature)
            .field("classes", &self.classes)
            .field("probability_tensor", &self.probability_tensor)
            .finish_non_exhaustive()
    }
}

fn load_err(origin: &str, message: impl Into<String>) -> RuntimeError {
    RuntimeError::Load {
        path: origin.to_string(),
        message: message.into(),
    }
}

impl OnnxClassifier {
    /// Loads an ONNX classifier from a file with default options.
    ///
    /// # Errors
    /// [`RuntimeError::Load`] when the file is unreadable, too large, not
    /// ONNX, has no usable probability output, or uses an operator tract
    /// cannot run (named in the message).
    pub fn load(path: &Path) -> Result<Self, RuntimeError> {
        Self::load_with(path, &OnnxOptions::default())
    }

    /// Loads an ONNX classifier from a file.
    ///
    /// # Errors
    /// As [`OnnxClassifier::load`].
    pub fn load_with(path: &Path, options: &OnnxOptions) -> Result<Self, RuntimeError> {
        let origin = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| load_err(&origin, format!("cannot read: {e}")))?;
        if meta.len() > MAX_MODEL_BYTES {
            return Err(load_err(
                &origin,
                format!(
                    "file is {} bytes, over the {MAX_MODEL_BYTES}-byte limit",
                    meta.len()
                ),
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| load_err(&origin, format!("cannot read: {e}")))?;
        let dir = path.parent().map(|p| p.display().to_string());
        Self::from_bytes_in(&bytes, &origin, dir.as_deref(), options)
    }

    /// Loads an ONNX classifier from bytes read from a file in `dir`
    /// (external tensor data resolves against it); `origin` names it in
    /// errors.
    ///
    /// # Errors
    /// As [`OnnxClassifier::load`].
    pub fn from_bytes_in_dir(
        bytes: &[u8],
        origin: &str,
        dir: &Path,
        options: &OnnxOptions,
    ) -> Result<Self, RuntimeError> {
        let dir = dir.display().to_string();
        Self::from_bytes_in(bytes, origin, Some(&dir), options)
    }

    /// Loads an ONNX classifier from bytes; `origin` names it in errors.
    ///
    /// # Errors
    /// As [`OnnxClassifier::load`].
    pub fn from_bytes(bytes: &[u8], origin: &str, options: &OnnxOptions) -> Result<Self, RuntimeError> {
        Self::from_bytes_in(bytes, origin, None, options)
    }

    fn from_bytes_in(
        bytes: &[u8],
        origin: &str,
        model_dir: Option<&str>,
        options: &OnnxOptions,
    ) -> Result<Self, RuntimeError> {
        let onnx = tract_onnx::onnx();
        let mut reader = bytes;
        let mut proto = onnx
            .proto_model_for_read(&mut reader)
            .map_err(|e| load_err(origin, format!("not a readable ONNX model: {e}")))?;
        let graph = proto
            .graph
            .as_mut()
            .ok_or_else(|| load_err(origin, "the ONNX model has no graph"))?;
        let found = find_probabilities(graph, options.probability_output.as_deref())
            .map_err(|m| load_err(origin, m))?;
        let initializers: BTreeSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
        let input_names: Vec<String> = graph
            .input
            .iter()
            .filter(|i| !initializers.contains(i.name.as_str()))
            .map(|i| i.name.clone())
            .collect();
        let mut slots = Vec::new();
        for name in &input_names {
            let vi = graph.input.iter().find(|i| &i.name == name);
            slots.push(input_slot(vi, name).map_err(|m| load_err(origin, m))?);
        }
        let native = native_operator(graph, &found.tensor, &slots).map_err(|m| load_err(origin, m))?;
        lower::lower(graph).map_err(|m| load_err(origin, m))?;
        if native.is_none() {
            check_operators(graph, &found.tensor, &onnx).map_err(|m| load_err(origin, m))?;
        }
        let node_outputs: BTreeMap<String, String> = graph
            .node
            .iter()
            .filter(|n| !n.name.is_empty())
            .filter_map(|n| n.output.first().map(|o| (n.name.clone(), o.clone())))
            .collect();

        let parsed = onnx
            .parse(&proto, model_dir)
            .map_err(|e| load_err(origin, format!("tract cannot parse the graph: {e:#}")))?;
        let mut graph_model = parsed.model;
        let outlets_by_name = parsed.outlets_by_name;
        set_input_facts(&mut graph_model, &slots).map_err(|e| load_err(origin, format!("{e:#}")))?;
        let outlet = *outlets_by_name.get(&found.tensor).ok_or_else(|| {
            load_err(
                origin,
                format!("tensor '{}' is not in the parsed graph", found.tensor),
            )
        })?;
        let plan = if native.is_some() {
            None
        } else {
            Some(build_plan(&graph_model, &[outlet]).map_err(|e| {
            load_err(
                origin,
                format!(
                    "tract cannot run the graph up to '{}': {e:#} (try building portcullis with the `ort` feature)",
                    found.tensor
                ),
            )
        })?)
        };
        let n_features = slots.iter().map(|s| s.width).sum();
        let signature = InputSignature {
            n_features,
            names: if slots.len() > 1 {
                slots.iter().map(|s| s.name.clone()).collect()
            } else {
                Vec::new()
            },
            shape: match slots.as_slice() {
                [one] => Some(one.shape.clone()),
                _ => None,
            },
        };
        let me = OnnxClassifier {
            origin: origin.to_string(),
            signature,
            classes: found.classes.unwrap_or_default(),
            inputs: slots,
            probability_tensor: found.tensor,
            plan,
            batch_rows: if options.batch_rows == 0 {
                DEFAULT_BATCH_ROWS
            } else {
                options.batch_rows
            },
            graph: graph_model,
            outlets_by_name,
            node_outputs,
            activation_plans: Mutex::new(BTreeMap::new()),
            native,
        };
        me.finish_classes()
    }

    /// Runs one row through the model to learn the class count when no
    /// label list was declared, and checks the output shape once up front.
    fn finish_classes(mut self) -> Result<Self, RuntimeError> {
        let probe = Matrix::zeros(1, self.signature.n_features);
        let cols = match &self.plan {
            Some(plan) => self.run_outputs(plan, &probe)?.first().map_or(0, |m| m.cols),
            None if self.classes.is_empty() => 0,
            None => self.predict_proba(&probe)?.cols,
        };
        if self.classes.is_empty() {
            self.classes = (0..cols).map(|i| ClassLabel::Int(i as i64)).collect();
        }
        if cols != self.classes.len() {
            return Err(load_err(
                &self.origin,
                format!(
                    "probability tensor '{}' has {cols} columns but the model declares {} classes",
                    self.probability_tensor,
                    self.classes.len()
                ),
            ));
        }
        Ok(self)
    }

    /// The tensor read as class probabilities.
    pub fn probability_tensor(&self) -> &str {
        &self.probability_tensor
    }

    /// Names of the graph's tensors that [`Classifier::activations`] accepts
    /// (node outputs and node names), sorted.
    pub fn tensor_names(&self) -> Vec<String> {
        let mut names: BTreeSet<String> = self.outlets_by_name.keys().cloned().collect();
        names.extend(self.node_outputs.keys().cloned());
        names.into_iter().collect()
    }

    /// The width and finiteness checks every inference path applies.
    fn check(&self, x: &Matrix) -> Result<(), RuntimeError> {
        if x.cols != self.signature.n_features {
            return Err(RuntimeError::Shape(format!(
                "{} takes {} features per row, got {}",
                self.origin, self.signature.n_features, x.cols
            )));
        }
        if let Some((i, _)) = x.data.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(RuntimeError::Inference(format!(
                "row {}, column {} is not a finite number",
                i / x.cols.max(1),
                i % x.cols.max(1)
            )));
        }
        Ok(())
    }

    fn to_inputs(&self, x: &Matrix) -> Result<TVec<TValue>, RuntimeError> {
        self.check(x)?;
        let mut out = TVec::new();
        let mut start = 0;
        for slot in &self.inputs {
            let mut data = Vec::with_capacity(x.rows * slot.width);
            for r in 0..x.rows {
                data.extend_from_slice(x.row(r).get(start..start + slot.width).unwrap_or_default());
            }
            let mut shape = vec![x.rows];
            shape.extend(&slot.shape);
            let t = Tensor::from_shape(&shape, &data).map_err(|e| RuntimeError::Shape(format!("{e}")))?;
            out.push(t.into());
            start += slot.width;
        }
        Ok(out)
    }

    /// Runs `plan` batch by batch and returns each output as a matrix of
    /// `rows × (product of the non-batch dims)`.
    fn run_outputs(&self, plan: &Plan, x: &Matrix) -> Result<Vec<Matrix>, RuntimeError> {
        let n_out = plan.model().output_outlets().map(|o| o.len()).unwrap_or(0);
        let mut results: Vec<Matrix> = Vec::new();
        let mut row = 0;
        while row < x.rows || (x.rows == 0 && results.is_empty()) {
            let end = (row + self.batch_rows).min(x.rows);
            let batch = Matrix {
                data: x
                    .data
                    .get(row * x.cols..end * x.cols)
                    .unwrap_or_default()
                    .to_vec(),
                rows: end - row,
                cols: x.cols,
            };
            let outputs = plan
                .run(self.to_inputs(&batch)?)
                .map_err(|e| RuntimeError::Inference(format!("{}: {e:#}", self.origin)))?;
            if outputs.len() != n_out {
                return Err(RuntimeError::Inference(format!(
                    "{}: expected {n_out} outputs, got {}",
                    self.origin,
                    outputs.len()
                )));
            }
            for (i, t) in outputs.iter().enumerate() {
                let m = tensor_to_matrix(t, batch.rows)?;
                match results.get_mut(i) {
                    Some(acc) => {
                        if acc.cols != m.cols {
                            return Err(RuntimeError::Inference(
                                "output width changed between batches".into(),
                            ));
                        }
                        acc.data.extend(m.data);
                        acc.rows += m.rows;
                    }
                    None => results.push(m),
                }
            }
            if x.rows == 0 {
                break;
            }
            row = end;
        }
        Ok(results)
    }

    fn activation_plan(&self, node: &str) -> Result<Plan, RuntimeError> {
        let mut cache = self
            .activation_plans
            .lock()
            .map_err(|_| RuntimeError::Inference("activation cache poisoned".into()))?;
        if let Some(p) = cache.get(node) {
            return Ok(p.clone());
        }
        let tensor = if self.outlets_by_name.contains_key(node) {
            node.to_string()
        } else if let Some(t) = self.node_outputs.get(node) {
            t.clone()
        } else {
            let names = self.tensor_names();
            let shown: Vec<&str> = names.iter().take(40).map(String::as_str).collect();
            return Err(RuntimeError::Unsupported(format!(
                "{} has no node or tensor named '{node}' (known: {}{})",
                self.origin,
                shown.join(", "),
                if names.len() > shown.len() { ", …" } else { "" }
            )));
        };
        let outlet = *self.outlets_by_name.get(&tensor).ok_or_else(|| {
            RuntimeError::Unsupported(format!("tensor '{tensor}' is not computed by the graph"))
        })?;
        let plan = build_plan(&self.graph, &[outlet])
            .map_err(|e| RuntimeError::Unsupported(format!("cannot compute '{node}' with tract: {e:#}")))?;
        cache.insert(node.to_string(), plan.clone());
        Ok(plan)
    }
}

impl Classifier for OnnxClassifier {
    fn signature(&self) -> &InputSignature {
        &self.signature
    }

    fn classes(&self) -> &[ClassLabel] {
        &self.classes
    }

    fn predict_proba(&self, x: &Matrix) -> Result<Matrix, RuntimeError> {
        if let Some(t) = &self.native {
            // The same width and finiteness checks as the tract path, without
            // copying the rows into tensors the native evaluator never reads.
            self.check(x)?;
            let k = self.classes.len();
            let mut out = Matrix::zeros(x.rows, k);
            // Rows are independent: blocks of them in parallel, each row's
            // arithmetic unchanged (results do not depend on the split).
            const BLOCK: usize = 256;
            let cols = x.cols.max(1);
            out.data
                .par_chunks_mut(BLOCK * k.max(1))
                .zip(x.data.par_chunks(BLOCK * cols))
                .try_for_each(|(o, rows)| {
                    for (orow, row) in o.chunks_mut(k.max(1)).zip(rows.chunks(cols)) {
                        t.eval_row(row, orow)?;
                    }
                    Ok::<(), String>(())
                })
                .map_err(|e| RuntimeError::Inference(format!("{}: {e}", self.origin)))?;
            return Ok(out);
        }
        let plan = self
            .plan
            .as_ref()
            .ok_or_else(|| RuntimeError::Inference("no inference plan".into()))?;
        let out = self.run_outputs(plan, x)?;
        let m = out
            .into_iter()
            .next()
            .ok_or_else(|| RuntimeError::Inference("the model produced no output".into()))?;
        if m.rows != x.rows || m.cols != self.classes.len() {
            return Err(RuntimeError::Inference(format!(
                "{}: probabilities are {}×{}, expected {}×{}",
                self.origin,
                m.rows,
                m.cols,
                x.rows,
                self.classes.len()
            )));
        }
        if let Some(i) = m.data.iter().position(|v| !v.is_finite()) {
            return Err(RuntimeError::Inference(format!(
                "{}: probability for row {} is not finite",
                self.origin,
                i / m.cols.max(1)
            )));
        }
        Ok(m)
    }

    fn activations(&self, node: &str, x: &Matrix) -> Result<Matrix, RuntimeError> {
        let plan = self.activation_plan(node)?;
        self.run_outputs(&plan, x)?
            .into_iter()
            .next()
            .ok_or_else(|| RuntimeError::Inference(format!("node '{node}' produced no output")))
    }
}

/// An operator evaluated natively rather than by tract.
#[derive(Debug, Clone)]
enum Native {
    Trees(trees::TreeEnsemble),
    Svm(svm::Svm),
}

impl Native {
    fn eval_row(&self, row: &[f32], out: &mut [f32]) -> Result<(), String> {
        match self {
            Native::Trees(t) => t.eval_row(row, out),
            Native::Svm(s) => s.eval_row(row, out),
        }
    }
}

/// The tree ensemble or SVM that alone produces `tensor` from the single
/// graph input (through `Cast`/`Identity` only), parsed for native
/// evaluation.
fn native_operator(
    graph: &pb::GraphProto,
    tensor: &str,
    slots: &[InputSlot],
) -> Result<Option<Native>, String> {
    let [slot] = slots else { return Ok(None) };
    let mut t = tensor.to_string();
    for _ in 0..16 {
        let Some(n) = producer(graph, &t) else {
            return Ok(None);
        };
        match n.op_type.as_str() {
            "Identity" | "Cast" => t = n.input.first().cloned().unwrap_or_default(),
            "TreeEnsembleClassifier" => {
                if n.output.get(1) != Some(&t) || n.input.first() != Some(&slot.name) {
                    return Ok(None);
                }
                let Some(classes) = lower::class_label_attrs(n) else {
                    return Ok(None);
                };
                let ens = trees::TreeEnsemble::from_node(n, classes.len())
                    .map_err(|e| format!("TreeEnsembleClassifier: {e}"))?;
                if ens.min_features > slot.width {
                    return Err(format!(
                        "the trees read feature {} but the input has {} features",
                        ens.min_features, slot.width
                    ));
                }
                return Ok(Some(Native::Trees(ens)));
            }
            "SVMClassifier" => {
                let Some(input) = n.input.first() else {
                    return Ok(None);
                };
                // The graph input, or a Scaler over it (a StandardScaler pipeline).
                let scaler = match producer(graph, input) {
                    None if input == &slot.name => None,
                    Some(p) if p.op_type == "Scaler" && p.input.first() == Some(&slot.name) => Some(p),
                    _ => return Ok(None),
                };
                let Some(classes) = lower::class_label_attrs(n) else {
                    return Ok(None);
                };
                if n.output.get(1) != Some(&t) {
                    return Ok(None);
                }
                let mut svm = svm::Svm::from_node(n, classes.len(), slot.width)
                    .map_err(|e| format!("SVMClassifier: {e}"))?;
                if let Some(p) = scaler {
                    svm = svm.with_scaler(p).map_err(|e| format!("SVMClassifier: {e}"))?;
                }
                return Ok(Some(Native::Svm(svm)));
            }
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// Declares every input as f32 `[N, ...]` with a symbolic batch size, so
/// one optimised plan serves every batch.
fn set_input_facts(model: &mut InferenceModel, slots: &[InputSlot]) -> TractResult<()> {
    let n = model.symbols.sym("N");
    let inputs = model.input_outlets()?.to_vec();
    for (i, outlet) in inputs.iter().enumerate() {
        let name = model.node(outlet.node).name.clone();
        let slot = slots
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| TractError::msg(format!("graph input '{name}' is not a declared input")))?;
        let mut dims: TVec<TDim> = tvec![n.to_dim()];
        dims.extend(slot.shape.iter().map(|d| d.to_dim()));
        model.set_input_fact(i, TypedFact::dt_shape(f32::datum_type(), dims).into())?;
    }
    Ok(())
}

fn build_plan(model: &InferenceModel, outputs: &[OutletId]) -> TractResult<Plan> {
    let mut m = model.clone();
    m.select_output_outlets(outputs)?;
    m.into_optimized()?.into_runnable()
}

fn tensor_to_matrix(t: &Tensor, rows: usize) -> Result<Matrix, RuntimeError> {
    let t = t
        .cast_to::<f32>()
        .map_err(|e| RuntimeError::Inference(format!("output is not numeric: {e}")))?;
    let view = t
        .to_plain_array_view::<f32>()
        .map_err(|e| RuntimeError::Inference(format!("cannot read output: {e}")))?;
    let shape = view.shape().to_vec();
    let data: Vec<f32> = view.iter().copied().collect();
    let batch = shape.first().copied().unwrap_or(1);
    if shape.is_empty() || batch != rows {
        return Err(RuntimeError::Inference(format!(
            "output shape {shape:?} does not start with the batch size {rows}"
        )));
    }
    let cols = data
        .len()
        .checked_div(rows)
        .unwrap_or_else(|| shape.iter().skip(1).product());
    Matrix::new(data, rows, cols)
}

/// The probability tensor and the class labels, as found in the graph.
struct Found {
    tensor: String,
    classes: Option<Vec<ClassLabel>>,
}

fn producer<'a>(graph: &'a pb::GraphProto, tensor: &str) -> Option<&'a pb::NodeProto> {
    graph.node.iter().find(|n| n.output.iter().any(|o| o == tensor))
}

fn is_float_output(vi: &pb::ValueInfoProto) -> bool {
    match vi.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(pb::type_proto::Value::TensorType(t)) => {
            t.elem_type == lower::DT_FLOAT || t.elem_type == lower::DT_DOUBLE
        }
        _ => false,
    }
}

fn find_probabilities(graph: &pb::GraphProto, explicit: Option<&str>) -> Result<Found, String> {
    let zipmap = graph.node.iter().find(|n| n.op_type == "ZipMap");
    let tensor =
        if let Some(name) = explicit {
            let exists = graph.node.iter().any(|n| n.output.iter().any(|o| o == name))
                || graph.input.iter().any(|i| i.name == name);
            if !exists {
                return Err(format!("no tensor named '{name}' in the graph"));
            }
            name.to_string()
        } else if let Some(z) = zipmap {
            z.input
                .first()
                .cloned()
                .ok_or_else(|| "the ZipMap node has no input".to_string())?
        } else if graph
            .node
            .iter()
            .any(|n| n.output.iter().any(|o| o == "probabilities"))
        {
            // skl2onnx's name with zipmap=False, and the tensor the per-class
            // outputs of zipmap='columns' are sliced from.
            "probabilities".to_string()
        } else {
            let floats: Vec<&pb::ValueInfoProto> =
                graph.output.iter().filter(|o| is_float_output(o)).collect();
            let prob: Vec<&&pb::ValueInfoProto> = floats
                .iter()
                .filter(|o| o.name.to_ascii_lowercase().contains("prob"))
                .collect();
            match (prob.as_slice(), floats.as_slice()) {
                ([one], _) => one.name.clone(),
                (_, [one]) => one.name.clone(),
                _ => {
                    return Err(format!(
                    "cannot tell which output holds class probabilities (outputs: {}); name it explicitly",
                    graph.output.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(", ")
                ))
                }
            }
        };
    Ok(Found {
        classes: find_classes(graph, &tensor, zipmap),
        tensor,
    })
}

fn find_classes(
    graph: &pb::GraphProto,
    tensor: &str,
    zipmap: Option<&pb::NodeProto>,
) -> Option<Vec<ClassLabel>> {
    if let Some(c) = zipmap.and_then(lower::class_label_attrs) {
        return Some(c);
    }
    // The classifier operator upstream of the probabilities.
    let mut seen = BTreeSet::new();
    let mut stack = vec![tensor.to_string()];
    while let Some(t) = stack.pop() {
        if !seen.insert(t.clone()) || seen.len() > 10_000 {
            continue;
        }
        if let Some(n) = producer(graph, &t) {
            if let Some(c) = lower::class_label_attrs(n) {
                return Some(c);
            }
            stack.extend(n.input.iter().cloned());
        }
    }
    // skl2onnx's MLP and some linear exports: label = ArrayFeatureExtractor(classes, argmax).
    graph
        .node
        .iter()
        .filter(|n| n.op_type == "ArrayFeatureExtractor")
        .filter_map(|n| n.input.first())
        .filter_map(|name| graph.initializer.iter().find(|t| &t.name == name))
        .find_map(lower::labels_from_tensor)
}

fn input_slot(vi: Option<&pb::ValueInfoProto>, name: &str) -> Result<InputSlot, String> {
    let Some(pb::type_proto::Value::TensorType(t)) =
        vi.and_then(|v| v.r#type.as_ref()).and_then(|t| t.value.as_ref())
    else {
        return Err(format!("input '{name}' is not a tensor"));
    };
    if t.elem_type != lower::DT_FLOAT {
        return Err(format!(
            "input '{name}' has ONNX element type {} (only float32 inputs are supported; export with FloatTensorType)",
            t.elem_type
        ));
    }
    let dims = t.shape.as_ref().map(|s| s.dim.as_slice()).unwrap_or_default();
    let mut shape = Vec::new();
    for (i, d) in dims.iter().enumerate().skip(1) {
        match d.value {
            Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)) if v > 0 => {
                shape.push(usize::try_from(v).map_err(|_| format!("input '{name}' dim {i} is too large"))?);
            }
            _ => {
                return Err(format!(
                    "input '{name}' has an unknown size in dimension {i}; only the batch dimension may vary"
                ))
            }
        }
    }
    if dims.is_empty() {
        return Err(format!("input '{name}' has no declared shape"));
    }
    let width = shape
        .iter()
        .try_fold(1usize, |a, &b| a.checked_mul(b))
        .ok_or("input too large")?;
    Ok(InputSlot {
        name: name.to_string(),
        width,
        shape,
    })
}

/// Fails with the operator's name when an ancestor of `tensor` is an
/// operator tract does not know.
fn check_operators(graph: &pb::GraphProto, tensor: &str, onnx: &tract_onnx::Onnx) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![tensor.to_string()];
    let mut missing = BTreeSet::new();
    while let Some(t) = stack.pop() {
        if !seen.insert(t.clone()) {
            continue;
        }
        if let Some(n) = producer(graph, &t) {
            if !onnx.op_register.0.contains_key(&n.op_type) {
                let domain = if n.domain.is_empty() {
                    "ai.onnx"
                } else {
                    n.domain.as_str()
                };
                missing.insert(format!("{} (domain {domain})", n.op_type));
            }
            stack.extend(n.input.iter().cloned());
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "operator {} is not supported by the tract backend; build portcullis with the `ort` feature to run it with onnxruntime",
            missing.into_iter().collect::<Vec<_>>().join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `TreeEnsembleRegressor` has no classifier to carry it, so its
    /// lowering is checked on the raw graph output against onnxruntime.
    #[test]
    fn tree_regressor_lowering_matches_onnxruntime() {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sklearn-onnx");
        let expected: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
        let want: Vec<f64> = serde_json::from_value(expected["gbr_bc.onnx"]["values"].clone()).unwrap();
        let onnx = tract_onnx::onnx();
        let bytes = std::fs::read(dir.join("gbr_bc.onnx")).unwrap();
        let mut proto = onnx.proto_model_for_read(&mut bytes.as_slice()).unwrap();
        let graph = proto.graph.as_mut().unwrap();
        let slot = input_slot(graph.input.first(), "X").unwrap();
        lower::lower(graph).unwrap();
        assert!(graph.node.iter().all(|n| n.op_type != "TreeEnsembleRegressor"));
        let parsed = onnx.parse(&proto, None).unwrap();
        let mut model = parsed.model;
        set_input_facts(&mut model, std::slice::from_ref(&slot)).unwrap();
        let plan = build_plan(&model, &[parsed.outlets_by_name["variable"]]).unwrap();
        let table = crate::Table::load(&dir.join("breast_cancer.csv")).unwrap();
        let roles = crate::Roles {
            label: Some("label".into()),
            ..Default::default()
        };
        let sig = InputSignature {
            n_features: 30,
            ..Default::default()
        };
        let x = table.prepare(&roles, &sig).unwrap().x;
        let t = Tensor::from_shape(&[x.rows, x.cols], &x.data).unwrap();
        let out = plan.run(tvec!(t.into())).unwrap();
        let got = tensor_to_matrix(&out[0], x.rows).unwrap();
        assert_eq!(got.cols, 1);
        for (i, (g, w)) in got.data.iter().zip(&want).enumerate() {
            assert!((f64::from(*g) - w).abs() < 1e-5, "row {i}: {g} vs {w}");
        }
    }

    #[test]
    fn native_trees_agree_with_tract_on_forests_and_boosting() {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sklearn-onnx");
        for (file, data) in [
            ("rf_wine.zipmap.onnx", "wine.csv"),
            ("gb_bc.nozipmap.onnx", "breast_cancer.csv"),
            ("gb_iris_str.zipmap.onnx", "iris_str.csv"),
        ] {
            let m = OnnxClassifier::load(&dir.join(file)).unwrap();
            assert!(
                matches!(m.native, Some(Native::Trees(_))),
                "{file} should use the native evaluator"
            );
            let table = crate::Table::load(&dir.join(data)).unwrap();
            let roles = crate::Roles {
                label: Some("label".into()),
                ..Default::default()
            };
            let x = table.prepare(&roles, m.signature()).unwrap().x;
            let native = m.predict_proba(&x).unwrap();
            let plan = build_plan(&m.graph, &[m.outlets_by_name[&m.probability_tensor]]).unwrap();
            let tract = m.run_outputs(&plan, &x).unwrap().remove(0);
            for (a, b) in native.data.iter().zip(&tract.data) {
                assert!((a - b).abs() < 1e-5, "{file}: {a} vs {b}");
            }
        }
    }
}
