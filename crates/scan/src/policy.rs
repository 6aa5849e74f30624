//! The pickle global policy: three lists and a few rules.
//!
//! A global is first normalised (`__builtin__` → `builtins`, `copy_reg` →
//! `copyreg`, ...), then judged, first match wins:
//!
//! 1. **Dangerous callables** ([`DANGEROUS`]): dotted prefixes matched on name
//!    boundaries (`os` matches `os.system` and `os.path.join`, not
//!    `osmosis.x`), grouped by what they do, each group with its reason and
//!    the public catalogue or advisory it comes from. Critical.
//! 2. **Rules, not names**, for the shapes no list can enumerate:
//!    - a scanner's own modules, or anything named like an unpickler
//!      (`ModelUnpickler`): an attempt to patch the scanner at load time;
//!    - a dunder *attribute traversal* segment anywhere in the dotted path
//!      (`numpy.__builtins__`, `x.__globals__`, `object.__subclasses__`):
//!      no package exports its internals under such names, and a module
//!      that is itself named with dunders (`__future__`, `__main__`) is not
//!      traversal;
//!    - inside a PyTorch checkpoint, any `torch.` global that `torch.save`
//!      does not write;
//!    - the code-loading internals of ML frameworks (torch, numpy, pandas,
//!      keras/tensorflow, transformers): private submodules, and methods
//!      reached through a framework class.
//! 3. **Known-safe callables** ([`SAFE_SETS`]), per model format: exact names
//!    (so `collections.OrderedDict.__init__` is not safe), plus torch dtype
//!    and storage values, builtin exception classes and `collections.abc`
//!    classes.
//! 4. Everything else: a standard-library global (the module list is
//!    generated from every supported CPython, see `stdlib.rs`) is high, since
//!    the standard library is where gadgets live; any other third-party
//!    global is medium (`--strict` raises it to high).

use portcullis_evidence::Severity;

use std::collections::HashMap;
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

/// Where a pickle was found, which changes what is expected in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum PickleContext {
    /// A pickle with no known writer.
    #[default]
    Plain,
    /// The `data.pkl` of a PyTorch zip checkpoint, or a legacy `torch.save`
    /// stream: only the rebuild functions, storages and containers
    /// `torch.save` writes belong under `torch.`.
    TorchCheckpoint,
}

/// A verdict with the why: the reason and where it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Judgement {
    /// The class.
    pub class: GlobalClass,
    /// Why the global is dangerous or suspect (empty for safe ones).
    pub reason: &'static str,
    /// The catalogue, advisory or rule the verdict comes from.
    pub source: &'static str,
}

