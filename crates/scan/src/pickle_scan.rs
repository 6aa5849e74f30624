//! Turns the pickle walker's events into findings, stream after stream.
//!
//! A file may hold several concatenated pickles (legacy PyTorch writes five,
//! then raw storage bytes); every stream that parses is walked. What follows
//! the last stream is trailing data unless it too parses as a pickle.
//! Findings made before a parse error are kept, and the error is a finding of
//! its own.

use portcullis_evidence::Severity;

use crate::pickle::{looks_like_pickle, walk, Event, WalkCfg, WalkError};
use crate::policy::{classify, GlobalClass};
use crate::scanner::{join, FileScan};

/// At most this many streams are walked per blob.
const MAX_STREAMS: usize = 64;

/// Scans the pickle stream(s) in `data` from `start`.
pub(crate) fn scan(fs: &mut FileScan<'_>, member: &str, data: &[u8], start: usize, depth: u32) {
    let cfg = WalkCfg {
        max_ops: fs.opts.limits.max_pickle_ops,
        max_memo: fs.opts.limits.max_pickle_memo,
        max_stack: fs.opts.limits.max_pickle_stack,
        deadline: fs.deadline,
    };
    let mut pos = start;
    let mut stream = 0usize;
    loop {
        let mut events = Vec::new();
        let mut ops = fs.pickle_ops;
        let result = walk(data, pos, &cfg, &mut ops, &mut |e| events.push(e));
        fs.pickle_ops = ops;
        let label = if stream == 0 {
            member.to_string()
        } else {
            join(member, &format!("stream{stream}"))
        };
        for e in events {
            handle(fs, &label, e, depth);
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
                fs.report(
                    "pickle-parse-error",
                    Severity::High,
                    &label,
                    Some(offset as u64),
                    None,
                    format!("pickle stream is malformed at byte {offset}: {msg}"),
                );
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

fn handle(fs: &mut FileScan<'_>, member: &str, e: Event<'_>, depth: u32) {
    match e {
        Event::Global { name, offset, op } => match classify(&name) {
            GlobalClass::Safe => {}
            GlobalClass::Flag(rule, sev) => {
                let why = match rule {
                    "pickle-unknown-global" => "third-party code runs on load; trust the package",
                    "pickle-stdlib-global" => "standard-library global outside the safe list",
                    _ => "known-dangerous global runs on load",
                };
                fs.report_global(
                    rule,
                    sev,
                    member,
                    offset as u64,
                    &name,
                    format!("{op} imports {name}: {why}"),
                );
            }
        },
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
