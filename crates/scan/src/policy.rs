//! The pickle global policy: allowlist first, then tiers.
//!
//! A global is first normalised (`__builtin__` → `builtins`, `copy_reg` →
//! `copyreg`, ...), then matched on dotted-name boundaries: `os` matches
//! `os.system` and `os.path.join` but not `osmosis.x`. Exact safe names pass;
//! dangerous families are critical; any other standard-library global is high
//! (the standard library is where gadgets live); any other third-party global is
//! medium. Safe entries match exactly, so `collections.OrderedDict.__init__`
//! (reachable through protocol-4 dotted names) is not safe.

use portcullis_evidence::Severity;

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use crate::stdlib::STDLIB_MODULES;

/// The verdict for one global.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlobalClass {
    /// On the safe list.
    Safe,
    /// In a dangerous family: the rule id and severity.
    Flag(&'static str, Severity),
}

/// Rewrites Python 2 module names to their Python 3 names, as the unpickler's
/// `fix_imports` does.
pub fn normalise_module(module: &str) -> String {
    let map: &[(&str, &str)] = &[
        ("__builtin__", "builtins"),
        ("copy_reg", "copyreg"),
        ("exceptions", "builtins"),
        ("cPickle", "pickle"),
        ("commands", "subprocess"),
        ("httplib", "http.client"),
        ("urllib2", "urllib.request"),
        ("cStringIO", "io"),
        ("StringIO", "io"),
        ("SocketServer", "socketserver"),
        ("numpy.core", "numpy._core"),
    ];
    for (from, to) in map {
        if module == *from {
            return (*to).to_string();
        }
        if let Some(rest) = module.strip_prefix(from) {
            if rest.starts_with('.') {
                return format!("{to}{rest}");
            }
        }
    }
    module.to_string()
}

/// Exact globals a benign model pickle uses.
const SAFE: &[&str] = &[
    "builtins.set",
    "builtins.frozenset",
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
    "builtins.bytearray",
    "builtins.bytes",
    "builtins.complex",
    "builtins.int",
    "builtins.float",
    "builtins.str",
    "builtins.bool",
    "builtins.slice",
    "builtins.range",
    "builtins.object",
    "builtins.NoneType",
    "collections.OrderedDict",
    "collections.defaultdict",
    "collections.Counter",
    "collections.deque",
    "copyreg._reconstructor",
    "copyreg.__newobj__",
    "_codecs.encode",
    "datetime.datetime",
    "datetime.date",
    "datetime.time",
    "datetime.timedelta",
    "datetime.timezone",
    "decimal.Decimal",
    "fractions.Fraction",
    "uuid.UUID",
    // Plain values that training checkpoints carry in their hyper-parameters
    // (argparse namespaces, paths, compiled patterns); constructing them
    // touches nothing.
    "argparse.Namespace",
    "pathlib.PosixPath",
    "pathlib.WindowsPath",
    "pathlib.PurePosixPath",
    "pathlib.PureWindowsPath",
    "pathlib.Path",
    "re._compile",
    "numpy._core.multiarray._reconstruct",
    "numpy._core.multiarray.scalar",
    "numpy._core.numeric._frombuffer",
    "numpy.dtype",
    "numpy.ndarray",
    "numpy.ma.core._mareconstruct",
    "numpy.random._pickle.__randomstate_ctor",
    "numpy.random._pickle.__bit_generator_ctor",
    "numpy.random._pickle.__generator_ctor",
    "numpy.random.mtrand.RandomState",
    "numpy.random.bit_generator.SeedSequence",
    "numpy.random._mt19937.MT19937",
    "numpy.random._pcg64.PCG64",
    "joblib.numpy_pickle.NumpyArrayWrapper",
    "joblib.numpy_pickle.NDArrayWrapper",
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch._utils._rebuild_qtensor",
    "torch._utils._rebuild_sparse_tensor",
    "torch._utils._rebuild_meta_tensor_no_storage",
    "torch._utils._rebuild_wrapper_subclass",
    "torch._utils._rebuild_nested_tensor",
    "torch._utils._rebuild_device_tensor_from_numpy",
    "torch._tensor._rebuild_from_type_v2",
    "torch.nn.parameter.Parameter",
    "torch.Size",
    "torch.device",
    "torch.Tensor",
    "torch.storage.UntypedStorage",
    "torch.storage.TypedStorage",
];

