//! `connhost`: manage connectors and connections from the command line.

mod cli;

fn main() -> std::process::ExitCode {
    // Behave like other Unix tools when stdout is closed early (`| head`).
    #[cfg(unix)]
    // SAFETY: called first thing, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    cli::main()
}