/// Rewrites Python 2 module names to their Python 3 names, as the unpickler's
/// `fix_imports` does.
pub fn normalise_module(module: &str) -> String {
    let map: &[(&str, &str)] = &[
        ("__builtin__", "builtins"),
        ("__builtins__", "builtins"),
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

/// One known-safe set: the globals a given writer emits for plain data.
pub(crate) struct SafeSet {
    /// The writer or format the set belongs to.
    pub format: &'static str,
    /// Exact dotted names.
    pub names: &'static [&'static str],
}

/// Known-safe callables, per model format. Exact names only.
pub(crate) const SAFE_SETS: &[SafeSet] = &[
    SafeSet {
        format: "python values",
        names: &[
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
            "builtins.Ellipsis",
            "builtins.NotImplemented",
            "builtins.memoryview",
            // Pure functions of their arguments: a pickle that calls them
            // computes a value and touches nothing.
            "builtins.len",
            "builtins.abs",
            "builtins.all",
            "builtins.any",
            "builtins.ascii",
            "builtins.bin",
            "builtins.chr",
            "builtins.divmod",
            "builtins.format",
            "builtins.hash",
            "builtins.hex",
            "builtins.isinstance",
            "builtins.issubclass",
            "builtins.max",
            "builtins.min",
            "builtins.oct",
            "builtins.ord",
            "builtins.pow",
            "builtins.repr",
            "builtins.reversed",
            "builtins.round",
            "builtins.sorted",
            "builtins.sum",
            "builtins.zip",
            "builtins.enumerate",
            "collections.OrderedDict",
            "collections.defaultdict",
            "collections.Counter",
            "collections.deque",
            "collections.namedtuple",
            "copyreg._reconstructor",
            "copyreg.__newobj__",
            "copyreg.__newobj_ex__",
            "_codecs.encode",
            "datetime.datetime",
            "datetime.date",
            "datetime.time",
            "datetime.timedelta",
            "datetime.timezone",
            "decimal.Decimal",
            "fractions.Fraction",
            "uuid.UUID",
            "enum.Enum",
            // Feature flags: inert `_Feature` records.
            "__future__.annotations",
            "__future__.division",
            "__future__.absolute_import",
            "__future__.print_function",
            "__future__.unicode_literals",
            "__future__.generators",
            "__future__.nested_scopes",
            "__future__.with_statement",
            "__future__.generator_stop",
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
        ],
    },
    SafeSet {
        format: "numpy",
        names: &[
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
            "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
            "numpy.random._mt19937.MT19937",
            "numpy.random._pcg64.PCG64",
            "numpy.random._pcg64.PCG64DXSM",
            "numpy.random._philox.Philox",
            "numpy.random._sfc64.SFC64",
            "numpy.random._generator.Generator",
        ],
    },
    SafeSet {
        format: "joblib",
        names: &[
            "joblib.numpy_pickle.NumpyArrayWrapper",
            "joblib.numpy_pickle.NDArrayWrapper",
        ],
    },
    SafeSet {
        format: "torch.save",
        names: &[
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
            "torch._utils._rebuild_device_tensor_from_cpu_tensor",
            "torch._tensor._rebuild_from_type",
            "torch._tensor._rebuild_from_type_v2",
            "torch.nn.parameter.Parameter",
            "torch.nn.parameter.Buffer",
            "torch.nn.parameter.UninitializedParameter",
            "torch.nn.parameter.UninitializedBuffer",
            "torch.dtype",
            "torch.layout",
            "torch.memory_format",
            "torch.Size",
            "torch.device",
            "torch.Tensor",
            "torch.storage.UntypedStorage",
            "torch.storage.TypedStorage",
            "torch.storage._TypedStorage",
        ],
    },
    SafeSet {
        // What scikit-learn writes besides the estimator classes, which stay
        // medium: they run scikit-learn's own `__setstate__`, so the package
        // must be trusted.
        format: "scikit-learn",
        names: &[
            "sklearn.tree._tree.Tree",
            "sklearn.utils._bunch.Bunch",
            "sklearn._loss.loss.HalfBinomialLoss",
            "sklearn._loss.loss.HalfMultinomialLoss",
            "sklearn._loss.loss.HalfSquaredError",
            "sklearn._loss.link.LogitLink",
            "sklearn._loss.link.IdentityLink",
            "sklearn._loss.link.Interval",
        ],
    },
];

/// torch attributes that are plain values (dtypes, storage classes, layouts).
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

/// The module classes a whole-model `torch.save(model)` writes: public
/// classes under `torch.nn.modules` (`torch.nn.modules.linear.Linear`).
fn torch_module_class(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("torch.nn.modules.") else {
        return false;
    };
    let segs: Vec<&str> = rest.split('.').collect();
    segs.len() == 2
        && segs.iter().all(|s| !s.starts_with('_'))
        && segs
            .last()
            .is_some_and(|c| c.starts_with(|ch: char| ch.is_ascii_uppercase()))
}

/// Values whose class is safe by shape rather than by name: builtin
/// exception classes and the abstract base classes of `collections.abc`.
fn safe_by_shape(name: &str) -> bool {
    if let Some(attr) = name.strip_prefix("builtins.") {
        return !attr.contains('.')
            && (attr.ends_with("Error") || attr.ends_with("Exception") || attr.ends_with("Warning"))
            && attr.bytes().all(|b| b.is_ascii_alphanumeric());
    }
    if let Some(attr) = name.strip_prefix("collections.abc.") {
        return !attr.contains('.') && attr.starts_with(|c: char| c.is_ascii_uppercase());
    }
    false
}

/// One group of dangerous callables: dotted prefixes, what they do and where
/// the entry comes from.
pub(crate) struct Danger {
    /// The rule id findings carry.
    pub rule: &'static str,
    /// What the globals do on load.
    pub reason: &'static str,
    /// The public catalogue(s) or advisory that list them.
    pub source: &'static str,
    /// Dotted prefixes, matched on name boundaries.
    pub prefixes: &'static [&'static str],
}

