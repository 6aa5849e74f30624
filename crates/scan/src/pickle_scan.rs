//! Turns the pickle walker's events into findings, stream after stream.
//!
//! A file may hold several concatenated pickles (legacy PyTorch writes five,
//! then raw storage bytes); every stream that parses is walked. What follows
//! the last stream is trailing data unless it too parses as a pickle.
//! Findings made before a parse error are kept, and the error is a finding of
//! its own.
//!
//! A framed stream (protocol 4/5) is walked once as CPython's C unpickler
//! reads bytes in memory, frames ignored. When an operand straddles a frame
//! end the readings of loaders diverge, so the stream is walked a second
//! time as a loader that treats frames as units reads it; the divergence is
//! a finding of its own and whatever only the second reading sees is
//! reported with the reading named.

use portcullis_evidence::Severity;

use crate::pickle::{looks_like_pickle, walk, Event, Reading, WalkCfg, WalkError};
use crate::policy::{judge, GlobalClass, PickleContext};
use crate::reading::Reading as LoaderReading;
use crate::scanner::{join, FileScan};

/// At most this many streams are walked per blob.
const MAX_STREAMS: usize = 64;

/// Scans the pickle stream(s) in `data` from `start`.
pub(crate) fn scan(fs: &mut FileScan<'_>, member: &str, data: &[u8], start: usize, depth: u32) {
    // A legacy torch stream switches the context for its own streams only.
    let outer = fs.pickle_context;
    scan_streams(fs, member, data, start, depth);
    fs.pickle_context = outer;
}

fn scan_streams(fs: &mut FileScan<'_>, member: &str, data: &[u8], start: usize, depth: u32) {
    let mut cfg = WalkCfg {
        max_ops: fs.opts.limits.max_pickle_ops,
        max_memo: fs.opts.limits.max_pickle_memo,
        max_stack: fs.opts.limits.max_pickle_stack,
        deadline: fs.deadline,
        reading: Reading::FramesIgnored,
    };
    let mut pos = start;
    let mut stream = 0usize;
    loop {
        let mut events = Vec::new();
        let mut ops = fs.pickle_ops;
        cfg.reading = Reading::FramesIgnored;
        let result = walk(data, pos, &cfg, &mut ops, &mut |e| events.push(e));
        fs.pickle_ops = ops;
        let label = if stream == 0 {
            member.to_string()
        } else {
            join(member, &format!("stream{stream}"))
        };
        if stream == 0 && is_legacy_torch_magic(&events, data, pos) {
            fs.pickle_context = PickleContext::TorchCheckpoint;
        }
        let diverges = events.iter().any(|e| matches!(e, Event::Divergence { .. }));
        for e in events {
            handle(fs, &label, e, depth);
        }
        if diverges {
            // The second reading: its own events, labelled; findings it
            // shares with the first are reported once.
            let mut second = Vec::new();
            let mut ops = fs.pickle_ops;
            cfg.reading = Reading::FrameBounded;
            let r2 = walk(data, pos, &cfg, &mut ops, &mut |e| second.push(e));
            fs.pickle_ops = ops;
            fs.reading = Some(LoaderReading::PickleFrameBounded);
            // Framing events repeat what the first walk reported.
            for e in second {
                if !matches!(e, Event::Frame { .. } | Event::Divergence { .. }) {
                    handle(fs, &label, e, depth);
                }
            }
            if let Err(WalkError::Parse { offset, msg }) = r2 {
                parse_error(fs, &label, offset, &msg);
            }
            fs.reading = None;
        }
        match result {
            Ok(end) => {
                pos = end;
                stream += 1;
                if pos >= data.len() {
                    return;
                }
                let rest = data.get(pos..).unwrap_or(&[]);
                if stream < MAX_STREAMS && looks_like_pickle(rest) {
                    continue;
                }
                if rest.iter().any(|&b| b != 0 && !b.is_ascii_whitespace()) {
                    fs.report(
                        "pickle-trailing-data",
                        Severity::Low,
                        member,
                        Some(pos as u64),
                        None,
                        format!("{} bytes follow the last pickle stream", rest.len()),
                    );
                }
                return;
            }
            Err(WalkError::Parse { offset, msg }) => {
                parse_error(fs, &label, offset, &msg);
                return;
            }
            Err(WalkError::Limit { offset, msg }) => {
                fs.report(
                    "scan-limit-exceeded",
                    Severity::High,
                    &label,
                    Some(offset as u64),
                    None,
                    format!("pickle walk stopped: {msg}"),
                );
                return;
            }
            Err(WalkError::Timeout { .. }) => {
                fs.expired(&label);
                return;
            }
        }
    }
}

