//! A native evaluator for `TreeEnsembleClassifier`, the operator behind
//! every scikit-learn forest and gradient-boosting export.
//!
//! tract runs the operator, but finds each leaf's votes by skipping from the
//! start of the ensemble's leaf table, which makes a forest over thousands of
//! rows take tens of seconds. When a classifier's probabilities come straight
//! from one tree ensemble over the graph input, we evaluate it here instead,
//! following the ONNX-ML definition and onnxruntime's binary convention:
//! with two classes and votes for class 0 only, the single score `s` (plus
//! the first base value) becomes `[1 − t(s), t(s)]` for the post-transform
//! `t`. Every index is validated when the ensemble is built, and a walk is
//! bounded by the tree's size, so a hostile file cannot loop or read out of
//! bounds.

use tract_onnx::pb::NodeProto;

use super::lower::attr;
use super::post::Post;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Leq,
    Lt,
    Gte,
    Gt,
    Eq,
    Neq,
    Leaf,
}

#[derive(Debug, Clone)]
struct Node {
    mode: Mode,
    feature: usize,
    value: f32,
    yes: usize,
    no: usize,
    nan_yes: bool,
    votes: Vec<(usize, f32)>,
}

/// A parsed, validated tree ensemble classifier.
#[derive(Debug, Clone)]
pub(crate) struct TreeEnsemble {
    trees: Vec<Vec<Node>>,
    n_classes: usize,
    base: Vec<f32>,
    post: Post,
    binary_single: bool,
    /// Features the trees read: rows must be at least this wide.
    pub(crate) min_features: usize,
}

fn ints(n: &NodeProto, name: &str) -> Vec<i64> {
    attr(n, name).map(|a| a.ints.clone()).unwrap_or_default()
}

fn floats(n: &NodeProto, name: &str) -> Vec<f32> {
    attr(n, name).map(|a| a.floats.clone()).unwrap_or_default()
}

fn index(v: i64, what: &str) -> Result<usize, String> {
    usize::try_from(v).map_err(|_| format!("{what} {v} is negative"))
}