/// The dangerous list. First match wins within a top-level module, in this
/// order.
pub(crate) const DANGEROUS: &[Danger] = &[
    Danger {
        rule: "pickle-code-exec",
        reason: "runs shell commands or Python code",
        source: "fickling UNSAFE_IMPORTS; picklescan _unsafe_globals; modelaudit SUSPICIOUS_GLOBALS",
        prefixes: &[
            "os",
            "posix",
            "nt",
            "subprocess",
            "builtins.eval",
            "builtins.exec",
            "builtins.execfile",
            "builtins.compile",
            "builtins.__import__",
            "builtins.breakpoint",
            "builtins.input",
            "builtins.raw_input",
            "builtins.help",
            "builtins.exit",
            "builtins.quit",
            "builtins.reload",
            "runpy",
            "pty",
            "code",
            "codeop",
            "sys",
            "platform.popen",
            "commands",
            "popen2",
            "pexpect",
            "pipes",
            "pydoc",
            "_pyrepl",
            "distutils.spawn",
            "asyncio.subprocess",
            "asyncio.create_subprocess_exec",
            "asyncio.create_subprocess_shell",
            "asyncio.unix_events",
            "asyncio.base_subprocess",
            "IPython",
            "numexpr",
        ],
    },
    Danger {
        rule: "pickle-code-exec",
        reason: "starts a subinterpreter that runs code it is given",
        source: "fickling GHSA-6ggj-6f2q-f7mx",
        prefixes: &[
            "_interpreters",
            "_xxsubinterpreters",
            "_interpchannels",
            "_interpqueues",
            "_xxinterpchannels",
            "_xxinterpqueues",
            "interpreters",
            "concurrent.interpreters",
        ],
    },
    Danger {
        rule: "pickle-code-exec",
        reason: "private standard-library helper that runs a shell command",
        source: "fickling GHSA-5hwf-rc88-82xm; picklescan _unsafe_globals",
        prefixes: &[
            "uuid._get_command_stdout",
            "uuid._popen",
            "uuid._arp_getnode",
            "uuid._ifconfig_getnode",
            "uuid._ip_getnode",
            "uuid._lanscan_getnode",
            "uuid._netstat_getnode",
            "uuid.getnode",
            "_osx_support",
            "_aix_support",
            "ctypes.util",
            "imaplib.IMAP4_stream",
        ],
    },
    Danger {
        rule: "pickle-code-exec",
        reason: "builds code or function objects from data",
        source: "fickling GHSA-565g-hwwr-4pp3; picklescan _unsafe_globals",
        prefixes: &[
            "types.CodeType",
            "types.FunctionType",
            "types.LambdaType",
            "types.MethodType",
            "cloudpickle.cloudpickle",
            "compileall",
            "py_compile",
            "ast",
        ],
    },
    Danger {
        rule: "pickle-import-machinery",
        reason: "imports any module and reaches any callable",
        source: "fickling UNSAFE_IMPORTS; picklescan _unsafe_globals; modelaudit SUSPICIOUS_GLOBALS",
        prefixes: &[
            "importlib",
            "pkgutil",
            "imp",
            "zipimport",
            "builtins.__loader__",
            "builtins.__spec__",
            "_imp",
            "_frozen_importlib",
            "_frozen_importlib_external",
            "copyreg.add_extension",
            "copyreg.remove_extension",
        ],
    },
    Danger {
        rule: "pickle-attribute-gadget",
        reason: "reaches dangerous callables through attribute access on allowed objects",
        source: "fickling UNSAFE_IMPORTS; picklescan GHSA-955r-x9j8-7rhh; modelaudit SUSPICIOUS_GLOBALS",
        prefixes: &[
            "builtins.getattr",
            "builtins.setattr",
            "builtins.delattr",
            "builtins.globals",
            "builtins.locals",
            "builtins.vars",
            "builtins.dir",
            "builtins.apply",
            "builtins.type",
            "builtins.super",
            "builtins.classmethod",
            "builtins.staticmethod",
            "builtins.property",
            "builtins.map",
            "builtins.filter",
            "operator",
            "_operator",
            "functools",
            "_functools",
            "types",
            "inspect",
            "gc",
            "weakref",
            "test",
        ],
    },
    Danger {
        rule: "pickle-network",
        reason: "opens network connections, fetches payloads or exfiltrates data",
        source: "fickling UNSAFE_IMPORTS; picklescan _unsafe_globals; modelaudit SUSPICIOUS_GLOBALS",
        prefixes: &[
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
            "_ssl",
            "asyncio",
            "select",
            "selectors",
            "paramiko",
        ],
    },
    Danger {
        rule: "pickle-file-write",
        reason: "reads, writes or deletes files",
        source: "fickling UNSAFE_IMPORTS; picklescan _unsafe_globals; modelaudit SUSPICIOUS_GLOBALS",
        prefixes: &[
            "shutil",
            "io.FileIO",
            "io.open",
            "io.open_code",
            "_io",
            "builtins.open",
            "builtins.file",
            "tempfile",
            "fileinput",
            "filecmp",
            "glob",
            "zipfile",
            "tarfile",
            "sqlite3",
            "_sqlite3",
            "dbm",
            "mmap",
            "linecache",
            "codecs.open",
            "logging",
            "syslog",
            "distutils.file_util",
        ],
    },
    Danger {
        rule: "pickle-ffi",
        reason: "calls native code directly",
        source: "fickling UNSAFE_IMPORTS; picklescan _unsafe_globals",
        prefixes: &["ctypes", "_ctypes", "cffi"],
    },
    Danger {
        rule: "pickle-nested-load",
        reason: "deserialises a second payload the outer scan cannot see",
        source: "fickling UNSAFE_IMPORTS and UnsafeImportsML; picklescan _unsafe_globals",
        prefixes: &[
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
            "numpy.lib._npyio_impl.load",
            "yaml.load",
            "yaml.unsafe_load",
            "yaml.full_load",
            "jsonpickle",
            "pandas.read_pickle",
            "pandas.io.pickle",
            "keras.models.load_model",
            "keras.saving",
            "tensorflow.keras.models.load_model",
            "sklearn.externals.joblib.load",
        ],
    },
    Danger {
        rule: "pickle-process",
        reason: "starts or controls processes and threads",
        source: "fickling UNSAFE_IMPORTS; modelaudit SUSPICIOUS_GLOBALS; fickling GHSA-q5qq-mvfm-j35x",
        prefixes: &[
            "_posixsubprocess",
            "multiprocessing",
            "_multiprocessing",
            "signal",
            "_signal",
            "threading",
            "_thread",
            "concurrent",
            "resource",
            "atexit",
            "faulthandler",
        ],
    },
    Danger {
        rule: "pickle-ml-gadget",
        reason: "machine-learning framework entry point that downloads, compiles or evaluates code",
        source: "fickling UnsafeImportsML; picklescan _unsafe_globals; modelaudit SUSPICIOUS_GLOBALS",
        prefixes: &[
            "torch.hub",
            "torch.jit",
            "torch._C",
            "torch.package",
            "torch.ops",
            "torch._ops",
            "torch.utils.cpp_extension",
            "torch.utils._config_module",
            "torch.utils.collect_env",
            "torch.utils.bottleneck",
            "torch.utils.data.datapipes.utils.decoder",
            "torch.distributed",
            "torch._dynamo",
            "torch._inductor",
            "torch.compile",
            "torch.fx",
            "torch.export",
            "numpy.f2py",
            "numpy.distutils",
            "numpy.testing",
            "numpy.lib.utils",
            "numpy.ctypeslib",
            "numpy._pytesttester",
            "pandas.eval",
            "pandas.core.computation",
            "tensorflow.io",
            "tensorflow.py_function",
            "tensorflow.numpy_function",
            "tensorflow.compat.v1.py_func",
            "tensorflow.load_op_library",
            "tensorflow.load_library",
            "tensorflow.saved_model",
            "keras.utils.get_file",
            "keras.layers.Lambda",
            "huggingface_hub",
            "transformers.dynamic_module_utils",
            "transformers.utils.hub",
            "sklearn.utils._testing",
        ],
    },
    Danger {
        rule: "pickle-debugger",
        reason: "debugger, profiler or test runner that evaluates strings as code",
        source: "fickling GHSA-p523-jq9w-64x9; picklescan _unsafe_globals",
        prefixes: &[
            "pdb",
            "bdb",
            "cProfile",
            "profile",
            "_lsprof",
            "timeit",
            "trace",
            "tracemalloc",
            "idlelib",
            "lib2to3",
            "doctest",
            "unittest",
        ],
    },
    Danger {
        rule: "pickle-package-install",
        reason: "installs and runs third-party code",
        source: "fickling UNSAFE_IMPORTS; picklescan _unsafe_globals",
        prefixes: &["pip", "ensurepip", "setuptools", "distutils", "venv", "site"],
    },
    Danger {
        rule: "pickle-scanner-tamper",
        reason: "imports a model scanner to disable or patch it at load time",
        source: "fickling ScannerDeactivation",
        prefixes: &[
            "picklescan",
            "modelscan",
            "fickling",
            "modelaudit",
            "modelaudit_picklescan",
            "saferpickle",
            "model_unpickler",
            "portcullis",
            "pickletools",
        ],
    },
];

