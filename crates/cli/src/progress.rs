//! Progress bars on a TTY (stderr), silence elsewhere.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use portcullis_gates::Progress;

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

/// A gate's bar, as the gates crate's `Progress`.
pub struct GateBar(pub ProgressBar);

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
