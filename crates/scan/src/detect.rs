//! Format detection by content, never by extension.
//!
//! Each detector looks at magic bytes or parses a bounded prefix. A file may
//! match more than one detector (a pickle with a zip appended, a zip that is
//! also a tar): the scanner scans it as every format that matched and reports
//! the file as a polyglot.

use serde::Serialize;

use crate::archive;
use crate::pickle;
use crate::proto;

/// A format the scanner recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// A Python pickle stream (any protocol).
    Pickle,
    /// A zip archive (including PyTorch, Keras and NumPy `.npz` zips).
    Zip,
    /// A PyTorch zip checkpoint (`*/data.pkl`).
    PytorchZip,
    /// A Keras v3 `.keras` zip.
    KerasZip,
    /// A POSIX tar archive.
    Tar,
    /// A 7-Zip archive.
    SevenZip,
    /// gzip.
    Gzip,
    /// zlib (as joblib writes it).
    Zlib,
    /// bzip2.
    Bzip2,
    /// xz.
    Xz,
    /// Legacy `.lzma` (LZMA-alone).
    Lzma,
    /// LZ4 frame.
    Lz4,
    /// NumPy `.npy`.
    Npy,
    /// safetensors.
    Safetensors,
    /// GGUF.
    Gguf,
    /// HDF5 (Keras `.h5`).
    Hdf5,
    /// ONNX `ModelProto`.
    Onnx,
    /// TensorFlow `saved_model.pb`.
    SavedModel,
    /// A Keras model config as JSON.
    KerasConfig,
}

impl Format {
    /// The kebab-case name used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Pickle => "pickle",
            Format::Zip => "zip",
            Format::PytorchZip => "pytorch-zip",
            Format::KerasZip => "keras-zip",
            Format::Tar => "tar",
            Format::SevenZip => "seven-zip",
            Format::Gzip => "gzip",
            Format::Zlib => "zlib",
            Format::Bzip2 => "bzip2",
            Format::Xz => "xz",
            Format::Lzma => "lzma",
            Format::Lz4 => "lz4",
            Format::Npy => "npy",
            Format::Safetensors => "safetensors",
            Format::Gguf => "gguf",
            Format::Hdf5 => "hdf5",
            Format::Onnx => "onnx",
            Format::SavedModel => "saved-model",
            Format::KerasConfig => "keras-config",
        }
    }
}

/// Every primary format `data` matches, in a fixed order.
pub(crate) fn detect(data: &[u8]) -> Vec<Format> {
    let mut out = Vec::new();
    let starts = |m: &[u8]| data.starts_with(m);
    if starts(b"\x93NUMPY") {
        out.push(Format::Npy);
    }
    if starts(b"GGUF") {
        out.push(Format::Gguf);
    }
    if hdf5_superblock(data).is_some() {
        out.push(Format::Hdf5);
    }
    if starts(&[0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]) {
        out.push(Format::SevenZip);
    }
    if starts(&[0x1f, 0x8b]) {
        out.push(Format::Gzip);
    }
    if starts(b"BZh") && data.get(3).is_some_and(|b| (b'1'..=b'9').contains(b)) {
        out.push(Format::Bzip2);
    }
    if starts(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        out.push(Format::Xz);
    }
    if starts(&[0x04, 0x22, 0x4d, 0x18]) {
        out.push(Format::Lz4);
    }
    if is_lzma_alone(data) {
        out.push(Format::Lzma);
    }
    if is_zlib(data) {
        out.push(Format::Zlib);
    }
    if archive::is_tar(data) {
        out.push(Format::Tar);
    }
    if archive::find_eocd(data).is_some() || (starts(b"PK\x03\x04") && data.len() >= 30) {
        out.push(Format::Zip);
    }
    if is_safetensors(data) {
        out.push(Format::Safetensors);
    }
    if is_json_object(data) && keras_json(data) {
        out.push(Format::KerasConfig);
    }
    if out.is_empty() || out == [Format::Zip] {
        // Pickles have no magic; only probe when nothing at offset 0 claimed
        // the file (a zip found through its end record still leaves the start
        // free for a pickle: the classic polyglot).
        let zip_at_start = starts(b"PK");
        if !zip_at_start && pickle::looks_like_pickle(data) {
            out.insert(0, Format::Pickle);
        }
    }
    if out.is_empty() {
        match proto::model_kind(data) {
            Some(proto::ModelKind::Onnx) => out.push(Format::Onnx),
            Some(proto::ModelKind::SavedModel) => out.push(Format::SavedModel),
            None => {}
        }
    }
    out
}

/// Offset of the HDF5 superblock signature (0, 512, 1024, ... up to 64 KiB).
pub(crate) fn hdf5_superblock(data: &[u8]) -> Option<usize> {
    const SIG: &[u8] = b"\x89HDF\r\n\x1a\n";
    let mut off = 0usize;
    while off < data.len().min(1 << 16) {
        if data.get(off..off + 8) == Some(SIG) {
            return Some(off);
        }
        off = if off == 0 { 512 } else { off * 2 };
    }
    None
}

fn is_lzma_alone(data: &[u8]) -> bool {
    // props byte 0x5d (lc=3, lp=0, pb=2) and a power-of-two-ish dictionary size.
    data.len() >= 13
        && data.first() == Some(&0x5d)
        && data.get(1) == Some(&0)
        && data.get(2) == Some(&0)
}

fn is_zlib(data: &[u8]) -> bool {
    match (data.first(), data.get(1)) {
        (Some(&cmf), Some(&flg)) => {
            cmf == 0x78 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0 && flg & 0x20 == 0
        }
        _ => false,
    }
}

fn is_safetensors(data: &[u8]) -> bool {
    let Some(head) = data.get(..8) else {
        return false;
    };
    let mut b = [0u8; 8];
    b.copy_from_slice(head);
    let n = u64::from_le_bytes(b);
    (2..(1u64 << 56)).contains(&n) && data.get(8) == Some(&b'{')
}

fn is_json_object(data: &[u8]) -> bool {
    data.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

fn keras_json(data: &[u8]) -> bool {
    let head = &data[..data.len().min(1 << 16)];
    contains(head, b"\"class_name\"") && contains(head, b"\"config\"")
}

/// Plain substring search.
pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    find(hay, needle, 0).is_some()
}

/// First index of `needle` in `hay` at or after `from`.
pub(crate) fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    let first = *needle.first()?;
    let mut i = from;
    while i + needle.len() <= hay.len() {
        let rel = hay.get(i..)?.iter().position(|&b| b == first)?;
        i += rel;
        if hay.get(i..i + needle.len()) == Some(needle) {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_magic_not_name() {
        assert_eq!(detect(b"\x93NUMPY\x01\x00"), vec![Format::Npy]);
        assert_eq!(detect(b"GGUF\x03\x00\x00\x00"), vec![Format::Gguf]);
        assert_eq!(
            detect(b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00N."),
            vec![Format::Pickle]
        );
        assert!(detect(b"hello world, this is a readme").is_empty());
        // Binary that merely starts like a protocol-2 pickle is not one.
        assert!(detect(b"\x80\x02\x00\x00\x00\x00\x00\x00junk").is_empty());
        // A pickle whose tail is broken is still a pickle: the prefix runs.
        assert_eq!(
            detect(b"\x80\x02cos\nsystem\n\xff\xfe"),
            vec![Format::Pickle]
        );
    }
}
