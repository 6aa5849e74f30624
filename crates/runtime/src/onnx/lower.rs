//! Rewrites ONNX-ML operators that tract lacks (or gets wrong) into
//! operators it runs, before the graph reaches tract.
//!
//! scikit-learn exports (skl2onnx) use a handful of `ai.onnx.ml` operators.
//! tract implements `LinearClassifier`, `Normalizer` and
//! `TreeEnsembleClassifier`, but not `Scaler` or `TreeEnsembleRegressor`, and
//! it rejects the single `base_values` entry skl2onnx writes for binary
//! gradient boosting. Rewriting at the protobuf level keeps us on tract's
//! public, stable surface (graphs of standard operators) instead of its
//! internal op API:
//!
//! - `Scaler` (`y = (x - offset) * scale`, ONNX-ML spec) becomes
//!   `Cast → Sub → Mul` with the offsets and scales as initializers.
//! - `TreeEnsembleRegressor` becomes a `TreeEnsembleClassifier` over the
//!   same trees (targets as classes) followed by a `Slice` that keeps the
//!   target columns; `AVERAGE` aggregation is folded into the leaf weights
//!   (the spec defines it as the sum divided by the number of trees).
//! - Classifiers with string labels get index labels: tract cannot build
//!   a string label output, and the label output is never read.
//! - A binary `TreeEnsembleClassifier` with one base value gets a second,
//!   zero base value. onnxruntime adds the single value to the one scored
//!   class and mirrors it into the other column; padding reproduces that
//!   exactly in tract's binary layout.

use std::collections::BTreeSet;

use tract_onnx::pb::{self, AttributeProto, NodeProto, TensorProto};

/// ONNX `AttributeProto.AttributeType` values used here.
const ATTR_FLOATS: i32 = 6;
const ATTR_INTS: i32 = 7;
const ATTR_INT: i32 = 2;
/// ONNX `TensorProto.DataType` values used here.
pub(crate) const DT_FLOAT: i32 = 1;
pub(crate) const DT_INT64: i32 = 7;
pub(crate) const DT_STRING: i32 = 8;
pub(crate) const DT_DOUBLE: i32 = 11;

/// An attribute by name.
pub(crate) fn attr<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

/// A string attribute's value.
pub(crate) fn attr_str(node: &NodeProto, name: &str) -> Option<String> {
    attr(node, name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
}

fn floats_attr(name: &str, v: Vec<f32>) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: ATTR_FLOATS,
        floats: v,
        ..Default::default()
    }
}

fn ints_attr(name: &str, v: Vec<i64>) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: ATTR_INTS,
        ints: v,
        ..Default::default()
    }
}

fn int_attr(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: ATTR_INT,
        i: v,
        ..Default::default()
    }
}

fn float_tensor(name: String, dims: Vec<i64>, data: Vec<f32>) -> TensorProto {
    TensorProto {
        name,
        dims,
        data_type: DT_FLOAT,
        float_data: data,
        ..Default::default()
    }
}

fn int_tensor(name: String, data: Vec<i64>) -> TensorProto {
    TensorProto {
        name,
        dims: vec![i64::try_from(data.len()).unwrap_or(i64::MAX)],
        data_type: DT_INT64,
        int64_data: data,
        ..Default::default()
    }
}

fn node(op: &str, domain: &str, name: String, inputs: Vec<String>, outputs: Vec<String>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        domain: domain.into(),
        name,
        input: inputs,
        output: outputs,
        ..Default::default()
    }
}

/// Allocates tensor names that collide with nothing in the graph.
struct Names {
    taken: BTreeSet<String>,
}

impl Names {
    fn new(graph: &pb::GraphProto) -> Self {
        let mut taken = BTreeSet::new();
        for n in &graph.node {
            taken.extend(n.output.iter().cloned());
            taken.insert(n.name.clone());
        }
        taken.extend(graph.initializer.iter().map(|t| t.name.clone()));
        taken.extend(graph.input.iter().map(|i| i.name.clone()));
        Names { taken }
    }

    fn fresh(&mut self, base: &str) -> String {
        let mut i = 0usize;
        loop {
            let candidate = format!("{base}__portcullis{i}");
            if self.taken.insert(candidate.clone()) {
                return candidate;
            }
            i += 1;
        }
    }
}

/// Rewrites the graph in place. Returns an error message naming the node
/// when an operator's attributes are outside what the rewrite supports.
pub(crate) fn lower(graph: &mut pb::GraphProto) -> Result<(), String> {
    let mut names = Names::new(graph);
    let old_nodes = std::mem::take(&mut graph.node);
    let mut new_nodes = Vec::with_capacity(old_nodes.len());
    for n in old_nodes {
        match n.op_type.as_str() {
            "Scaler" => lower_scaler(n, &mut names, graph, &mut new_nodes)?,
            "TreeEnsembleRegressor" => lower_tree_regressor(n, &mut names, graph, &mut new_nodes)?,
            "TreeEnsembleClassifier" => new_nodes.push(pad_binary_base_values(index_string_labels(n))),
            "LinearClassifier" => new_nodes.push(index_string_labels(n)),
            _ => new_nodes.push(n),
        }
    }
    graph.node = new_nodes;
    Ok(())
}