impl TreeEnsemble {
    /// Parses a `TreeEnsembleClassifier` node with `n_classes` labels.
    pub(crate) fn from_node(n: &NodeProto, n_classes: usize) -> Result<Self, String> {
        let tree_ids = ints(n, "nodes_treeids");
        let node_ids = ints(n, "nodes_nodeids");
        let features = ints(n, "nodes_featureids");
        let values = floats(n, "nodes_values");
        let yes = ints(n, "nodes_truenodeids");
        let no = ints(n, "nodes_falsenodeids");
        let nan = ints(n, "nodes_missing_value_tracks_true");
        let modes: Vec<String> = attr(n, "nodes_modes")
            .map(|a| {
                a.strings
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let count = tree_ids.len();
        if count == 0 {
            return Err("the ensemble has no nodes".into());
        }
        for (name, len) in [
            ("nodes_nodeids", node_ids.len()),
            ("nodes_featureids", features.len()),
            ("nodes_values", values.len()),
            ("nodes_truenodeids", yes.len()),
            ("nodes_falsenodeids", no.len()),
            ("nodes_modes", modes.len()),
        ] {
            if len != count {
                return Err(format!("{name} has {len} entries for {count} nodes"));
            }
        }
        let n_trees = tree_ids.iter().copied().max().map_or(0, |m| m + 1);
        let n_trees = index(n_trees, "tree id")?;
        if n_trees > count {
            return Err("tree ids are not dense".into());
        }
        let mut sizes = vec![0usize; n_trees];
        for (&t, &id) in tree_ids.iter().zip(&node_ids) {
            let (t, id) = (index(t, "tree id")?, index(id, "node id")?);
            if id >= count {
                return Err(format!("node id {id} is out of range"));
            }
            if let Some(s) = sizes.get_mut(t) {
                *s = (*s).max(id + 1);
            }
        }
        let empty = Node {
            mode: Mode::Leaf,
            feature: 0,
            value: 0.0,
            yes: 0,
            no: 0,
            nan_yes: false,
            votes: Vec::new(),
        };
        let mut trees: Vec<Vec<Node>> = sizes.iter().map(|&s| vec![empty.clone(); s]).collect();
        let mut min_features = 0;
        for i in 0..count {
            let t = index(tree_ids.get(i).copied().unwrap_or(0), "tree id")?;
            let id = index(node_ids.get(i).copied().unwrap_or(0), "node id")?;
            let mode = match modes.get(i).map(String::as_str) {
                Some("BRANCH_LEQ") => Mode::Leq,
                Some("BRANCH_LT") => Mode::Lt,
                Some("BRANCH_GTE") => Mode::Gte,
                Some("BRANCH_GT") => Mode::Gt,
                Some("BRANCH_EQ") => Mode::Eq,
                Some("BRANCH_NEQ") => Mode::Neq,
                Some("LEAF") => Mode::Leaf,
                other => return Err(format!("unknown node mode {other:?}")),
            };
            let size = sizes.get(t).copied().unwrap_or(0);
            let node = Node {
                mode,
                feature: index(features.get(i).copied().unwrap_or(0), "feature id")?,
                value: values.get(i).copied().unwrap_or(0.0),
                yes: index(yes.get(i).copied().unwrap_or(0), "true node id")?,
                no: index(no.get(i).copied().unwrap_or(0), "false node id")?,
                nan_yes: nan.get(i).is_some_and(|&v| v != 0),
                votes: Vec::new(),
            };
            if mode != Mode::Leaf {
                if node.yes >= size || node.no >= size {
                    return Err(format!("tree {t} node {id} points outside the tree"));
                }
                min_features = min_features.max(node.feature + 1);
            }
            if let Some(slot) = trees.get_mut(t).and_then(|tr| tr.get_mut(id)) {
                *slot = node;
            }
        }
        let c_trees = ints(n, "class_treeids");
        let c_nodes = ints(n, "class_nodeids");
        let c_ids = ints(n, "class_ids");
        let c_w = floats(n, "class_weights");
        if c_nodes.len() != c_trees.len() || c_ids.len() != c_trees.len() || c_w.len() != c_trees.len() {
            return Err("class_* attributes differ in length".into());
        }
        let mut only_class0 = true;
        for i in 0..c_trees.len() {
            let t = index(c_trees.get(i).copied().unwrap_or(0), "class tree id")?;
            let id = index(c_nodes.get(i).copied().unwrap_or(0), "class node id")?;
            let class = index(c_ids.get(i).copied().unwrap_or(0), "class id")?;
            if class >= n_classes {
                return Err(format!(
                    "class id {class} is out of range for {n_classes} classes"
                ));
            }
            only_class0 &= class == 0;
            let node = trees
                .get_mut(t)
                .and_then(|tr| tr.get_mut(id))
                .ok_or_else(|| format!("a vote names tree {t} node {id}, which does not exist"))?;
            node.votes.push((class, c_w.get(i).copied().unwrap_or(0.0)));
        }
        let post = Post::from_node(n)?;
        Ok(TreeEnsemble {
            trees,
            n_classes,
            base: floats(n, "base_values"),
            post,
            binary_single: n_classes == 2 && only_class0,
            min_features,
        })
    }

    fn leaf<'a>(tree: &'a [Node], row: &[f32]) -> Option<&'a Node> {
        let mut id = 0usize;
        // A well-formed tree reaches a leaf in fewer steps than it has nodes.
        for _ in 0..=tree.len() {
            let node = tree.get(id)?;
            if node.mode == Mode::Leaf {
                return Some(node);
            }
            let x = row.get(node.feature).copied().unwrap_or(f32::NAN);
            let go_yes = if x.is_nan() {
                node.nan_yes
            } else {
                match node.mode {
                    Mode::Leaf => return Some(node),
                    Mode::Leq => x <= node.value,
                    Mode::Lt => x < node.value,
                    Mode::Gte => x >= node.value,
                    Mode::Gt => x > node.value,
                    Mode::Eq => x == node.value,
                    Mode::Neq => x != node.value,
                }
            };
            id = if go_yes { node.yes } else { node.no };
        }
        None
    }

    /// Probabilities for one row, written into `out` (`n_classes` long).
    pub(crate) fn eval_row(&self, row: &[f32], out: &mut [f32]) -> Result<(), String> {
        let mut scores = vec![0f32; self.n_classes];
        for (t, tree) in self.trees.iter().enumerate() {
            let leaf =
                Self::leaf(tree, row).ok_or_else(|| format!("tree {t} has a cycle or a dangling node"))?;
            for &(c, w) in &leaf.votes {
                if let Some(s) = scores.get_mut(c) {
                    *s += w;
                }
            }
        }
        if self.binary_single {
            let s = scores.first().copied().unwrap_or(0.0) + self.base.first().copied().unwrap_or(0.0);
            let p = match self.post {
                Post::Logistic => 1.0 / (1.0 + (-s).exp()),
                _ => s,
            };
            if let [a, b] = out {
                *a = 1.0 - p;
                *b = p;
            }
            return Ok(());
        }
        for (s, b) in scores.iter_mut().zip(&self.base) {
            *s += b;
        }
        self.post.apply(&mut scores);
        for (o, s) in out.iter_mut().zip(&scores) {
            *o = *s;
        }
        Ok(())
    }
}
