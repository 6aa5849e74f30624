//! Progress bars on a TTY (stderr), silence elsewhere.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use portcullis_engine::{Observer, Warning};
use portcullis_gates::{GateOutcome, Progress};

/// True when stderr is a terminal and CI did not ask for plain output.
pub fn interactive() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("PORTCULLIS_NO_PROGRESS").is_none()
}

/// A set of bars drawn together.
pub struct Bars {
    multi: MultiProgress,
}

impl Bars {
    /// Bars on stderr when interactive, hidden otherwise.
    pub fn new() -> Self {
        let target = if interactive() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Bars {
            multi: MultiProgress::with_draw_target(target),
        }
    }

    /// A byte-counting bar (hashing).
    pub fn bytes(&self, prefix: &str, total: u64) -> ProgressBar {
        let pb = self.multi.add(ProgressBar::new(total));
        pb.set_style(
            ProgressStyle::with_template(
                "{prefix:>12} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        pb.set_prefix(prefix.to_string());
        pb
    }

    /// A bar for one gate.
    pub fn gate(&self, name: &str) -> GateBar {
        let pb = self.multi.add(ProgressBar::new(0));
        pb.set_style(
            ProgressStyle::with_template("{prefix:>12} {spinner} [{bar:30}] {pos}/{len} eta {eta} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        pb.set_prefix(name.to_string());
        pb.enable_steady_tick(Duration::from_millis(120));
        GateBar(pb)
    }
}

/// A gate's bar, as the gates crate's `Progress`; cleared when dropped.
pub struct GateBar(pub ProgressBar);

impl Drop for GateBar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// The terminal as the engine's observer: bars on a TTY, warnings and one
/// line per finished gate on stderr.
pub struct Terminal {
    bars: Bars,
    gate_lines: bool,
}

impl Terminal {
    /// Bars only.
    pub fn new() -> Self {
        Terminal {
            bars: Bars::new(),
            gate_lines: false,
        }
    }

    /// Bars, and `NAME verdict in 1.2s` as each gate's result is signed.
    pub fn with_gate_lines() -> Self {
        Terminal {
            bars: Bars::new(),
            gate_lines: true,
        }
    }
}

impl Observer for Terminal {
    fn warn(&self, warning: &Warning) {
        eprintln!("warning: {warning}");
    }

    fn digest(&self, total: u64) -> Box<dyn Progress + '_> {
        Box::new(GateBar(self.bars.bytes("digest", total)))
    }

    fn gate(&self, name: &str) -> Box<dyn Progress + '_> {
        Box::new(self.bars.gate(name))
    }

    fn gate_done(&self, o: &GateOutcome) {
        if self.gate_lines {
            eprintln!(
                "{:>12} {} in {:.1}s",
                o.name,
                o.verdict,
                Duration::from_millis(o.duration_ms).as_secs_f64()
            );
        }
    }
}

impl Progress for GateBar {
    fn set_length(&self, len: u64) {
        self.0.set_length(len);
    }
    fn inc(&self, delta: u64) {
        self.0.inc(delta);
    }
    fn message(&self, msg: &str) {
        self.0.set_message(msg.to_string());
    }
}
