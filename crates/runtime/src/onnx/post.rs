//! The `post_transform` attribute shared by the ONNX-ML classifiers
//! (`TreeEnsembleClassifier`, `SVMClassifier`): how raw class scores become
//! the probabilities the operator outputs, per the ONNX-ML operator spec.

use tract_onnx::pb::NodeProto;

use super::lower::attr_str;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Post {
    None,
    Logistic,
    Softmax,
    SoftmaxZero,
}

impl Post {
    /// Reads `post_transform` (default `NONE`).
    pub(crate) fn from_node(n: &NodeProto) -> Result<Post, String> {
        match attr_str(n, "post_transform").as_deref() {
            None | Some("NONE") => Ok(Post::None),
            Some("LOGISTIC") => Ok(Post::Logistic),
            Some("SOFTMAX") => Ok(Post::Softmax),
            Some("SOFTMAX_ZERO") => Ok(Post::SoftmaxZero),
            Some(other) => Err(format!("post_transform {other} is not supported")),
        }
    }

    /// Applies the transform to one row's scores in place. `SOFTMAX_ZERO`
    /// leaves zero scores at zero, as onnxruntime does.
    pub(crate) fn apply(self, scores: &mut [f32]) {
        match self {
            Post::None => {}
            Post::Logistic => {
                for s in scores.iter_mut() {
                    *s = 1.0 / (1.0 + (-*s).exp());
                }
            }
            Post::Softmax | Post::SoftmaxZero => {
                let zero = self == Post::SoftmaxZero;
                let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0.0;
                for s in scores.iter_mut() {
                    if !(zero && *s == 0.0) {
                        *s = (*s - max).exp();
                        sum += *s;
                    }
                }
                for s in scores.iter_mut() {
                    if !(zero && *s == 0.0) && sum > 0.0 {
                        *s /= sum;
                    }
                }
            }
        }
    }
}
