use clap::Parser;
use reallm::error::exit;

fn main() {
    // Any panic is a bug: report it as an internal error with its own exit code, no backtrace
    // dump (RUST_BACKTRACE=1 still shows one).
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal error (please report): {info}");
        if std::env::var_os("RUST_BACKTRACE").is_some() {
            eprintln!("{}", std::backtrace::Backtrace::force_capture());
        }
    }));
    let cli = reallm::cli::Cli::parse();
    let code = match std::panic::catch_unwind(|| reallm::run(cli)) {
        Ok(Ok(())) => exit::OK,
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
        Err(_) => exit::INTERNAL,
    };
    std::process::exit(code);
}