fn node_label(n: &NodeProto) -> String {
    if n.name.is_empty() {
        format!(
            "{} node producing '{}'",
            n.op_type,
            n.output.first().cloned().unwrap_or_default()
        )
    } else {
        format!("{} node '{}'", n.op_type, n.name)
    }
}

fn lower_scaler(
    n: NodeProto,
    names: &mut Names,
    graph: &mut pb::GraphProto,
    out: &mut Vec<NodeProto>,
) -> Result<(), String> {
    let (Some(input), Some(output)) = (n.input.first(), n.output.first()) else {
        return Err(format!("{} needs one input and one output", node_label(&n)));
    };
    let offset = attr(&n, "offset").map(|a| a.floats.clone()).unwrap_or_default();
    let scale = attr(&n, "scale").map(|a| a.floats.clone()).unwrap_or_default();
    let width = offset.len().max(scale.len()).max(1);
    let fit = |v: Vec<f32>, default: f32, what: &str| -> Result<Vec<f32>, String> {
        match v.len() {
            0 => Ok(vec![default; width]),
            1 => Ok(vec![v.first().copied().unwrap_or(default); width]),
            l if l == width => Ok(v),
            l => Err(format!(
                "{}: `{what}` has {l} values but the other vector has {width}",
                node_label(&n)
            )),
        }
    };
    let offset = fit(offset, 0.0, "offset")?;
    let scale = fit(scale, 1.0, "scale")?;
    let w = i64::try_from(width).map_err(|_| "scaler too wide".to_string())?;
    let off_name = names.fresh("scaler_offset");
    let scale_name = names.fresh("scaler_scale");
    graph
        .initializer
        .push(float_tensor(off_name.clone(), vec![1, w], offset));
    graph
        .initializer
        .push(float_tensor(scale_name.clone(), vec![1, w], scale));
    let cast_out = names.fresh("scaler_cast");
    let sub_out = names.fresh("scaler_centered");
    let mut cast = node(
        "Cast",
        "",
        names.fresh("scaler_cast_node"),
        vec![input.clone()],
        vec![cast_out.clone()],
    );
    cast.attribute.push(int_attr("to", i64::from(DT_FLOAT)));
    out.push(cast);
    out.push(node(
        "Sub",
        "",
        names.fresh("scaler_sub_node"),
        vec![cast_out, off_name],
        vec![sub_out.clone()],
    ));
    out.push(node(
        "Mul",
        "",
        names.fresh("scaler_mul_node"),
        vec![sub_out, scale_name],
        vec![output.clone()],
    ));
    Ok(())
}

