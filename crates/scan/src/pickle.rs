//! A pickle opcode walker that never executes anything.
//!
//! It emulates the unpickler's stack, mark stack and memo just far enough to
//! know, for every `GLOBAL`, `INST` and `STACK_GLOBAL`, which module and name
//! would be imported, including names built through memo indirection
//! (`PUT`/`GET`/`MEMOIZE`). Values are modelled cheaply: strings and small
//! containers keep their content (capped), everything else is an opaque
//! marker, and sharing goes through `Rc` so `DUP`/`GET` floods cost nothing.
//!
//! joblib files are not pure pickles: after the `BUILD` of a
//! `NumpyArrayWrapper` joblib reads the raw array bytes (or a nested pickle for
//! object arrays) straight from the file, so the walker computes the array size
//! from the emulated wrapper state and skips or descends into those bytes, as
//! `joblib.numpy_pickle.NumpyUnpickler.load_build` does.
//!
//! Opcode semantics follow CPython's `Lib/pickle.py` and `Lib/pickletools.py`
//! (protocols 0-5, PEP 3154 framing, PEP 574 out-of-band buffers).

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use crate::policy::qualify;

/// Content kept per container; the rest is counted, not stored.
const CONTAINER_CAP: usize = 256;
/// Longest string kept verbatim (longer ones are opaque).
const STRING_CAP: usize = 4096;
/// Nested joblib object-array streams allowed inside one stream.
const MAX_NESTING: u32 = 8;

#[derive(Clone, Debug)]
enum V<'a> {
    None,
    Int(i64),
    Str(Text<'a>),
    Bytes(&'a [u8]),
    Global(Rc<str>),
    Tuple(Rc<Vec<V<'a>>>),
    List(u32),
    Dict(u32),
    Obj(u32),
    /// A value reached by attribute traversal or an import-like call: what
    /// it names and the steps that reached it.
    Derived(Rc<Derived>),
    Other,
}

/// A value the walker followed through calls and `BUILD`s on imported
/// objects (`numpy.size(obj, 'eval')` after `BUILD` set `obj.shape` to
/// `numpy.__builtins__` yields `builtins.eval`).
#[derive(Debug)]
struct Derived {
    /// The dotted name the value stands for.
    name: Rc<str>,
    /// The steps that reached it, for the finding.
    chain: Rc<str>,
}

/// Longest chain kept in a finding.
const CHAIN_CAP: usize = 400;

/// A string value: borrowed from the pickle bytes when the opcode carries it
/// verbatim (the common case, and no allocation), owned when it had to be
/// decoded (protocol-0 escapes).
#[derive(Debug, Clone)]
enum Text<'a> {
    Borrowed(&'a str),
    Owned(Rc<str>),
}

impl std::ops::Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            Text::Borrowed(s) => s,
            Text::Owned(s) => s,
        }
    }
}

#[derive(Debug)]
struct Obj<'a> {
    class: Option<Rc<str>>,
    args: V<'a>,
    state: Option<V<'a>>,
}

/// Containers live in an arena and values refer to them by index, so
/// self-referencing pickles (a list appended to itself) build no reference
/// cycles and leak nothing. Past the cap, new containers are opaque.
#[derive(Default)]
struct Arena<'a> {
    lists: Vec<Vec<V<'a>>>,
    dicts: Vec<Vec<(V<'a>, V<'a>)>>,
    objs: Vec<Obj<'a>>,
}

/// Containers modelled per stream; later ones are opaque.
const MAX_CONTAINERS: usize = 1_000_000;

impl<'a> Arena<'a> {
    fn full(&self) -> bool {
        self.lists.len() + self.dicts.len() + self.objs.len() >= MAX_CONTAINERS
    }

    fn list(&mut self, items: Vec<V<'a>>) -> V<'a> {
        if self.full() {
            return V::Other;
        }
        self.lists.push(items);
        V::List(u32::try_from(self.lists.len() - 1).unwrap_or(u32::MAX))
    }

    fn dict(&mut self, items: Vec<(V<'a>, V<'a>)>) -> V<'a> {
        if self.full() {
            return V::Other;
        }
        self.dicts.push(items);
        V::Dict(u32::try_from(self.dicts.len() - 1).unwrap_or(u32::MAX))
    }

    fn obj(&mut self, o: Obj<'a>) -> V<'a> {
        if self.full() {
            return V::Other;
        }
        self.objs.push(o);
        V::Obj(u32::try_from(self.objs.len() - 1).unwrap_or(u32::MAX))
    }
}

/// Something the walker saw that the policy must judge.
#[derive(Debug)]
pub(crate) enum Event<'a> {
    /// A global import: dotted name, byte offset of the opcode, opcode name.
    Global {
        name: String,
        offset: usize,
        op: &'static str,
    },
    /// A `STACK_GLOBAL`/`INST`/`OBJ` operand that is not a literal.
    Unresolved {
        offset: usize,
        op: &'static str,
        why: String,
    },
    /// An `EXT1/2/4` registry import.
    Ext { offset: usize, code: u32 },
    /// Bytes passed to a call; scanned as a possible nested payload.
    Payload { offset: usize, bytes: &'a [u8] },
    /// Expansion-bomb statistics crossed a threshold.
    Bomb { offset: usize, why: String },
    /// Framing that CPython would reject or that straddles frames.
    Frame { offset: usize, why: String },
    /// Framing that makes loaders read different opcode streams.
    Divergence { offset: usize, why: String },
    /// A call of a value reached by traversal rather than imported by name.
    Call {
        name: String,
        chain: String,
        offset: usize,
        op: &'static str,
    },
}

/// How a loader reads the frames of a protocol 4/5 stream (PEP 3154).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Reading {
    /// Frames as prefetch hints: opcodes run on across frame ends, as
    /// CPython's C unpickler reads a stream held in memory (`pickle.loads`).
    #[default]
    FramesIgnored,
    /// Frames as units: an operand that does not fit in what is left of
    /// its frame is read from the frame's end, the rest of the frame
    /// dropped, as the C unpickler does when it reads from a file
    /// (CPython issue 154848).
    FrameBounded,
}

