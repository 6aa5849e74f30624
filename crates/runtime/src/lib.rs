//! Model runtimes and datasets.
//!
//! The gates are written against two small interfaces: [`Classifier`] (rows
//! in, class probabilities out) and, for LLMs, a chat target. Backends (ONNX
//! through tract, HTTP inference protocols, a subprocess speaking JSON lines)
//! implement them; datasets load CSV, Parquet and NPY into feature matrices
//! with named column roles.
#![deny(missing_docs)]

pub mod chat;
pub mod classifier;

pub use classifier::{ClassLabel, Classifier, InputSignature, Matrix, RuntimeError};
pub mod onnx;

pub use onnx::{OnnxClassifier, OnnxOptions};
pub mod dataset;
mod parquet_table;

pub use dataset::{encode_labels, DataError, Prepared, Roles, Table};
pub mod retry;
pub mod subprocess;

pub use retry::RetryPolicy;
pub use subprocess::{SubprocessClassifier, SubprocessConfig};
pub mod npy;

pub use npy::{parse_npy, NpyArray};
pub mod npz;

pub use npz::parse_npz;
pub mod http;

pub use http::{HttpClassifier, HttpConfig, Protocol};