fn lower_tree_regressor(
    n: NodeProto,
    names: &mut Names,
    graph: &mut pb::GraphProto,
    out: &mut Vec<NodeProto>,
) -> Result<(), String> {
    let label = node_label(&n);
    let (Some(input), Some(output)) = (n.input.first(), n.output.first()) else {
        return Err(format!("{label} needs one input and one output"));
    };
    let n_targets = attr(&n, "n_targets").map_or(1, |a| a.i);
    let n_targets = usize::try_from(n_targets)
        .ok()
        .filter(|t| (1..=1_000_000).contains(t))
        .ok_or_else(|| format!("{label}: n_targets {n_targets} is out of range"))?;
    let aggregate = attr_str(&n, "aggregate_function").unwrap_or_else(|| "SUM".into());
    let mut weights = attr(&n, "target_weights")
        .map(|a| a.floats.clone())
        .unwrap_or_default();
    match aggregate.as_str() {
        "SUM" => {}
        "AVERAGE" => {
            let trees: BTreeSet<i64> = attr(&n, "nodes_treeids")
                .map(|a| a.ints.iter().copied().collect())
                .unwrap_or_default();
            let count = trees.len().max(1) as f32;
            for w in &mut weights {
                *w /= count;
            }
        }
        other => {
            return Err(format!(
                "{label}: aggregate_function {other} is not supported by the tract backend (SUM and AVERAGE are); build with the `ort` feature"
            ))
        }
    }
    // tract's classifier lays out a binary result specially when it has
    // fewer than three classes; give it at least three so the score columns
    // are the raw per-target sums, then keep the first `n_targets`.
    let n_classes = n_targets.max(3);
    let mut base = attr(&n, "base_values")
        .map(|a| a.floats.clone())
        .unwrap_or_default();
    if !base.is_empty() && base.len() != n_targets {
        return Err(format!(
            "{label}: base_values has {} values for {n_targets} targets",
            base.len()
        ));
    }
    base.resize(n_classes, 0.0);
    let mut c = NodeProto {
        op_type: "TreeEnsembleClassifier".into(),
        domain: "ai.onnx.ml".into(),
        name: names.fresh("tree_regressor"),
        input: vec![input.clone()],
        ..Default::default()
    };
    for a in &n.attribute {
        let renamed = match a.name.as_str() {
            "target_ids" => "class_ids",
            "target_nodeids" => "class_nodeids",
            "target_treeids" => "class_treeids",
            "target_weights" | "n_targets" | "aggregate_function" | "base_values" => continue,
            name if name.starts_with("nodes_") || name == "post_transform" => name,
            // base_values_as_tensor, target_weights_as_tensor and others are
            // opset-3 tensor forms skl2onnx does not emit for float models.
            other => {
                return Err(format!(
                    "{label}: attribute '{other}' is not supported by the tract backend; build with the `ort` feature"
                ))
            }
        };
        let mut a = a.clone();
        a.name = renamed.into();
        c.attribute.push(a);
    }
    c.attribute.push(floats_attr("class_weights", weights));
    c.attribute.push(floats_attr("base_values", base));
    c.attribute.push(ints_attr(
        "classlabels_int64s",
        (0..i64::try_from(n_classes).unwrap_or(3)).collect(),
    ));
    let scores = names.fresh("tree_regressor_scores");
    let labels = names.fresh("tree_regressor_labels");
    c.output = vec![labels, scores.clone()];
    out.push(c);
    let starts = names.fresh("tree_regressor_starts");
    let ends = names.fresh("tree_regressor_ends");
    let axes = names.fresh("tree_regressor_axes");
    graph.initializer.push(int_tensor(starts.clone(), vec![0]));
    graph.initializer.push(int_tensor(
        ends.clone(),
        vec![i64::try_from(n_targets).unwrap_or(1)],
    ));
    graph.initializer.push(int_tensor(axes.clone(), vec![1]));
    out.push(node(
        "Slice",
        "",
        names.fresh("tree_regressor_slice"),
        vec![scores, starts, ends, axes],
        vec![output.clone()],
    ));
    Ok(())
}

/// tract cannot build the label output of a classifier with string labels.
/// Labels are never read from the graph (the classes were taken before
/// lowering), so string labels are replaced by their indices.
fn index_string_labels(mut n: NodeProto) -> NodeProto {
    if let Some(a) = n.attribute.iter_mut().find(|a| a.name == "classlabels_strings") {
        let count = i64::try_from(a.strings.len()).unwrap_or(0);
        *a = ints_attr("classlabels_int64s", (0..count).collect());
    }
    n
}

fn pad_binary_base_values(mut n: NodeProto) -> NodeProto {
    let n_classes = attr(&n, "classlabels_int64s")
        .map(|a| a.ints.len())
        .filter(|&l| l > 0)
        .or_else(|| attr(&n, "classlabels_strings").map(|a| a.strings.len()))
        .unwrap_or(0);
    if n_classes == 2 {
        if let Some(a) = n.attribute.iter_mut().find(|a| a.name == "base_values") {
            if a.floats.len() == 1 {
                a.floats.push(0.0);
            }
        }
    }
    n
}

/// Class labels declared as a `classlabels_*` attribute, if any.
pub(crate) fn class_label_attrs(n: &NodeProto) -> Option<Vec<crate::ClassLabel>> {
    if let Some(a) = attr(n, "classlabels_int64s").filter(|a| !a.ints.is_empty()) {
        return Some(a.ints.iter().map(|&i| crate::ClassLabel::Int(i)).collect());
    }
    if let Some(a) = attr(n, "classlabels_strings").filter(|a| !a.strings.is_empty()) {
        return Some(
            a.strings
                .iter()
                .map(|s| crate::ClassLabel::Str(String::from_utf8_lossy(s).into_owned()))
                .collect(),
        );
    }
    None
}

/// Labels stored in a 1-D int64 or string initializer (skl2onnx's MLP and
/// linear-model converters keep `classes` this way).
pub(crate) fn labels_from_tensor(t: &TensorProto) -> Option<Vec<crate::ClassLabel>> {
    match t.data_type {
        DT_INT64 if !t.int64_data.is_empty() => {
            Some(t.int64_data.iter().map(|&i| crate::ClassLabel::Int(i)).collect())
        }
        DT_INT64 if !t.raw_data.is_empty() && t.raw_data.len().is_multiple_of(8) => Some(
            t.raw_data
                .chunks_exact(8)
                .map(|c| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(c);
                    crate::ClassLabel::Int(i64::from_le_bytes(b))
                })
                .collect(),
        ),
        DT_STRING if !t.string_data.is_empty() => Some(
            t.string_data
                .iter()
                .map(|s| crate::ClassLabel::Str(String::from_utf8_lossy(s).into_owned()))
                .collect(),
        ),
        _ => None,
    }
}
