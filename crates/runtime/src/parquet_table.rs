//! Parquet tables. Reading Parquet pulls in arrow, a heavy build, so it sits
//! behind the default-on `parquet` feature.

use std::path::Path;

use crate::dataset::{DataError, Table};

/// Loads a Parquet file as a [`Table`].
///
/// # Errors
/// [`DataError::Unsupported`]: this build has no Parquet reader.
pub(crate) fn load(path: &Path) -> Result<Table, DataError> {
    Err(DataError::Unsupported(format!(
        "{}: this build cannot read Parquet (build with the `parquet` feature, or convert to CSV)",
        path.display()
    )))
}