/// Frameworks whose private submodules hold code-loading machinery
/// (compilers, config loaders, test runners, rendezvous handlers).
const FRAMEWORKS: &[&str] = &[
    "torch",
    "numpy",
    "pandas",
    "keras",
    "tensorflow",
    "tf_keras",
    "transformers",
];

/// True when `name` equals `prefix` or continues it at a dot.
pub fn on_boundary(name: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('.');
    name == prefix
        || (name.len() > prefix.len()
            && name.starts_with(prefix)
            && name.as_bytes().get(prefix.len()) == Some(&b'.'))
}

/// True for a `__name__`-shaped segment.
fn is_dunder(seg: &str) -> bool {
    seg.len() > 4 && seg.starts_with("__") && seg.ends_with("__")
}

/// Modules whose own names have dunders; naming them is not traversal.
const DUNDER_MODULES: &[&str] = &["__future__", "__main__", "__mp_main__"];

/// The first dunder attribute-traversal segment of `full`, if any: any
/// dunder segment except a well-known dunder-named module at the top.
pub(crate) fn dunder_segment(full: &str) -> Option<&str> {
    full.split('.')
        .enumerate()
        .find(|(i, seg)| is_dunder(seg) && !(*i == 0 && DUNDER_MODULES.contains(seg)))
        .map(|(_, seg)| seg)
}