fn parse_error(fs: &mut FileScan<'_>, label: &str, offset: usize, msg: &str) {
    fs.report(
        "pickle-parse-error",
        Severity::High,
        label,
        Some(offset as u64),
        None,
        format!("pickle stream is malformed at byte {offset}: {msg}"),
    );
}

/// True when the first stream is the magic number a legacy `torch.save`
/// writes before its pickles (`0x1950a86a20f9469cfc6c`, `LONG1`).
fn is_legacy_torch_magic(events: &[Event<'_>], data: &[u8], pos: usize) -> bool {
    const MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
    events.is_empty()
        && data
            .get(pos..pos.saturating_add(16))
            .is_some_and(|h| h.windows(MAGIC.len()).any(|w| w == MAGIC))
}

fn handle(fs: &mut FileScan<'_>, member: &str, e: Event<'_>, depth: u32) {
    match e {
        Event::Global { name, offset, op } => {
            let j = judge(&name, fs.pickle_context);
            if let GlobalClass::Flag(rule, sev) = j.class {
                let msg = match rule {
                    "pickle-unknown-global" | "pickle-stdlib-global" => {
                        format!("{op} imports {name}: {}", j.reason)
                    }
                    _ => format!("{op} imports {name}: {} ({})", j.reason, j.source),
                };
                fs.report_global(rule, sev, member, offset as u64, &name, msg);
            }
        }
        Event::Call {
            name,
            chain,
            offset,
            op,
        } => {
            let j = judge(&name, fs.pickle_context);
            if let GlobalClass::Flag(rule, sev) = j.class {
                // A call reached by traversal is never how a model rebuilds
                // itself: at least high, under the rule of what it reaches.
                let rule = match rule {
                    "pickle-unknown-global" | "pickle-stdlib-global" => "pickle-indirect-call",
                    r => r,
                };
                let msg = format!("{op} calls {name}, reached by {chain}: {}", j.reason);
                fs.report_global(rule, sev.max(Severity::High), member, offset as u64, &name, msg);
            }
        }
        Event::Divergence { offset, why } => {
            fs.report_divergence(
                member,
                offset as u64,
                (
                    LoaderReading::PickleFramesIgnored,
                    LoaderReading::PickleFrameBounded,
                ),
                &why,
            );
        }
        Event::Unresolved { offset, op, why } => {
            fs.report(
                "pickle-unresolved-global",
                Severity::High,
                member,
                Some(offset as u64),
                Some(op),
                format!("{op} target cannot be resolved statically: {why}"),
            );
        }
        Event::Ext { offset, code } => {
            let frag = format!("EXT code {code}");
            fs.report(
                "pickle-extension-registry",
                Severity::High,
                member,
                Some(offset as u64),
                Some(&frag),
                format!("imports through the copyreg extension registry (code {code})"),
            );
        }
        Event::Bomb { offset, why } => {
            fs.report(
                "pickle-expansion-bomb",
                Severity::High,
                member,
                Some(offset as u64),
                None,
                format!("expansion bomb: {why}"),
            );
        }
        Event::Frame { offset, why } => {
            fs.report(
                "pickle-frame-anomaly",
                Severity::Medium,
                member,
                Some(offset as u64),
                None,
                why,
            );
        }
        Event::Payload { offset, bytes } => {
            // Bytes handed to a call may be a nested payload (pickle.loads,
            // torch.load of BytesIO): scan them as a blob of their own.
            if !crate::detect::detect(bytes).is_empty() {
                let sub = join(member, &format!("payload@{offset}"));
                fs.scan_blob(&sub, bytes, depth + 1);
            }
        }
    }
}
