//! The `reallm` binary: parse the command line, run, map the outcome to an exit code
//! (`docs/exit-codes.md`).
//!
//! Two safety nets live here:
//!
//! * **Panics** are bugs: the hook prints one line, `error: internal error (please report):
//!   MESSAGE at FILE:LINE`, and the process exits with code 70. A backtrace follows only when
//!   `RUST_BACKTRACE` is set to something other than `0`.
//! * **Ctrl-C** (SIGINT): a sweep stops starting new points and keeps the finished rows (a
//!   second Ctrl-C stops at once); every other command removes the result files it was
//!   writing (their temporaries, `output::abort_temporaries`) and exits with code 130, so no
//!   half-written file is left under a final name (`docs/reliability.md`).

use clap::Parser;
use reallm::error::exit;

/// Set to `1` to make the binary panic on purpose (tests of the panic path only).
const PANIC_ENV: &str = "REALLM_DEBUG_PANIC";

fn main() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_string());
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        // One line: the message may span several.
        let msg = msg.split_whitespace().collect::<Vec<_>>().join(" ");
        eprintln!("error: internal error (please report): {msg}{at}");
        if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
            eprintln!("{}", std::backtrace::Backtrace::force_capture());
        }
    }));
    let cli = reallm::cli::Cli::parse();
    reallm::interrupt::install_handler(matches!(cli.command, reallm::cli::Command::Sweep(_)));
    let code = match std::panic::catch_unwind(|| {
        if std::env::var_os(PANIC_ENV).is_some_and(|v| v == "1") {
            panic!("{PANIC_ENV}=1: deliberate panic");
        }
        reallm::run(cli)
    }) {
        Ok(Ok(())) => exit::OK,
        Ok(Err(reallm::Error::Interrupted)) => {
            eprintln!("error: interrupted");
            exit::INTERRUPTED
        }
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
        Err(_) => exit::INTERNAL,
    };
    std::process::exit(code);
}