/// torch attributes that are plain values (dtypes, storage classes).
fn torch_value(name: &str) -> bool {
    let Some(attr) = name.strip_prefix("torch.") else {
        return false;
    };
    if attr.contains('.') {
        return false;
    }
    attr.ends_with("Storage")
        || matches!(
            attr,
            "float16"
                | "float32"
                | "float64"
                | "bfloat16"
                | "half"
                | "float"
                | "double"
                | "int8"
                | "int16"
                | "int32"
                | "int64"
                | "uint8"
                | "uint16"
                | "uint32"
                | "uint64"
                | "bool"
                | "long"
                | "int"
                | "short"
                | "complex64"
                | "complex128"
                | "cfloat"
                | "cdouble"
                | "qint8"
                | "quint8"
                | "qint32"
                | "float8_e4m3fn"
                | "float8_e5m2"
                | "contiguous_format"
                | "channels_last"
                | "preserve_format"
                | "strided"
                | "sparse_coo"
                | "per_tensor_affine"
                | "per_channel_affine"
        )
}

/// Dangerous families: dotted prefixes matched on name boundaries.
const FAMILIES: &[(&str, &[&str])] = &[
    (
        "pickle-code-exec",
        &[
            "os",
            "posix",
            "nt",
            "subprocess",
            "builtins.eval",
            "builtins.exec",
            "builtins.compile",
            "builtins.__import__",
            "builtins.breakpoint",
            "builtins.input",
            "builtins.help",
            "runpy",
            "pty",
            "code",
            "codeop",
            "sys",
            "platform.popen",
            "commands",
            "popen2",
            "_osx_support",
            "distutils.spawn",
            "asyncio.subprocess",
            "asyncio.create_subprocess_exec",
            "asyncio.create_subprocess_shell",
            "IPython",
            "numexpr",
        ],
    ),
    (
        "pickle-import-machinery",
        &[
            "importlib",
            "pkgutil",
            "imp",
            "zipimport",
            "builtins.__loader__",
            "_imp",
            "_frozen_importlib",
            "_frozen_importlib_external",
        ],
    ),
    (
        "pickle-attribute-gadget",
        &[
            "builtins.getattr",
            "builtins.setattr",
            "builtins.delattr",
            "builtins.globals",
            "builtins.locals",
            "builtins.vars",
            "builtins.apply",
            "builtins.type",
            "builtins.super",
            "builtins.classmethod",
            "builtins.staticmethod",
            "builtins.property",
            "builtins.map",
            "builtins.filter",
            "operator.attrgetter",
            "operator.methodcaller",
            "operator.itemgetter",
            "operator.getitem",
            "operator.call",
            "functools.partial",
            "functools.reduce",
            "functools.partialmethod",
            "types",
            "inspect",
            "gc",
            "weakref",
        ],
    ),
    (
        "pickle-network",
        &[
            "socket",
            "_socket",
            "urllib",
            "urllib3",
            "requests",
            "httpx",
            "aiohttp",
            "webbrowser",
            "http",
            "ftplib",
            "smtplib",
            "telnetlib",
            "poplib",
            "imaplib",
            "nntplib",
            "xmlrpc",
            "socketserver",
            "ssl",
            "asyncio",
            "paramiko",
        ],
    ),
    (
        "pickle-file-write",
        &[
            "shutil",
            "io.FileIO",
            "io.open",
            "io.open_code",
            "_io",
            "builtins.open",
            "builtins.file",
            "tempfile",
            "fileinput",
            "glob",
            "zipfile",
            "tarfile",
            "sqlite3",
            "dbm",
            "codecs.open",
            "logging.FileHandler",
        ],
    ),
    ("pickle-ffi", &["ctypes", "_ctypes", "cffi"]),
    (
        "pickle-nested-load",
        &[
            "pickle",
            "_pickle",
            "marshal",
            "shelve",
            "torch.load",
            "torch.serialization",
            "torch.storage._load_from_bytes",
            "joblib.load",
            "joblib.numpy_pickle.load",
            "dill",
            "cloudpickle",
            "numpy.load",
            "numpy.lib.npyio.load",
            "yaml.load",
            "yaml.unsafe_load",
            "jsonpickle",
            "pandas.read_pickle",
            "keras.models.load_model",
            "tensorflow.keras.models.load_model",
            "sklearn.externals.joblib.load",
        ],
    ),
    (
        "pickle-process",
        &[
            "_posixsubprocess",
            "multiprocessing",
            "_multiprocessing",
            "signal",
            "threading",
            "_thread",
            "concurrent",
            "resource",
        ],
    ),
    (
        "pickle-ml-gadget",
        &[
            "torch.hub",
            "torch.jit",
            "torch._C",
            "torch.package",
            "torch.ops",
            "torch.utils.cpp_extension",
            "torch._dynamo",
            "torch.compile",
            "torch.fx",
            "numpy.f2py",
            "numpy.distutils",
            "numpy.testing",
            "numpy.lib.utils",
            "tensorflow.io",
            "tensorflow.py_function",
            "tensorflow.compat.v1.py_func",
            "keras.utils.get_file",
            "huggingface_hub",
            "transformers.dynamic_module_utils",
            "sklearn.utils._testing",
        ],
    ),
    (
        "pickle-debugger",
        &[
            "pdb",
            "bdb",
            "cProfile",
            "profile",
            "timeit",
            "trace",
            "tracemalloc",
            "faulthandler",
            "idlelib",
            "lib2to3",
            "doctest",
            "unittest",
        ],
    ),
    (
        "pickle-package-install",
        &["pip", "ensurepip", "setuptools", "distutils", "venv", "site"],
    ),
    (
        "pickle-scanner-tamper",
        &["picklescan", "modelscan", "fickling", "portcullis", "pickletools"],
    ),
];

