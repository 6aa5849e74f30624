//! Readings: the different ways loaders read the same bytes.
//!
//! A hostile file shows one thing to a scanner and another to the loader
//! when formats leave room for two readings: a pickle's frames read as
//! prefetch hints or as units, a zip's members found through the central
//! directory or by walking local headers, two members under one name. The
//! scanner analyses every reading it knows, names the reading in findings
//! that only a secondary reading produces, and reports a divergence between
//! readings as `reading-divergence`: a file that loaders disagree on is an
//! evasion whatever each reading holds.

/// One way of reading a file, named for the loaders that take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reading {
    /// Pickle frames as prefetch hints (CPython's C unpickler on bytes).
    PickleFramesIgnored,
    /// Pickle frames as units (the C unpickler reading a file, CPython
    /// issue 154848; frame-respecting scanners).
    PickleFrameBounded,
    /// Zip members through the central directory (PyTorch, `zipfile`).
    ZipCentralDirectory,
    /// Zip members by walking local headers from the start (streaming
    /// extractors).
    ZipLocalHeaders,
    /// The first of several members with one name (most extractors).
    ZipFirstOfName,
    /// The last of several members with one name (`zipfile`, PyTorch).
    ZipLastOfName,
}

impl Reading {
    /// A short name for messages.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Reading::PickleFramesIgnored => "frame-ignoring reading",
            Reading::PickleFrameBounded => "frame-bounded reading",
            Reading::ZipCentralDirectory => "central-directory reading",
            Reading::ZipLocalHeaders => "local-header reading",
            Reading::ZipFirstOfName => "first-member-of-a-name reading",
            Reading::ZipLastOfName => "last-member-of-a-name reading",
        }
    }
}