/// True when some segment is named like an unpickler class or module: a
/// pickle that reaches one is patching the loader that is reading it.
fn names_an_unpickler(full: &str) -> bool {
    full.split('.')
        .any(|s| s.to_ascii_lowercase().contains("unpickler"))
}

/// True when a framework global reaches its code-loading internals: a
/// private (single underscore) submodule or attribute, or a method reached
/// through a class (`pandas.DataFrame.eval`).
fn framework_internal(full: &str) -> bool {
    let mut segs = full.split('.');
    let Some(top) = segs.next() else { return false };
    if !FRAMEWORKS.contains(&top) {
        return false;
    }
    let rest: Vec<&str> = segs.collect();
    // Implementation packages that are private by convention rather than
    // by underscore: the public API re-exports what a user may touch.
    let implementation = matches!(
        (top, rest.first()),
        ("tensorflow", Some(&"python")) | ("keras" | "tf_keras", Some(&"src"))
    );
    let private = implementation
        || rest
            .iter()
            .any(|s| s.starts_with('_') && !is_dunder(s) && !reconstruction_helper(s));
    let method = rest.windows(2).any(|w| match w {
        [class, attr] => {
            class.starts_with(|c: char| c.is_ascii_uppercase())
                && attr.starts_with(|c: char| c.is_ascii_lowercase())
        }
        _ => false,
    });
    private || method
}

