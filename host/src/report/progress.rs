//! A progress bar on stderr for long simulations.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// Progress of a simulation: requests completed of the total, and simulated time. Hidden unless
/// enabled and stderr is a terminal, so logs, pipes and tests see nothing. [`Progress::update`]
/// is cheap (a counter test most calls); the bar itself redraws at most a few times a second.
pub struct Progress {
    bar: Option<ProgressBar>,
    calls: u64,
    total: u64,
}

/// Calls to [`Progress::update`] between two updates of the bar.
const UPDATE_EVERY: u64 = 256;

impl Progress {
    /// A bar over `total_requests`; `enabled` false (e.g. `--quiet`) keeps it hidden.
    pub fn new(total_requests: u64, enabled: bool) -> Progress {
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::with_draw_target(Some(total_requests), ProgressDrawTarget::stderr_with_hz(4));
            if let Ok(style) =
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} requests, simulated {msg} (eta {eta})")
            {
                b.set_style(style);
            }
            b
        });
        Progress { bar, calls: 0, total: total_requests }
    }

    /// Report `done` completed requests at simulated time `sim_time_s`.
    pub fn update(&mut self, sim_time_s: f64, done: u64) {
        let Some(bar) = &self.bar else { return };
        self.calls += 1;
        if self.calls % UPDATE_EVERY != 1 && done < self.total {
            return;
        }
        bar.set_position(done);
        bar.set_message(format!("{sim_time_s:.1} s"));
    }

    /// Remove the bar.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl reallm_sim::Observer for Progress {
    fn progress(&mut self, sim_time_s: f64, done: u64, _expected: Option<u64>) -> bool {
        self.update(sim_time_s, done);
        true
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Set by the CLI's `--quiet`: no progress bars.
pub fn set_quiet(q: bool) {
    QUIET.store(q, std::sync::atomic::Ordering::Relaxed);
}

/// Whether progress bars are switched off.
pub fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_progress_is_hidden_and_cheap() {
        let mut p = Progress::new(10, false);
        assert!(p.bar.is_none());
        for i in 0..10 {
            p.update(i as f64, i);
        }
        p.finish();
    }
}