/// True when `name` equals `prefix` or continues it at a dot.
pub fn on_boundary(name: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('.');
    name == prefix
        || (name.len() > prefix.len()
            && name.starts_with(prefix)
            && name.as_bytes().get(prefix.len()) == Some(&b'.'))
}

/// The policy tables indexed for lookup: every file is full of globals.
/// Every global in every pickle is looked up here (twice when it is called),
/// so the tables use a fast non-cryptographic hash: the keys are our own
/// constants, and a lookup of attacker-chosen text costs one hash either way.
type FastState = foldhash::fast::FixedState;

struct Index {
    /// Top-level module -> (rule, prefix) in `FAMILIES` order.
    families: HashMap<&'static str, Vec<(&'static str, &'static str)>, FastState>,
    safe: HashSet<&'static str, FastState>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut families: HashMap<&'static str, Vec<(&'static str, &'static str)>, FastState> =
            HashMap::default();
        for (rule, prefixes) in FAMILIES {
            for p in prefixes.iter() {
                let trimmed = p.trim_end_matches('.');
                let top = trimmed.split('.').next().unwrap_or(trimmed);
                families.entry(top).or_default().push((rule, trimmed));
            }
        }
        Index {
            families,
            safe: SAFE.iter().copied().collect(),
        }
    })
}

/// Classifies a fully qualified global `module.name` (already normalised).
pub fn classify(full: &str) -> GlobalClass {
    // Path classes are safe values, but any method reached through them
    // (`pathlib.PosixPath.write_text`) touches the file system.
    if full.starts_with("pathlib.") && full.matches('.').count() >= 2 {
        return GlobalClass::Flag("pickle-file-write", Severity::Critical);
    }
    let top = full.split('.').next().unwrap_or(full);
    let index = index();
    // Only prefixes under the same top-level module can match on a boundary;
    // the bucket keeps the families' order, so the first family still wins.
    if let Some(bucket) = index.families.get(top) {
        if let Some((rule, _)) = bucket.iter().find(|(_, p)| on_boundary(full, p)) {
            return GlobalClass::Flag(rule, Severity::Critical);
        }
    }
    if index.safe.contains(full) || torch_value(full) {
        return GlobalClass::Safe;
    }
    if STDLIB_MODULES.binary_search(&top).is_ok() || top == "builtins" {
        return GlobalClass::Flag("pickle-stdlib-global", Severity::High);
    }
    GlobalClass::Flag("pickle-unknown-global", Severity::Medium)
}