/// Private helpers that only rebuild values on unpickling (pandas writes
/// `_unpickle_block`, `__pyx_unpickle_*`, `_new_Index`).
fn reconstruction_helper(seg: &str) -> bool {
    let s = seg.trim_start_matches('_');
    s.starts_with("unpickle")
        || s.starts_with("pyx_unpickle")
        || s.starts_with("new_")
        || s.starts_with("nat_unpickle")
        || s == "libs"
}

/// The policy tables indexed for lookup: every file is full of globals.
/// Every global in every pickle is looked up here (twice when it is called),
/// so the tables use a fast non-cryptographic hash: the keys are our own
/// constants, and a lookup of attacker-chosen text costs one hash either way.
type FastState = foldhash::fast::FixedState;

struct Index {
    /// Top-level module -> (index into `DANGEROUS`, prefix) in table order.
    dangerous: HashMap<&'static str, Vec<(usize, &'static str)>, FastState>,
    /// Safe name -> its set's format.
    safe: HashMap<&'static str, &'static str, FastState>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut dangerous: HashMap<&'static str, Vec<(usize, &'static str)>, FastState> = HashMap::default();
        for (i, d) in DANGEROUS.iter().enumerate() {
            for p in d.prefixes {
                let trimmed = p.trim_end_matches('.');
                let top = trimmed.split('.').next().unwrap_or(trimmed);
                dangerous.entry(top).or_default().push((i, trimmed));
            }
        }
        let mut safe = HashMap::default();
        for set in SAFE_SETS {
            for n in set.names {
                safe.insert(*n, set.format);
            }
        }
        Index { dangerous, safe }
    })
}

/// Classifies a fully qualified global `module.name` (already normalised)
/// found in a pickle of unknown origin.
pub fn classify(full: &str) -> GlobalClass {
    judge(full, PickleContext::Plain).class
}

fn flag(rule: &'static str, sev: Severity, reason: &'static str, source: &'static str) -> Judgement {
    Judgement {
        class: GlobalClass::Flag(rule, sev),
        reason,
        source,
    }
}

/// Judges a fully qualified global in `ctx`, with the reason and source.
pub(crate) fn judge(full: &str, ctx: PickleContext) -> Judgement {
    // Path classes are safe values, but any method reached through them
    // (`pathlib.PosixPath.write_text`) touches the file system.
    if full.starts_with("pathlib.") && full.matches('.').count() >= 2 {
        return flag(
            "pickle-file-write",
            Severity::Critical,
            "method of a path class touches the file system",
            "fickling GHSA-5j3x-jp52-966f",
        );
    }
    let top = full.split('.').next().unwrap_or(full);
    let index = index();
    // Only prefixes under the same top-level module can match on a boundary;
    // the bucket keeps the table's order, so the first group still wins.
    if let Some(bucket) = index.dangerous.get(top) {
        if let Some(d) = bucket
            .iter()
            .find(|(_, p)| on_boundary(full, p))
            .and_then(|(i, _)| DANGEROUS.get(*i))
        {
            return flag(d.rule, Severity::Critical, d.reason, d.source);
        }
    }
    if index.safe.contains_key(full) || torch_value(full) || torch_module_class(full) || safe_by_shape(full) {
        return Judgement {
            class: GlobalClass::Safe,
            reason: "",
            source: "",
        };
    }
    if names_an_unpickler(full) {
        return flag(
            "pickle-scanner-tamper",
            Severity::Critical,
            "names an unpickler class, the loader a scanner installs",
            "rule: unpickler names",
        );
    }
    if dunder_segment(full).is_some() {
        return flag(
            "pickle-dunder-traversal",
            Severity::High,
            "dunder attribute traversal reaches interpreter internals, not a package's API",
            "rule: dunder segments",
        );
    }
    if ctx == PickleContext::TorchCheckpoint && top == "torch" {
        return flag(
            "pickle-framework-internal",
            Severity::High,
            "torch global that torch.save never writes into a checkpoint",
            "rule: torch.save set",
        );
    }
    if framework_internal(full) {
        return flag(
            "pickle-framework-internal",
            Severity::High,
            "private framework internals or a method reached through a framework class",
            "rule: framework internals",
        );
    }
    if STDLIB_MODULES.binary_search(&top).is_ok() {
        return flag(
            "pickle-stdlib-global",
            Severity::High,
            "standard-library global outside the safe list",
            "rule: standard library",
        );
    }
    flag(
        "pickle-unknown-global",
        Severity::Medium,
        "third-party code runs on load; trust the package",
        "rule: everything else",
    )
}

