//! `sse-server`: parses the command line, starts logging, runs the server,
//! and maps failures to exit codes (2: bad usage, 1: could not start).

use std::io::Write;
use std::process::ExitCode;

use sse_server::config::{self, Command, USAGE};
use sse_server::server::Server;

fn main() -> ExitCode {
    let parsed = config::parse(std::env::args_os().skip(1)).and_then(|c| match c {
        Command::Run(mut config) => config::token_from_env(&mut config).map(|()| Command::Run(config)),
        other => Ok(other),
    });
    let config = match parsed {
        Ok(Command::Run(config)) => *config,
        Ok(Command::Help) => {
            say(&mut std::io::stdout(), format_args!("{USAGE}"));
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            say(&mut std::io::stdout(), format_args!("sse-server {}", env!("CARGO_PKG_VERSION")));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            say(&mut std::io::stderr(), format_args!("sse-server: {e}\n\n{USAGE}"));
            return ExitCode::from(2);
        }
    };
    // Logs go to stderr: stdout carries only the `listening on` line that
    // scripts read.
    if let Err(e) = sse_server::logger::init(config.log_level) {
        say(&mut std::io::stderr(), format_args!("sse-server: cannot start logging: {e}"));
        return ExitCode::from(1);
    }
    let mut server = match Server::bind(config) {
        Ok(s) => s,
        Err(e) => {
            say(&mut std::io::stderr(), format_args!("sse-server: {}", e.0));
            return ExitCode::from(1);
        }
    };
    let addr = match server.local_addr() {
        Ok(a) => a,
        Err(e) => {
            say(&mut std::io::stderr(), format_args!("sse-server: cannot read the listening address: {e}"));
            return ExitCode::from(1);
        }
    };
    let mut stdout = std::io::stdout();
    if writeln!(stdout, "listening on http://{addr}/").and_then(|()| stdout.flush()).is_err() {
        // Nobody reads stdout: serving is what matters.
        log::debug!("could not write the listening line to stdout");
    }
    log::info!("listening on http://{addr}/");
    match server.run() {
        Ok(sse_server::server::Stop::Drained) => ExitCode::SUCCESS,
        Ok(sse_server::server::Stop::Now) => ExitCode::from(1),
        Err(e) => {
            say(&mut std::io::stderr(), format_args!("sse-server: the event loop failed: {e}"));
            ExitCode::from(1)
        }
    }
}

/// Writes one line; a reader that went away (`sse-server --help | head`)
/// is no reason to panic.
fn say(to: &mut dyn Write, line: std::fmt::Arguments) {
    let _ = writeln!(to, "{line}");
}