/// Why a stream walk stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WalkError {
    /// Malformed or truncated input.
    Parse { offset: usize, msg: String },
    /// A count limit was hit.
    Limit { offset: usize, msg: String },
    /// The deadline passed.
    Timeout { offset: usize },
}

/// Limits for one file's walks.
pub(crate) struct WalkCfg {
    pub max_ops: u64,
    pub max_memo: usize,
    pub max_stack: usize,
    pub deadline: Instant,
    /// Which reading of the frames to take.
    pub reading: Reading,
}

/// Walks one pickle stream starting at `start`; returns the offset just past
/// its `STOP`. Events are reported as they are found, so a caller still sees
/// everything before an error.
pub(crate) fn walk<'a>(
    data: &'a [u8],
    start: usize,
    cfg: &WalkCfg,
    ops: &mut u64,
    sink: &mut dyn FnMut(Event<'a>),
) -> Result<usize, WalkError> {
    // Typical streams (a fitted estimator, a state dict) stay within a few
    // dozen stack entries and memo slots: one allocation each up front
    // instead of a series of regrowths.
    let mut w = Walker {
        data,
        pos: start,
        stack: Vec::with_capacity(32),
        marks: Vec::with_capacity(8),
        memo: Memo {
            dense: Vec::with_capacity(64),
            sparse: HashMap::new(),
        },
        cfg,
        ops,
        gets: 0,
        puts: 0,
        dups: 0,
        bomb_reported: false,
        frame_end: None,
        proto: 0,
        depth: 0,
        arena: Arena::default(),
    };
    w.run(sink)
}

/// True when `data` plausibly starts a pickle stream: the first opcodes parse
/// (a probe of a few dozen opcodes, with no events reported).
pub(crate) fn looks_like_pickle(data: &[u8]) -> bool {
    let Some(&first) = data.first() else {
        return false;
    };
    if first == 0x80 {
        if !matches!(data.get(1), Some(0..=5)) {
            return false;
        }
    } else if !matches!(
        first,
        b'(' | b'c'
            | b']'
            | b'}'
            | b')'
            | b'N'
            | b'I'
            | b'S'
            | b'V'
            | b'X'
            | b'l'
            | b'd'
            | b'i'
            | b'K'
            | b'J'
            | b'U'
            | b'T'
            | b'F'
            | b'G'
            | b'L'
    ) {
        // Protocol 0/1 streams start with one of these opcodes in practice.
        return false;
    }
    // pickle.dump at protocol 4 and 5 opens with PROTO and a FRAME (0x95,
    // 8-byte length) that holds the rest of the first stream. A frame that
    // fits in the data is as strong a magic as pickles have, and it spares
    // the probe walk on the most common modern files; whatever follows is
    // then walked, and a malformed body is a finding, not an unknown format.
    if first == 0x80 && matches!(data.get(1), Some(4 | 5)) && data.get(2) == Some(&0x95) {
        let mut n = [0u8; 8];
        if let Some(b) = data.get(3..11) {
            n.copy_from_slice(b);
            let frame = u64::from_le_bytes(n);
            if frame > 0 && frame <= (data.len() - 11) as u64 {
                return true;
            }
        }
    }
    let probe = &data[..data.len().min(4096)];
    let cfg = WalkCfg {
        max_ops: 64,
        max_memo: 1024,
        max_stack: 1024,
        deadline: Instant::now() + std::time::Duration::from_secs(1),
        reading: Reading::FramesIgnored,
    };
    let mut ops = 0u64;
    let mut imports = false;
    let result = walk(probe, 0, &cfg, &mut ops, &mut |e| {
        imports |= matches!(e, Event::Global { .. })
    });
    match result {
        Ok(_) => true,
        Err(WalkError::Limit { .. }) => ops >= 8,
        // A stream cut by the probe window or by the end of a truncated file
        // is still a pickle. So is one that imported a global or ran a few
        // protocol-2+ opcodes before breaking: the unpickler acts on the
        // prefix before it meets the broken tail.
        Err(WalkError::Parse { msg, .. }) => {
            imports || (msg.starts_with("truncated") && ops >= 3) || (first == 0x80 && ops > 3)
        }
        Err(WalkError::Timeout { .. }) => false,
    }
}

/// The unpickler's memo. Keys are almost always 0, 1, 2, ... (what
/// `MEMOIZE` and the pickler's `PUT`s assign), so they live in a vector;
/// any other key goes to a map, so a `LONG_BINPUT` at index 10^9 costs one
/// entry.
#[derive(Default)]
struct Memo<'a> {
    dense: Vec<V<'a>>,
    sparse: HashMap<u64, V<'a>>,
}

impl<'a> Memo<'a> {
    fn len(&self) -> usize {
        self.dense.len() + self.sparse.len()
    }

    fn contains(&self, key: u64) -> bool {
        usize::try_from(key).is_ok_and(|k| k < self.dense.len()) || self.sparse.contains_key(&key)
    }

    fn get(&self, key: u64) -> Option<&V<'a>> {
        match usize::try_from(key).ok().and_then(|k| self.dense.get(k)) {
            Some(v) => Some(v),
            None => self.sparse.get(&key),
        }
    }

    fn insert(&mut self, key: u64, v: V<'a>) {
        match usize::try_from(key) {
            Ok(k) if k < self.dense.len() => {
                if let Some(slot) = self.dense.get_mut(k) {
                    *slot = v;
                }
            }
            Ok(k) if k == self.dense.len() => {
                if !self.sparse.is_empty() {
                    self.sparse.remove(&key);
                }
                self.dense.push(v);
            }
            _ => {
                self.sparse.insert(key, v);
            }
        }
    }
}

struct Walker<'a, 'c> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<V<'a>>,
    marks: Vec<usize>,
    memo: Memo<'a>,
    cfg: &'c WalkCfg,
    ops: &'c mut u64,
    gets: u64,
    puts: u64,
    dups: u64,
    bomb_reported: bool,
    frame_end: Option<usize>,
    proto: u8,
    depth: u32,
    arena: Arena<'a>,
}