/// Python 2 (module, name) pairs the unpickler renames as a whole
/// (`_compat_pickle.NAME_MAPPING`): `range` pickled at protocol 2 is
/// `__builtin__.xrange`.
const NAME_MAPPING: &[((&str, &str), &str)] = &[
    (("__builtin__", "xrange"), "builtins.range"),
    (("__builtin__", "unicode"), "builtins.str"),
    (("__builtin__", "basestring"), "builtins.str"),
    (("__builtin__", "long"), "builtins.int"),
    (("__builtin__", "unichr"), "builtins.chr"),
    (("__builtin__", "reduce"), "functools.reduce"),
    (("__builtin__", "intern"), "sys.intern"),
    (("__builtin__", "raw_input"), "builtins.input"),
    (("itertools", "izip"), "builtins.zip"),
    (("itertools", "imap"), "builtins.map"),
    (("itertools", "ifilter"), "builtins.filter"),
    (("UserDict", "UserDict"), "collections.UserDict"),
    (("UserList", "UserList"), "collections.UserList"),
    (("UserString", "UserString"), "collections.UserString"),
    (("exceptions", "StandardError"), "builtins.Exception"),
];

/// Joins a module and a name into the dotted global, normalising the module.
pub fn qualify(module: &str, name: &str) -> String {
    if let Some((_, to)) = NAME_MAPPING.iter().find(|((m, n), _)| *m == module && *n == name) {
        return (*to).to_string();
    }
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
        for d in DANGEROUS {
            if d.prefixes.iter().any(|p| on_boundary(full, p)) {
                return GlobalClass::Flag(d.rule, Severity::Critical);
            }
        }
        if SAFE_SETS.iter().any(|s| s.names.contains(&full))
            || torch_value(full)
            || torch_module_class(full)
            || safe_by_shape(full)
        {
            return GlobalClass::Safe;
        }
        judge(full, PickleContext::Plain).class
    }

    #[test]
    fn indexed_lookup_agrees_with_the_tables_on_every_entry() {
        let mut names: Vec<String> = Vec::new();
        for d in DANGEROUS {
            for p in d.prefixes {
                names.extend([p.to_string(), format!("{p}.x"), format!("{p}x"), format!("x{p}")]);
            }
        }
        for set in SAFE_SETS {
            for s in set.names {
                names.extend([s.to_string(), format!("{s}.__init__")]);
            }
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
        assert_eq!(classify(&qualify("__builtin__", "xrange")), GlobalClass::Safe);
        assert_eq!(
            classify(&qualify("__builtins__", "exec")),
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

    /// Asserts the class of each name.
    fn expect(cases: &[(&str, GlobalClass)]) {
        for (name, want) in cases {
            assert_eq!(classify(name), *want, "{name}");
        }
    }

    const SAFE: GlobalClass = GlobalClass::Safe;
    const UNKNOWN: GlobalClass = GlobalClass::Flag("pickle-unknown-global", Severity::Medium);
    const STDLIB: GlobalClass = GlobalClass::Flag("pickle-stdlib-global", Severity::High);

    #[test]
    fn safe_list_is_exact_so_dotted_extensions_are_not_safe() {
        expect(&[
            ("collections.OrderedDict", SAFE),
            (&qualify("copy_reg", "_reconstructor"), SAFE),
            (&qualify("numpy.core.multiarray", "_reconstruct"), SAFE),
            (
                "collections.OrderedDict.__init__",
                GlobalClass::Flag("pickle-dunder-traversal", Severity::High),
            ),
            ("torch.float32", SAFE),
            ("sklearn.linear_model._logistic.LogisticRegression", UNKNOWN),
            ("builtins.print", STDLIB),
        ]);
    }

    /// The benign shapes peers' tests pin: pure builtins, feature flags and
    /// abstract base classes are not attacks; a dotted name under a safe
    /// module is not safe.
    #[test]
    fn pure_builtins_future_flags_and_abcs_are_safe() {
        expect(&[
            ("builtins.len", SAFE),
            ("__future__.annotations", SAFE),
            ("collections.abc.Iterable", SAFE),
            ("builtins.ValueError", SAFE),
            ("copyreg.__newobj__", SAFE),
            ("__future__._ssl.RAND_bytes", STDLIB),
            ("__main__.Model", UNKNOWN),
        ]);
    }

    #[test]
    fn dunder_traversal_is_high_wherever_it_appears() {
        for n in [
            "numpy.__builtins__",
            "torch.nn.Module.__subclasses__",
            "sklearn.base.__globals__",
            "__main__.__builtins__",
            "collections.OrderedDict.__reduce__",
            "x.__class__.__base__",
        ] {
            assert_eq!(
                classify(n),
                GlobalClass::Flag("pickle-dunder-traversal", Severity::High),
                "{n}"
            );
        }
        assert_eq!(dunder_segment("__future__.annotations"), None);
        assert_eq!(dunder_segment("numpy.random._pickle.__randomstate_ctor"), None);
    }

    #[test]
    fn scanners_and_unpicklers_are_tampering() {
        for n in [
            "modelaudit.scanners.pickle_scanner.PickleScanner",
            "saferpickle.load",
            "fickling.hook.remove_hook",
            "acme.loader.ModelUnpickler",
        ] {
            assert_eq!(
                classify(n),
                GlobalClass::Flag("pickle-scanner-tamper", Severity::Critical),
                "{n}"
            );
        }
    }

    #[test]
    fn framework_internals_are_high_and_torch_is_narrow_inside_checkpoints() {
        for n in [
            "numpy._core._internal.npy_ctypes_check",
            "pandas.DataFrame.query",
            "transformers.models.auto.AutoModel.from_pretrained",
            "tensorflow.python.ops.script_ops.py_func",
            "keras.src.utils.file_utils.get_file",
        ] {
            let c = classify(n);
            assert!(
                matches!(c, GlobalClass::Flag(_, s) if s >= Severity::High),
                "{n}: {c:?}"
            );
        }
        assert_eq!(
            classify("torch._inductor.codecache.compile_file"),
            GlobalClass::Flag("pickle-ml-gadget", Severity::Critical)
        );
        assert_eq!(
            classify("pandas._libs.internals._unpickle_block"),
            GlobalClass::Flag("pickle-unknown-global", Severity::Medium)
        );
        let inside = |n| judge(n, PickleContext::TorchCheckpoint).class;
        assert_eq!(inside("torch._utils._rebuild_tensor_v2"), GlobalClass::Safe);
        assert_eq!(inside("torch.FloatStorage"), GlobalClass::Safe);
        assert_eq!(inside("torch.nn.modules.linear.Linear"), GlobalClass::Safe);
        assert_eq!(
            inside("torch.testing._comparison.assert_close"),
            GlobalClass::Flag("pickle-framework-internal", Severity::High)
        );
        assert_eq!(
            inside("torch.optim.sgd.SGD"),
            GlobalClass::Flag("pickle-framework-internal", Severity::High)
        );
        assert_eq!(
            classify("torch.optim.sgd.SGD"),
            GlobalClass::Flag("pickle-unknown-global", Severity::Medium)
        );
    }

    #[test]
    fn private_subinterpreter_modules_run_code() {
        for n in ["_interpreters.create", "_xxsubinterpreters.run_string"] {
            assert_eq!(
                classify(n),
                GlobalClass::Flag("pickle-code-exec", Severity::Critical),
                "{n}"
            );
        }
    }
}
