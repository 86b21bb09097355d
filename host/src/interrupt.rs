//! Ctrl-C for a `reallm` process (the binary and `python -m reallm`): graceful for sweeps (the
//! first press lets the points in flight finish), immediate with clean-up otherwise (unfinished
//! output files removed, exit 130).

use crate::error::exit;
use std::sync::atomic::{AtomicU32, Ordering};

/// Install the handler. `graceful_first`: the command is a sweep.
pub fn install_handler(graceful_first: bool) {
    static PRESSES: AtomicU32 = AtomicU32::new(0);
    let res = ctrlc::set_handler(move || {
        let n = PRESSES.fetch_add(1, Ordering::SeqCst) + 1;
        if graceful_first && n == 1 {
            crate::sweep::INTERRUPTED.store(true, Ordering::SeqCst);
            eprintln!("\ninterrupt: finishing the points in flight, then stopping (Ctrl-C again to stop now)");
            return;
        }
        // Hold the guard until exit: no file may start or be renamed into place after this.
        let (removed, _guard) = crate::output::abort_temporaries();
        let extra = if removed > 0 { format!(" ({removed} unfinished output files removed)") } else { String::new() };
        eprintln!("\nerror: interrupted{extra}");
        std::process::exit(exit::INTERRUPTED);
    });
    if let Err(e) = res {
        log::debug!("no Ctrl-C handler: {e}");
    }
}