/// Joins a module and a name into the dotted global, normalising the module.
pub fn qualify(module: &str, name: &str) -> String {
    format!("{}.{}", normalise_module(module), name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The policy read straight off the tables, without the index.
    fn classify_linear(full: &str) -> GlobalClass {
        if full.starts_with("pathlib.") && full.matches('.').count() >= 2 {
            return GlobalClass::Flag("pickle-file-write", Severity::Critical);
        }
        for (rule, prefixes) in FAMILIES {
            if prefixes.iter().any(|p| on_boundary(full, p)) {
                return GlobalClass::Flag(rule, Severity::Critical);
            }
        }
        if SAFE.contains(&full) || torch_value(full) {
            return GlobalClass::Safe;
        }
        let top = full.split('.').next().unwrap_or(full);
        if STDLIB_MODULES.binary_search(&top).is_ok() || top == "builtins" {
            return GlobalClass::Flag("pickle-stdlib-global", Severity::High);
        }
        GlobalClass::Flag("pickle-unknown-global", Severity::Medium)
    }

    #[test]
    fn indexed_lookup_agrees_with_the_tables_on_every_entry() {
        let mut names: Vec<String> = Vec::new();
        for (_, prefixes) in FAMILIES {
            for p in prefixes.iter() {
                names.extend([p.to_string(), format!("{p}.x"), format!("{p}x"), format!("x{p}")]);
            }
        }
        for s in SAFE {
            names.extend([s.to_string(), format!("{s}.__init__")]);
        }
        for m in STDLIB_MODULES.iter().take(400) {
            names.extend([m.to_string(), format!("{m}.f")]);
        }
        names.extend(
            [
                "torch.FloatStorage",
                "torch.float32",
                "sklearn.x.Y",
                "",
                ".",
                "a..b",
            ]
            .map(String::from),
        );
        assert!(names.len() > 500);
        for n in &names {
            assert_eq!(classify(n), classify_linear(n), "{n}");
        }
    }

    #[test]
    fn dangerous_families_match_on_dotted_boundaries_only() {
        assert_eq!(
            classify("os.system"),
            GlobalClass::Flag("pickle-code-exec", Severity::Critical)
        );
        assert_eq!(
            classify("os.path.join"),
            GlobalClass::Flag("pickle-code-exec", Severity::Critical)
        );
        assert_eq!(
            classify("osmosis.Model"),
            GlobalClass::Flag("pickle-unknown-global", Severity::Medium)
        );
        assert_eq!(
            classify(&qualify("__builtin__", "eval")),
            GlobalClass::Flag("pickle-code-exec", Severity::Critical)
        );
        assert_eq!(
            classify("builtins.getattr"),
            GlobalClass::Flag("pickle-attribute-gadget", Severity::Critical)
        );
    }

    #[test]
    fn checkpoint_hyperparameter_values_are_safe_but_their_write_methods_are_not() {
        assert_eq!(classify("pathlib.PosixPath"), GlobalClass::Safe);
        assert_eq!(classify("argparse.Namespace"), GlobalClass::Safe);
        assert_eq!(
            classify("pathlib.Path.write_text"),
            GlobalClass::Flag("pickle-file-write", Severity::Critical)
        );
        assert_eq!(
            classify("pathlib.PosixPath.write_text"),
            GlobalClass::Flag("pickle-file-write", Severity::Critical)
        );
    }

    #[test]
    fn safe_list_is_exact_so_dotted_extensions_are_not_safe() {
        assert_eq!(classify("collections.OrderedDict"), GlobalClass::Safe);
        assert_eq!(
            classify(&qualify("copy_reg", "_reconstructor")),
            GlobalClass::Safe
        );
        assert_eq!(
            classify(&qualify("numpy.core.multiarray", "_reconstruct")),
            GlobalClass::Safe
        );
        assert_eq!(
            classify("collections.OrderedDict.__init__"),
            GlobalClass::Flag("pickle-stdlib-global", Severity::High)
        );
        assert_eq!(classify("torch.float32"), GlobalClass::Safe);
        assert_eq!(
            classify("sklearn.linear_model._logistic.LogisticRegression"),
            GlobalClass::Flag("pickle-unknown-global", Severity::Medium)
        );
        assert_eq!(
            classify("builtins.print"),
            GlobalClass::Flag("pickle-stdlib-global", Severity::High)
        );
    }
}
