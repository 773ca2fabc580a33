//! `connhost`: manage connectors and connections from the command line.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