fn err(offset: usize, msg: impl Into<String>) -> WalkError {
    WalkError::Parse {
        offset,
        msg: msg.into(),
    }
}

impl<'a> Walker<'a, '_> {
    /// In the frame-bounded reading, an operand of `n` bytes that does not
    /// fit in the rest of its frame starts at the frame's end instead.
    fn bound_to_frame(&mut self, n: usize) {
        if self.cfg.reading != Reading::FrameBounded {
            return;
        }
        if let Some(end) = self.frame_end {
            if self.pos < end && self.pos.saturating_add(n) > end {
                self.pos = end;
                self.frame_end = None;
            }
        }
    }

    fn take(&mut self, n: usize, at: usize) -> Result<&'a [u8], WalkError> {
        self.bound_to_frame(n);
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| err(at, format!("truncated: operand of {n} bytes runs past the end")))?;
        let s = self.data.get(self.pos..end).ok_or_else(|| err(at, "truncated"))?;
        self.pos = end;
        Ok(s)
    }

    fn uint(&mut self, n: usize, at: usize) -> Result<u64, WalkError> {
        let b = self.take(n, at)?;
        let mut v = 0u64;
        for (i, byte) in b.iter().enumerate() {
            v |= u64::from(*byte) << (8 * i);
        }
        Ok(v)
    }

    fn line(&mut self, at: usize) -> Result<&'a [u8], WalkError> {
        if self.cfg.reading == Reading::FrameBounded {
            if let Some(end) = self.frame_end {
                let rest = self.data.get(self.pos..end).unwrap_or(&[]);
                if !rest.contains(&b'\n') {
                    self.bound_to_frame(rest.len() + 1);
                }
            }
        }
        let rest = self.data.get(self.pos..).unwrap_or(&[]);
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| err(at, "truncated: line operand has no newline"))?;
        let line = rest.get(..n).unwrap_or(&[]);
        self.pos += n + 1;
        Ok(line)
    }

    fn len_from(&mut self, n: usize, at: usize) -> Result<usize, WalkError> {
        let v = self.uint(n, at)?;
        usize::try_from(v).map_err(|_| err(at, "length does not fit in memory"))
    }

    fn push(&mut self, v: V<'a>, at: usize) -> Result<(), WalkError> {
        if self.stack.len() >= self.cfg.max_stack {
            return Err(WalkError::Limit {
                offset: at,
                msg: format!("stack grew past {} entries", self.cfg.max_stack),
            });
        }
        self.stack.push(v);
        Ok(())
    }

    fn pop(&mut self, at: usize) -> Result<V<'a>, WalkError> {
        self.stack.pop().ok_or_else(|| err(at, "stack underflow"))
    }

    fn top(&self, at: usize) -> Result<V<'a>, WalkError> {
        self.stack
            .last()
            .cloned()
            .ok_or_else(|| err(at, "stack underflow"))
    }

    fn pop_mark(&mut self, at: usize) -> Result<Vec<V<'a>>, WalkError> {
        let m = self
            .marks
            .pop()
            .ok_or_else(|| err(at, "no MARK on the mark stack"))?;
        if m > self.stack.len() {
            return Err(err(at, "MARK above the stack"));
        }
        Ok(self.stack.split_off(m))
    }

    fn memo_put(&mut self, key: u64, at: usize) -> Result<(), WalkError> {
        let v = self.top(at)?;
        if self.memo.len() >= self.cfg.max_memo && !self.memo.contains(key) {
            return Err(WalkError::Limit {
                offset: at,
                msg: format!("memo grew past {} entries", self.cfg.max_memo),
            });
        }
        self.puts += 1;
        self.memo.insert(key, v);
        Ok(())
    }

    fn memo_get(&mut self, key: u64, at: usize) -> Result<(), WalkError> {
        let v = self
            .memo
            .get(key)
            .cloned()
            .ok_or_else(|| err(at, format!("memo key {key} was never stored")))?;
        self.gets += 1;
        self.push(v, at)
    }

    fn check_bomb(&mut self, at: usize, sink: &mut dyn FnMut(Event<'a>)) {
        if self.bomb_reported {
            return;
        }
        let why = if self.gets > 100_000 && self.gets > 64 * (self.puts + 1) {
            Some(format!("{} memo GETs against {} PUTs", self.gets, self.puts))
        } else if self.dups > 100_000 {
            Some(format!("{} DUP opcodes", self.dups))
        } else {
            None
        };
        if let Some(why) = why {
            self.bomb_reported = true;
            sink(Event::Bomb { offset: at, why });
        }
    }

    fn run(&mut self, sink: &mut dyn FnMut(Event<'a>)) -> Result<usize, WalkError> {
        loop {
            let at = self.pos;
            *self.ops += 1;
            if *self.ops > self.cfg.max_ops {
                return Err(WalkError::Limit {
                    offset: at,
                    msg: format!("more than {} opcodes", self.cfg.max_ops),
                });
            }
            if (*self.ops).is_multiple_of(8192) {
                if Instant::now() > self.cfg.deadline {
                    return Err(WalkError::Timeout { offset: at });
                }
                self.check_bomb(at, sink);
            }
            if let Some(end) = self.frame_end {
                if at >= end {
                    self.frame_end = None;
                }
            }
            let op = *self
                .data
                .get(at)
                .ok_or_else(|| err(at, "truncated: stream ends before STOP"))?;
            self.pos += 1;
            match op {
                b'.' => {
                    self.check_bomb(at, sink);
                    if let Some(end) = self.frame_end {
                        if self.pos < end {
                            sink(Event::Frame {
                                offset: at,
                                why: format!(
                                    "STOP inside a frame that declares {} more bytes",
                                    end - self.pos
                                ),
                            });
                        }
                    }
                    return Ok(self.pos);
                }
                0x80 => {
                    let p = self.uint(1, at)?;
                    if p > 5 {
                        return Err(err(at, format!("unsupported pickle protocol {p}")));
                    }
                    self.proto = u8::try_from(p).unwrap_or(5);
                }
                0x95 => {
                    let n = self.uint(8, at)?;
                    if let Some(end) = self.frame_end {
                        if at < end {
                            sink(Event::Divergence {
                                offset: at,
                                why: "a FRAME opens before the end of the current frame: pickle.py's \
                                      unpickler rejects the stream, the C unpickler runs it"
                                    .into(),
                            });
                        }
                    }
                    if self.proto < 4 {
                        sink(Event::Frame {
                            offset: at,
                            why: format!("FRAME in a protocol {} stream", self.proto),
                        });
                    }
                    let remaining = (self.data.len() - self.pos) as u64;
                    if n > remaining {
                        sink(Event::Frame {
                            offset: at,
                            why: format!("FRAME declares {n} bytes but only {remaining} remain"),
                        });
                    }
                    self.frame_end = usize::try_from(n).ok().and_then(|n| self.pos.checked_add(n));
                }
                b'(' => {
                    if self.marks.len() >= self.cfg.max_stack {
                        return Err(WalkError::Limit {
                            offset: at,
                            msg: "mark stack limit".into(),
                        });
                    }
                    self.marks.push(self.stack.len());
                }
                b'0' => {
                    self.pop(at)?;
                }
                b'1' => {
                    self.pop_mark(at)?;
                }
                b'2' => {
                    self.dups += 1;
                    let v = self.top(at)?;
                    self.push(v, at)?;
                }
                b'N' => self.push(V::None, at)?,
                0x88 | 0x89 => self.push(V::Int(i64::from(op == 0x88)), at)?,
                b'I' => {
                    let l = self.line(at)?;
                    let s = std::str::from_utf8(l).map_err(|_| err(at, "INT operand is not text"))?;
                    let v = match s {
                        "00" => V::Int(0),
                        "01" => V::Int(1),
                        _ => s.trim().parse::<i64>().map(V::Int).unwrap_or(V::Other),
                    };
                    self.push(v, at)?;
                }
                b'L' => {
                    let l = self.line(at)?;
                    let s = std::str::from_utf8(l).map_err(|_| err(at, "LONG operand is not text"))?;
                    let v = s
                        .trim()
                        .trim_end_matches('L')
                        .parse::<i64>()
                        .map(V::Int)
                        .unwrap_or(V::Other);
                    self.push(v, at)?;
                }
                b'F' => {
                    self.line(at)?;
                    self.push(V::Other, at)?;
                }
                b'G' => {
                    self.take(8, at)?;
                    self.push(V::Other, at)?;
                }
                b'J' => {
                    let b = self.take(4, at)?;
                    let v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    self.push(V::Int(i64::from(v)), at)?;
                }
                b'K' => {
                    let v = self.uint(1, at)?;
                    self.push(V::Int(v as i64), at)?;
                }
                b'M' => {
                    let v = self.uint(2, at)?;
                    self.push(V::Int(v as i64), at)?;
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a {
                        self.len_from(1, at)?
                    } else {
                        self.len_from(4, at)?
                    };
                    let b = self.take(n, at)?;
                    let v = if n <= 8 && !b.is_empty() {
                        let mut buf = [0u8; 8];
                        let fill = if b.last().is_some_and(|x| x & 0x80 != 0) {
                            0xff
                        } else {
                            0
                        };
                        buf.fill(fill);
                        buf[..n].copy_from_slice(b);
                        V::Int(i64::from_le_bytes(buf))
                    } else if b.is_empty() {
                        V::Int(0)
                    } else {
                        V::Other
                    };
                    self.push(v, at)?;
                }
                b'S' => {
                    let l = self.line(at)?;
                    let v = decode_string_literal(l)
                        .map(|s| owned_str_value(&s))
                        .unwrap_or(V::Other);
                    self.push(v, at)?;
                }
                b'T' | b'U' | b'B' | b'C' | 0x8e | 0x96 => {
                    let n = match op {
                        b'T' | b'B' => self.len_from(4, at)?,
                        b'U' | b'C' => self.len_from(1, at)?,
                        _ => self.len_from(8, at)?,
                    };
                    let b = self.take(n, at)?;
                    // Python 3 decodes BINSTRING/SHORT_BINSTRING with the
                    // unpickler's encoding (ASCII by default).
                    let v = if matches!(op, b'T' | b'U') {
                        match std::str::from_utf8(b) {
                            Ok(s) if s.len() <= STRING_CAP => V::Str(Text::Borrowed(s)),
                            _ => V::Bytes(b),
                        }
                    } else {
                        V::Bytes(b)
                    };
                    self.push(v, at)?;
                }
                b'V' => {
                    let l = self.line(at)?;
                    let s = decode_raw_unicode_escape(l);
                    self.push(owned_str_value(&s), at)?;
                }
                b'X' | 0x8c | 0x8d => {
                    let n = match op {
                        b'X' => self.len_from(4, at)?,
                        0x8c => self.len_from(1, at)?,
                        _ => self.len_from(8, at)?,
                    };
                    let b = self.take(n, at)?;
                    let s = std::str::from_utf8(b).map_err(|_| err(at, "unicode operand is not UTF-8"))?;
                    self.push(str_value(s), at)?;
                }
                b')' => self.push(V::Tuple(Rc::new(Vec::new())), at)?,
                b']' => {
                    let v = self.arena.list(Vec::new());
                    self.push(v, at)?;
                }
                b'}' => {
                    let v = self.arena.dict(Vec::new());
                    self.push(v, at)?;
                }
                0x8f => self.push(V::Other, at)?,
                b't' => {
                    let items = self.pop_mark(at)?;
                    self.push(V::Tuple(Rc::new(cap(items))), at)?;
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    if self.stack.len() < n {
                        return Err(err(at, "stack underflow"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push(V::Tuple(Rc::new(items)), at)?;
                }
                b'l' => {
                    let items = self.pop_mark(at)?;
                    let v = self.arena.list(cap(items));
                    self.push(v, at)?;
                }
                b'd' => {
                    let items = self.pop_mark(at)?;
                    let pairs = pairs(items);
                    let v = self.arena.dict(pairs);
                    self.push(v, at)?;
                }
                0x91 => {
                    self.pop_mark(at)?;
                    self.push(V::Other, at)?;
                }
                b'a' => {
                    let v = self.pop(at)?;
                    let target = self.top(at)?;
                    if let Some(l) = list_mut(&mut self.arena, &target) {
                        if l.len() < CONTAINER_CAP {
                            l.push(v);
                        }
                    }
                }
                b'e' => {
                    let items = self.pop_mark(at)?;
                    let target = self.top(at)?;
                    if let Some(l) = list_mut(&mut self.arena, &target) {
                        for v in items {
                            if l.len() >= CONTAINER_CAP {
                                break;
                            }
                            l.push(v);
                        }
                    }
                }
                0x90 => {
                    self.pop_mark(at)?;
                    self.top(at)?;
                }
                b's' => {
                    let v = self.pop(at)?;
                    let k = self.pop(at)?;
                    let target = self.top(at)?;
                    if let Some(d) = dict_mut(&mut self.arena, &target) {
                        if d.len() < CONTAINER_CAP {
                            d.push((k, v));
                        }
                    }
                }
                b'u' => {
                    let items = self.pop_mark(at)?;
                    let target = self.top(at)?;
                    if let Some(d) = dict_mut(&mut self.arena, &target) {
                        for kv in pairs(items) {
                            if d.len() >= CONTAINER_CAP {
                                break;
                            }
                            d.push(kv);
                        }
                    }
                }
                b'g' => {
                    let l = self.line(at)?;
                    let k = parse_decimal(l).ok_or_else(|| err(at, "GET operand is not a number"))?;
                    self.memo_get(k, at)?;
                }
                b'h' => {
                    let k = self.uint(1, at)?;
                    self.memo_get(k, at)?;
                }
                b'j' => {
                    let k = self.uint(4, at)?;
                    self.memo_get(k, at)?;
                }
                b'p' => {
                    let l = self.line(at)?;
                    let k = parse_decimal(l).ok_or_else(|| err(at, "PUT operand is not a number"))?;
                    self.memo_put(k, at)?;
                }
                b'q' => {
                    let k = self.uint(1, at)?;
                    self.memo_put(k, at)?;
                }
                b'r' => {
                    let k = self.uint(4, at)?;
                    self.memo_put(k, at)?;
                }
                0x94 => {
                    let k = self.memo.len() as u64;
                    self.memo_put(k, at)?;
                }
                b'c' => {
                    let module = self.line(at)?;
                    let name = self.line(at)?;
                    let full =
                        global_name(module, name).ok_or_else(|| err(at, "GLOBAL operand is not UTF-8"))?;
                    sink(Event::Global {
                        name: full.clone(),
                        offset: at,
                        op: "GLOBAL",
                    });
                    self.push(V::Global(Rc::from(full.as_str())), at)?;
                }
                b'i' => {
                    let module = self.line(at)?;
                    let name = self.line(at)?;
                    let full =
                        global_name(module, name).ok_or_else(|| err(at, "INST operand is not UTF-8"))?;
                    sink(Event::Global {
                        name: full.clone(),
                        offset: at,
                        op: "INST",
                    });
                    let args = self.pop_mark(at)?;
                    let obj = self.arena.obj(Obj {
                        class: Some(Rc::from(full.as_str())),
                        args: V::Tuple(Rc::new(cap(args))),
                        state: None,
                    });
                    self.push(obj, at)?;
                }
                0x93 => {
                    let name = self.pop(at)?;
                    let module = self.pop(at)?;
                    let v = match (&module, &name) {
                        (V::Str(m), V::Str(n)) => {
                            let full = qualify(m, n);
                            sink(Event::Global {
                                name: full.clone(),
                                offset: at,
                                op: "STACK_GLOBAL",
                            });
                            V::Global(Rc::from(full.as_str()))
                        }
                        _ => {
                            sink(Event::Unresolved {
                                offset: at,
                                op: "STACK_GLOBAL",
                                why: format!(
                                    "operands are {} and {}, not literal strings",
                                    kind(&module),
                                    kind(&name)
                                ),
                            });
                            V::Other
                        }
                    };
                    self.push(v, at)?;
                }
                0x82..=0x84 => {
                    let code = match op {
                        0x82 => self.uint(1, at)?,
                        0x83 => self.uint(2, at)?,
                        _ => self.uint(4, at)?,
                    };
                    sink(Event::Ext {
                        offset: at,
                        code: u32::try_from(code).unwrap_or(u32::MAX),
                    });
                    self.push(V::Other, at)?;
                }
                b'o' => {
                    let mut items = self.pop_mark(at)?;
                    if items.is_empty() {
                        return Err(err(at, "OBJ with an empty mark"));
                    }
                    let cls = items.remove(0);
                    let obj = self.call(cls, V::Tuple(Rc::new(cap(items))), at, "OBJ", sink);
                    self.push(obj, at)?;
                }
                b'R' | 0x81 => {
                    let args = self.pop(at)?;
                    let callable = self.pop(at)?;
                    let name = if op == b'R' { "REDUCE" } else { "NEWOBJ" };
                    let obj = self.call(callable, args, at, name, sink);
                    self.push(obj, at)?;
                }
                0x92 => {
                    let _kwargs = self.pop(at)?;
                    let args = self.pop(at)?;
                    let cls = self.pop(at)?;
                    let obj = self.call(cls, args, at, "NEWOBJ_EX", sink);
                    self.push(obj, at)?;
                }
                b'b' => {
                    let state = self.pop(at)?;
                    let target = self.top(at)?;
                    if let V::Obj(i) = target {
                        let class = self.arena.objs.get_mut(i as usize).and_then(|o| {
                            o.state = Some(state);
                            o.class.clone()
                        });
                        if let Some(c) = class {
                            if &*c == "joblib.numpy_pickle.NumpyArrayWrapper"
                                || &*c == "joblib.numpy_pickle.NDArrayWrapper"
                            {
                                self.joblib_array(i, &c, at, sink)?;
                            }
                        }
                    }
                }
                b'P' => {
                    self.line(at)?;
                    self.push(V::Other, at)?;
                }
                b'Q' => {
                    self.pop(at)?;
                    self.push(V::Other, at)?;
                }
                0x97 => self.push(V::Other, at)?,
                0x98 => {
                    self.top(at)?;
                }
                other => {
                    return Err(err(at, format!("unknown opcode 0x{other:02x}")));
                }
            }
            if let Some(end) = self.frame_end {
                if self.pos > end && at < end {
                    sink(Event::Divergence {
                        offset: at,
                        why: format!(
                            "opcode at byte {at} straddles the end of its frame at byte {end}: \
                             a loader that reads frames as units sees another opcode stream"
                        ),
                    });
                    self.frame_end = None;
                }
            }
        }
    }

    /// Models a call (`REDUCE`, `NEWOBJ`, `OBJ`): the result is an object of
    /// the callable's class; bytes arguments are reported as payloads.
    fn call(
        &mut self,
        callable: V<'a>,
        args: V<'a>,
        at: usize,
        op: &'static str,
        sink: &mut dyn FnMut(Event<'a>),
    ) -> V<'a> {
        let class = match &callable {
            V::Global(g) => Some(g.clone()),
            V::Derived(d) => {
                sink(Event::Call {
                    name: d.name.to_string(),
                    chain: d.chain.to_string(),
                    offset: at,
                    op,
                });
                None
            }
            V::Obj(_) | V::Other => None,
            other => {
                sink(Event::Unresolved {
                    offset: at,
                    op,
                    why: format!("callable is {}, not an imported global", kind(other)),
                });
                None
            }
        };
        let judged_safe = class
            .as_deref()
            .is_some_and(|c| crate::policy::classify(c) == crate::policy::GlobalClass::Safe);
        if let (false, V::Tuple(t)) = (judged_safe, &args) {
            for a in t.iter() {
                if let V::Bytes(b) = a {
                    if b.len() >= 2 {
                        sink(Event::Payload { offset: at, bytes: b });
                    }
                }
            }
        }
        if !judged_safe {
            if let Some(d) = self.follow(&callable, &args) {
                return V::Derived(Rc::new(d));
            }
        }
        self.arena.obj(Obj {
            class,
            args,
            state: None,
        })
    }

    /// What a call that is not on the safe list yields when its arguments
    /// hold a namespace (an imported global, a traversed value, an object
    /// whose `BUILD` state holds one) and an attribute name: the attribute,
    /// as `getattr`, `operator.attrgetter(...)`, `numpy.size(obj, axis)` over
    /// a crafted `shape` and similar gadgets would fetch it. An import-like
    /// call (`__import__('os')`) yields the module it names.
    fn follow(&self, callable: &V<'a>, args: &V<'a>) -> Option<Derived> {
        let V::Tuple(items) = args else { return None };
        let (callee, callee_chain) = match callable {
            V::Global(g) => (g.to_string(), g.to_string()),
            V::Derived(d) => (d.name.to_string(), d.chain.to_string()),
            V::Obj(i) => {
                let o = self.arena.objs.get(*i as usize)?;
                let c = o.class.as_deref().unwrap_or("?");
                (c.to_string(), format!("{c}(...)"))
            }
            _ => return None,
        };
        if IMPORTERS.contains(&callee.as_str()) {
            let V::Str(m) = items.first()? else { return None };
            let m = crate::policy::normalise_module(m);
            return Some(Derived {
                chain: cap_chain(format!("{callee_chain}('{m}')")),
                name: Rc::from(m),
            });
        }
        let (ns, ns_chain) = items.iter().find_map(|v| self.namespace_of(v))?;
        // The attribute: a string argument, or one the callable object was
        // built with (`attrgetter('system')(module)`).
        let from_callable = match callable {
            V::Obj(i) => self.arena.objs.get(*i as usize).map(|o| o.args.clone()),
            _ => None,
        };
        let attr = items
            .iter()
            .chain(from_callable.iter().flat_map(|a| match a {
                V::Tuple(t) => t.iter().collect::<Vec<_>>(),
                _ => Vec::new(),
            }))
            .find_map(|v| match v {
                V::Str(s) if is_attr_name(s) => Some(s.to_string()),
                _ => None,
            })?;
        let base = match ns.rsplit_once('.') {
            Some((_, "__builtins__")) => "builtins".to_string(),
            _ if ns == "__builtins__" => "builtins".to_string(),
            _ => ns,
        };
        Some(Derived {
            name: Rc::from(format!("{base}.{attr}")),
            chain: cap_chain(format!("{callee_chain}({ns_chain}, '{attr}')")),
        })
    }

    /// The namespace a value stands for, and how it was reached.
    fn namespace_of(&self, v: &V<'a>) -> Option<(String, String)> {
        match v {
            V::Global(g) => Some((g.to_string(), g.to_string())),
            V::Derived(d) => Some((d.name.to_string(), d.chain.to_string())),
            V::Obj(i) => {
                let o = self.arena.objs.get(*i as usize)?;
                let class = o.class.as_deref().unwrap_or("object");
                let pairs = match o.state.as_ref()? {
                    V::Dict(d) => self.arena.dicts.get(*d as usize)?,
                    _ => return None,
                };
                pairs.iter().find_map(|(k, v)| {
                    let key = match k {
                        V::Str(s) => s.to_string(),
                        _ => "?".to_string(),
                    };
                    let (name, chain) = match v {
                        V::Global(g) => (g.to_string(), g.to_string()),
                        V::Derived(d) => (d.name.to_string(), d.chain.to_string()),
                        _ => return None,
                    };
                    Some((
                        name,
                        cap_chain(format!("{class}(...) with BUILD {key}={chain}")).to_string(),
                    ))
                })
            }
            _ => None,
        }
    }

    /// After `BUILD` of a joblib array wrapper: skip the raw array bytes that
    /// follow in the file, or walk the nested pickle of an object array.
    fn joblib_array(
        &mut self,
        obj: u32,
        class: &str,
        at: usize,
        sink: &mut dyn FnMut(Event<'a>),
    ) -> Result<(), WalkError> {
        let state = self.arena.objs.get(obj as usize).and_then(|o| o.state.clone());
        let Some(V::Dict(di)) = state else {
            return Err(err(at, format!("{class} state is not a dict")));
        };
        let d = self.arena.dicts.get(di as usize).cloned().unwrap_or_default();
        let get = |k: &str| -> Option<V<'a>> {
            d.iter()
                .find(|(key, _)| matches!(key, V::Str(s) if &**s == k))
                .map(|(_, v)| v.clone())
        };
        if class.ends_with("NDArrayWrapper") {
            // joblib <= 0.9 stored arrays in side files; nothing inline.
            return Ok(());
        }
        let dtype = get("dtype").ok_or_else(|| err(at, "array wrapper without dtype"))?;
        let (itemsize, has_object) = dtype_size(&self.arena, &dtype)
            .ok_or_else(|| err(at, "array wrapper dtype cannot be resolved statically"))?;
        if has_object {
            if self.depth >= MAX_NESTING {
                return Err(WalkError::Limit {
                    offset: at,
                    msg: "joblib object arrays nested too deeply".into(),
                });
            }
            let mut inner = Walker {
                data: self.data,
                pos: self.pos,
                stack: Vec::new(),
                marks: Vec::new(),
                memo: Memo::default(),
                cfg: self.cfg,
                ops: &mut *self.ops,
                gets: 0,
                puts: 0,
                dups: 0,
                bomb_reported: false,
                frame_end: None,
                proto: 0,
                depth: self.depth + 1,
                arena: Arena::default(),
            };
            let end = inner.run(sink)?;
            self.pos = end;
            self.frame_end = None;
            return Ok(());
        }
        let shape = match get("shape") {
            Some(V::Tuple(t)) => t
                .iter()
                .map(|v| match v {
                    V::Int(i) => u64::try_from(*i).ok(),
                    _ => None,
                })
                .collect::<Option<Vec<u64>>>(),
            _ => None,
        }
        .ok_or_else(|| err(at, "array wrapper shape is not a tuple of integers"))?;
        let count = shape
            .iter()
            .try_fold(1u64, |a, &b| a.checked_mul(b))
            .ok_or_else(|| err(at, "array shape overflows"))?;
        let bytes = count
            .checked_mul(itemsize)
            .ok_or_else(|| err(at, "array size overflows"))?;
        let aligned = !matches!(get("numpy_array_alignment_bytes"), None | Some(V::None));
        if aligned {
            let pad = self.uint(1, at)?;
            self.take(usize::try_from(pad).unwrap_or(usize::MAX), at)?;
        }
        let n = usize::try_from(bytes).map_err(|_| err(at, "array larger than memory"))?;
        self.take(n, at).map_err(|_| {
            err(
                at,
                format!("joblib array of {bytes} bytes runs past the end of the file"),
            )
        })?;
        self.frame_end = None;
        Ok(())
    }
}

/// Item size and whether the dtype holds Python objects, from an emulated
/// `numpy.dtype(...)` call and its `BUILD` state.
fn dtype_size(arena: &Arena<'_>, v: &V<'_>) -> Option<(u64, bool)> {
    let V::Obj(i) = v else { return None };
    let o = arena.objs.get(*i as usize)?;
    if o.class.as_deref() != Some("numpy.dtype") {
        return None;
    }
    let V::Tuple(args) = &o.args else { return None };
    let V::Str(code) = args.first()? else {
        return None;
    };
    let kind = code.chars().next()?;
    if kind == 'O' {
        return Some((8, true));
    }
    if let Some(V::Tuple(state)) = &o.state {
        // (version, byteorder, subdescr, names, fields, elsize, alignment, flags)
        if let Some(V::Int(elsize)) = state.get(5) {
            if *elsize > 0 {
                let fields_have_object = matches!(state.get(7), Some(V::Int(f)) if f & 1 != 0);
                return Some((u64::try_from(*elsize).ok()?, fields_have_object));
            }
        }
    }
    let digits: String = code.chars().skip(1).collect();
    let n: u64 = digits.parse().ok()?;
    let size = if kind == 'U' { n.checked_mul(4)? } else { n };
    Some((size, false))
}

/// Calls that import the module their first argument names.
const IMPORTERS: &[&str] = &[
    "builtins.__import__",
    "importlib.import_module",
    "importlib.__import__",
    "pkgutil.resolve_name",
    "pydoc.locate",
];

/// True for a plausible attribute name: an identifier of sane length.
fn is_attr_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

fn cap_chain(mut s: String) -> Rc<str> {
    if s.len() > CHAIN_CAP {
        let mut cut = CHAIN_CAP;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    Rc::from(s)
}

fn list_mut<'x, 'a>(arena: &'x mut Arena<'a>, v: &V<'a>) -> Option<&'x mut Vec<V<'a>>> {
    match v {
        V::List(i) => arena.lists.get_mut(*i as usize),
        _ => None,
    }
}

fn dict_mut<'x, 'a>(arena: &'x mut Arena<'a>, v: &V<'a>) -> Option<&'x mut Vec<(V<'a>, V<'a>)>> {
    match v {
        V::Dict(i) => arena.dicts.get_mut(*i as usize),
        _ => None,
    }
}

fn cap<T>(mut v: Vec<T>) -> Vec<T> {
    v.truncate(CONTAINER_CAP);
    v
}

fn pairs<'a>(items: Vec<V<'a>>) -> Vec<(V<'a>, V<'a>)> {
    let mut out = Vec::new();
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        if out.len() >= CONTAINER_CAP {
            break;
        }
        out.push((k, v));
    }
    out
}

fn str_value(s: &str) -> V<'_> {
    if s.len() <= STRING_CAP {
        V::Str(Text::Borrowed(s))
    } else {
        V::Other
    }
}

fn owned_str_value<'a>(s: &str) -> V<'a> {
    if s.len() <= STRING_CAP {
        V::Str(Text::Owned(Rc::from(s)))
    } else {
        V::Other
    }
}

fn kind(v: &V<'_>) -> &'static str {
    match v {
        V::None => "None",
        V::Int(_) => "an integer",
        V::Str(_) => "a string",
        V::Bytes(_) => "bytes",
        V::Global(_) => "a global",
        V::Tuple(_) => "a tuple",
        V::List(_) => "a list",
        V::Dict(_) => "a dict",
        V::Obj(_) => "a call result",
        V::Derived(_) => "a traversed value",
        V::Other => "an opaque value",
    }
}

fn parse_decimal(l: &[u8]) -> Option<u64> {
    std::str::from_utf8(l).ok()?.trim().parse().ok()
}

fn global_name(module: &[u8], name: &[u8]) -> Option<String> {
    let m = std::str::from_utf8(module).ok()?;
    let n = std::str::from_utf8(name).ok()?;
    Some(qualify(m, n))
}

/// Decodes Python's `raw-unicode-escape` (protocol 0 `UNICODE`): bytes are
/// Latin-1 except `\uXXXX` and `\UXXXXXXXX`.
fn decode_raw_unicode_escape(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            let width = match b.get(i + 1) {
                Some(b'u') => 4,
                Some(b'U') => 8,
                _ => 0,
            };
            if width > 0 {
                if let Some(hex) = b.get(i + 2..i + 2 + width) {
                    if let Some(ch) = std::str::from_utf8(hex)
                        .ok()
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .and_then(char::from_u32)
                    {
                        out.push(ch);
                        i += 2 + width;
                        continue;
                    }
                }
            }
        }
        out.push(char::from(c));
        i += 1;
    }
    out
}

/// Decodes a protocol 0 `STRING` operand: a quoted Python literal with
/// backslash escapes.
fn decode_string_literal(l: &[u8]) -> Option<String> {
    let q = *l.first()?;
    if !(q == b'\'' || q == b'"') || l.len() < 2 || *l.last()? != q {
        return None;
    }
    let body = l.get(1..l.len() - 1)?;
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let e = *body.get(i + 1)?;
        i += 2;
        match e {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'\\' | b'\'' | b'"' => out.push(e),
            b'x' => {
                let h = std::str::from_utf8(body.get(i..i + 2)?).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 2;
            }
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                let mut n = 1;
                while n < 3 {
                    match body.get(i) {
                        Some(d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                            n += 1;
                        }
                        _ => break,
                    }
                }
                out.push(u8::try_from(v & 0xff).ok()?);
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A protocol-4 header whose frame fits in the data is a pickle even
    /// when the body breaks at once (the walk then reports the break); a
    /// frame longer than the data gets no shortcut, and the probe decides.
    #[test]
    fn framed_protocol_4_header_is_a_pickle_without_a_probe() {
        let mut framed = vec![0x80, 4, 0x95];
        framed.extend_from_slice(&4u64.to_le_bytes());
        framed.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        assert!(looks_like_pickle(&framed));
        let mut ops = 0;
        assert!(matches!(
            walk(&framed, 0, &cfg(), &mut ops, &mut |_| {}),
            Err(WalkError::Parse { .. })
        ));
        let mut overlong = vec![0x80, 4, 0x95];
        overlong.extend_from_slice(&400u64.to_le_bytes());
        overlong.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        assert!(!looks_like_pickle(&overlong));
        // Protocol 3 has no frames: the probe still decides.
        assert!(!looks_like_pickle(&[0x80, 3, 0xff, 0xff]));
    }

    fn cfg() -> WalkCfg {
        WalkCfg {
            max_ops: 1_000_000,
            max_memo: 1000,
            max_stack: 1000,
            deadline: Instant::now() + Duration::from_secs(10),
            reading: Reading::FramesIgnored,
        }
    }

    fn globals(data: &[u8]) -> (Vec<String>, Result<usize, WalkError>) {
        let mut out = Vec::new();
        let mut ops = 0;
        let r = walk(data, 0, &cfg(), &mut ops, &mut |e| {
            if let Event::Global { name, .. } = e {
                out.push(name);
            }
        });
        (out, r)
    }

    #[test]
    fn stack_global_resolves_through_memo_indirection() {
        // PROTO 4, 'os' MEMOIZE, POP, 'system', GET 0, swap via memo: module from memo.
        let mut p = vec![0x80, 4, 0x8c, 2];
        p.extend_from_slice(b"os");
        p.extend_from_slice(&[0x94, b'0', b'h', 0, 0x8c, 6]);
        p.extend_from_slice(b"system");
        p.extend_from_slice(&[0x93, b')', b'R', b'.']);
        let (g, r) = globals(&p);
        assert_eq!(g, vec!["os.system"]);
        assert!(r.is_ok(), "{r:?}");
    }

    #[test]
    fn protocol0_unicode_escapes_are_decoded_before_matching() {
        let p = b"Vo\\u0073\nVsystem\n\x93)R.";
        let (g, _) = globals(p);
        assert_eq!(g, vec!["os.system"]);
    }

    #[test]
    fn truncated_stream_reports_globals_seen_before_the_error() {
        let p = b"cos\nsystem\n(S'id'\ntR";
        let (g, r) = globals(p);
        assert_eq!(g, vec!["os.system"]);
        assert!(matches!(r, Err(WalkError::Parse { .. })));
    }

    #[test]
    fn memo_limit_is_enforced() {
        let mut p = vec![0x80, 4, b'N'];
        p.extend(std::iter::repeat_n(0x94u8, 2000));
        p.push(b'.');
        let (_, r) = globals(&p);
        assert!(matches!(r, Err(WalkError::Limit { .. })), "{r:?}");
    }

    #[test]
    fn memo_get_flood_is_reported_as_an_expansion_bomb() {
        let mut p = vec![0x80, 4, b']', 0x94];
        for _ in 0..150_000 {
            p.extend_from_slice(&[b'h', 0, b'0']);
        }
        p.push(b'.');
        let mut bombs = 0;
        let mut ops = 0;
        let r = walk(&p, 0, &cfg(), &mut ops, &mut |e| {
            if matches!(e, Event::Bomb { .. }) {
                bombs += 1;
            }
        });
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(bombs, 1);
    }

    #[test]
    fn string_literal_escapes_decode() {
        assert_eq!(decode_string_literal(b"'o\\x73'").as_deref(), Some("os"));
        assert_eq!(decode_string_literal(b"\"a\\'b\"").as_deref(), Some("a'b"));
    }
}
