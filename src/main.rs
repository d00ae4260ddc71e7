//! `builderbar`: every action of the menu and the settings window, from a
//! terminal. Each verb is one call into the core library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
