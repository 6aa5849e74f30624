//! The rule registry: one line per rule id the scanner can emit.
//!
//! Renderers use it for SARIF `tool.driver.rules` and help links; the id is
//! the docs anchor in `docs/scan.md` and the key an allowlist entry matches.
//! A test asserts that every finding the fixture corpus produces names a rule
//! listed here, so a new rule cannot ship undocumented.

use portcullis_evidence::{RuleInfo, Severity};

macro_rules! rule {
    ($id:literal, $sev:ident, $name:literal, $desc:literal, $help:literal) => {
        RuleInfo {
            id: $id,
            name: $name,
            description: $desc,
            help: $help,
            default_severity: Severity::$sev,
            docs: concat!("scan.md#", $id),
        }
    };
}

static RULES: &[RuleInfo] = &[
    rule!("pickle-code-exec", Critical, "Pickle imports a code-execution global",
        "The pickle references a global (os, subprocess, builtins.eval/exec, runpy, pty, ...) that runs commands or code when the file is loaded.",
        "Do not load the file. Re-export the model in a data-only format such as safetensors."),
    rule!("pickle-import-machinery", Critical, "Pickle imports the import machinery",
        "importlib, pkgutil.resolve_name and friends let a pickle import any module and reach any callable.",
        "Do not load the file; rebuild it from trusted code."),
    rule!("pickle-attribute-gadget", Critical, "Pickle uses an attribute-access gadget",
        "getattr, operator.attrgetter/methodcaller and functools.partial let a pickle reach dangerous callables through allowed objects.",
        "Do not load the file; a legitimate model never needs these globals."),
    rule!("pickle-network", Critical, "Pickle imports a network module",
        "socket, urllib, requests, http.client and webbrowser let a pickle exfiltrate data or fetch a payload on load.",
        "Do not load the file."),
    rule!("pickle-file-write", Critical, "Pickle imports a file-writing global",
        "shutil, io.FileIO, open and pathlib methods let a pickle overwrite files on load.",
        "Do not load the file."),
    rule!("pickle-ffi", Critical, "Pickle imports a foreign-function interface",
        "ctypes and cffi let a pickle call native code directly.",
        "Do not load the file."),
    rule!("pickle-nested-load", Critical, "Pickle performs a nested deserialisation",
        "pickle.loads, marshal, torch.load, joblib.load and dill deserialise a second payload the outer scan cannot see.",
        "Do not load the file; extract and scan the inner payload separately if you must."),
    rule!("pickle-process", Critical, "Pickle reaches process internals",
        "_posixsubprocess, multiprocessing and signal handlers start or control processes on load.",
        "Do not load the file."),
    rule!("pickle-ml-gadget", Critical, "Pickle uses a machine-learning framework gadget",
        "torch.hub, torch.jit, numpy.f2py and similar framework entry points download or compile code on load.",
        "Do not load the file."),
    rule!("pickle-debugger", Critical, "Pickle imports a debugger or profiler",
        "pdb, bdb, cProfile, profile, timeit and trace evaluate arbitrary strings as code.",
        "Do not load the file."),
    rule!("pickle-package-install", Critical, "Pickle imports a package installer",
        "pip, ensurepip and setuptools install and run third-party code on load.",
        "Do not load the file."),
    rule!("pickle-scanner-tamper", Critical, "Pickle references a model scanner",
        "A model that imports a scanner (picklescan, modelscan, fickling, modelaudit, saferpickle, portcullis) or anything named like an unpickler (a ModelUnpickler) is trying to disable or patch it at load time.",
        "Do not load the file."),
    rule!("pickle-dunder-traversal", High, "Pickle global traverses dunder attributes",
        "A global whose dotted path has a dunder segment (numpy.__builtins__, x.__globals__, object.__subclasses__, a class's __reduce__) reaches interpreter internals; no package exports its API that way. A module named with dunders (__future__, __main__) is not traversal.",
        "Do not load the file."),
    rule!("pickle-framework-internal", High, "Pickle reaches an ML framework's internals",
        "Private submodules of torch, numpy, pandas, keras/tensorflow and transformers (compilers, config loaders, test runners) and methods reached through their classes load or run code; inside a PyTorch checkpoint any torch global that torch.save does not write is one.",
        "Do not load the file; a checkpoint needs only tensor rebuild functions, storages and containers."),
    rule!("pickle-indirect-call", High, "Pickle calls a value reached by attribute traversal",
        "The callable of a REDUCE, OBJ or NEWOBJ was not imported by name but reached through calls and BUILD steps on imported objects (eval fetched through numpy.__builtins__); the finding names the call and the chain.",
        "Do not load the file."),
    rule!("pickle-stdlib-global", High, "Pickle imports a non-allowlisted standard-library global",
        "The global is from the Python standard library but not on the safe list; the standard library is where deserialisation gadgets live.",
        "Check why the model needs this global; if it is legitimate, accept it for this file digest in the allowlist file."),
    rule!("pickle-unknown-global", Medium, "Pickle imports an unknown third-party global",
        "A class from a third-party package (for example a scikit-learn estimator) runs that package's code on load; expected for such models, but it must be trusted.",
        "Make sure the package is one you trust and pin its version; use --strict to block these."),
    rule!("pickle-unresolved-global", High, "Pickle global cannot be resolved statically",
        "STACK_GLOBAL or INST takes an operand that is not a literal string, so the imported name cannot be known without running the pickle.",
        "Do not load the file; legitimate pickles name their globals literally."),
    rule!("pickle-extension-registry", High, "Pickle uses the copyreg extension registry",
        "EXT1/EXT2/EXT4 import a global through a process-wide registry whose contents the scanner cannot see.",
        "Do not load the file; re-save it without extension codes."),
    rule!("pickle-parse-error", High, "Pickle stream is malformed or truncated",
        "The opcode stream could not be walked to its STOP; anything after the error was not inspected.",
        "Re-export the file; a truncated or corrupted model cannot be trusted."),
    rule!("pickle-expansion-bomb", High, "Pickle is an expansion bomb",
        "Many GET/DUP references to few memoised objects build exponentially large structures on load.",
        "Do not load the file."),
    rule!("pickle-frame-anomaly", Medium, "Pickle framing is inconsistent",
        "FRAME lengths that overrun the stream, a FRAME in a protocol 0-3 stream or a STOP inside a frame are signs of hand-crafted pickles; framing that changes what loaders read is reading-divergence.",
        "Re-export the file with a standard pickler."),
    rule!("pickle-trailing-data", Low, "Data follows the pickle stream",
        "Bytes after the final STOP are not read by pickle.load, but a custom loader might read them.",
        "Check what writes the trailing bytes."),
    rule!("npy-object-dtype", Medium, "NumPy array with object dtype",
        "Object arrays are stored as a pickle and load only with allow_pickle=True; the embedded pickle is scanned.",
        "Store numeric arrays; convert object columns before saving."),
    rule!("npy-malformed", High, "NumPy file header is malformed",
        "The .npy header could not be parsed within its limits.",
        "Re-export the array."),
    rule!("reading-divergence", High, "Loaders read the file differently",
        "Two readings a loader can take disagree: a pickle operand straddles its frame (frame-ignoring vs frame-bounded unpicklers), a FRAME opens inside another, a zip local header names another member than the central directory, a local header the central directory does not list, or two members share a name. Findings that only the secondary reading produces name it.",
        "Do not load the file; re-export it with a standard writer."),
    rule!("zip-path-traversal", High, "Archive member path escapes the extraction directory",
        "Absolute paths, drive letters and '..' components write outside the target directory when extracted (zip-slip).",
        "Do not extract the archive; rebuild it with relative member names."),
    rule!("zip-header-mismatch", Medium, "Zip local header disagrees with the central directory",
        "Readers that trust different headers see different files; attackers use this to hide a payload from scanners.",
        "Rebuild the archive with a standard tool."),
    rule!("zip-malformed", High, "Zip archive is malformed",
        "The central directory or a member could not be read; its content was not inspected.",
        "Rebuild the archive."),
    rule!("zip-unsupported-member", High, "Archive member cannot be inspected",
        "The member uses a compression method or encryption the scanner cannot read, so its content is unknown.",
        "Store members uncompressed or deflated, without encryption."),
    rule!("archive-bomb", High, "Archive decompresses beyond the limits",
        "The compression ratio or total decompressed size exceeds the limit: a decompression bomb or a file too large to inspect.",
        "Check the file's origin; raise the limit only for files you trust."),
    rule!("archive-too-deep", High, "Archives nested beyond the depth limit",
        "Nested archives deeper than the limit were not inspected.",
        "Flatten the archive."),
    rule!("archive-unsupported", High, "Archive format cannot be inspected",
        "The file is an archive (for example 7z) the scanner does not unpack, so its content is unknown.",
        "Repackage the model as zip or tar."),
    rule!("polyglot-file", High, "File matches more than one format",
        "A file that parses as two formats (for example a pickle with a zip appended) is read differently by different loaders.",
        "Do not load the file; a model file has one format."),
    rule!("keras-lambda-layer", High, "Keras model contains a Lambda layer",
        "Lambda layers carry Python code that runs when the model is loaded or called.",
        "Replace the Lambda with a registered custom layer, or load with safe_mode=True."),
    rule!("keras-marshalled-code", Critical, "Keras model carries marshalled Python bytecode",
        "A Lambda function stored as base64 marshal data is executed on load.",
        "Do not load the file."),
    rule!("keras-wrapper-layer", High, "Keras model wraps a foreign model",
        "TFSMLayer and TorchModuleWrapper load a SavedModel or a pickled torch module, bypassing Keras safe mode.",
        "Scan the wrapped model and prefer native Keras layers."),
    rule!("keras-foreign-module", Medium, "Keras config names a non-Keras module",
        "Layer configs naming modules outside keras import and run that module's code on load.",
        "Check that the module is trusted; dangerous modules are rated by the pickle global policy."),
    rule!("hdf5-external-link", High, "HDF5 file links to an external file",
        "External links make the loader open other files named by the model.",
        "Remove external links."),
    rule!("savedmodel-dangerous-op", High, "SavedModel graph uses a dangerous op",
        "PyFunc/EagerPyFunc run Python; ReadFile, WriteFile, MatchingFiles and friends touch the file system when the graph runs.",
        "Rebuild the graph without these ops."),
    rule!("onnx-external-data-escape", Critical, "ONNX external data path escapes the model directory",
        "An initializer's external data location that is absolute or uses '..' makes the runtime read arbitrary files.",
        "Keep external data files next to the model with relative names."),
    rule!("onnx-custom-domain", Medium, "ONNX model uses a custom operator domain",
        "Custom domains need a native operator library registered at load time.",
        "Check that the operator library is trusted."),
    rule!("onnx-suspicious-metadata", Low, "ONNX metadata is oversized or suspicious",
        "Very large metadata values can smuggle payloads past reviewers.",
        "Keep metadata small."),
    rule!("onnx-malformed", High, "ONNX protobuf is malformed",
        "The protobuf structure could not be walked within its limits.",
        "Re-export the model."),
    rule!("gguf-template-injection", Critical, "GGUF chat template escapes the Jinja sandbox",
        "Templates that reach __class__, __mro__, __subclasses__, __globals__ or use |attr( can run code when rendered (CVE-2024-34359).",
        "Replace the chat template with a plain one."),
    rule!("gguf-malformed", High, "GGUF header is malformed or over the limits",
        "Counts, lengths or offsets in the header are impossible for the file size.",
        "Re-export the model."),
    rule!("safetensors-malformed", High, "safetensors header is invalid",
        "The header length, JSON, dtypes, shapes or offsets are inconsistent; loaders disagree on such files.",
        "Re-export the tensors with the safetensors library."),
    rule!("scan-unreadable", High, "File could not be read",
        "The file could not be opened or read, so it was not scanned.",
        "Fix permissions or remove the file."),
    rule!("scan-limit-exceeded", High, "Scan limit exceeded",
        "A size, count or memory limit stopped the scan early; the rest of the file was not inspected.",
        "Check the file; raise the limit only for files you trust."),
    rule!("scan-timeout", High, "Scan deadline exceeded",
        "The per-file deadline passed before the scan finished; the rest of the file was not inspected.",
        "Check the file; raise the deadline only for files you trust."),
    rule!("scan-unknown-format", Low, "File format not recognised",
        "No model format matched the file's content, so only its identity was recorded.",
        "Nothing to do unless the file is a model in a format the scanner should know."),
    rule!("allowlist-unused", Low, "Allowlist entry matched nothing",
        "An allowlist entry did not suppress any finding in this scan; stale exceptions hide future problems.",
        "Remove the entry or fix its digest."),
];

/// Every rule the scanner can emit, one entry per id, sorted as declared.
pub fn rules() -> &'static [RuleInfo] {
    RULES
}

/// The registry entry for `id`, if any.
pub fn rule(id: &str) -> Option<&'static RuleInfo> {
    RULES.iter().find(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_unique_kebab_case_and_anchor_into_scan_docs() {
        let mut seen = std::collections::BTreeSet::new();
        for r in rules() {
            assert!(seen.insert(r.id), "duplicate {}", r.id);
            assert!(r
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
            assert_eq!(r.docs, format!("scan.md#{}", r.id));
        }
    }
}
