//! `sse-bench`: the load generator bundled with sse-server, in the spirit
//! of redis-benchmark. It opens many Server-Sent Events streams to one
//! server and measures what arrives.
//!
//! One thread, one `mio::Poll`, connections in a `Slab`; nothing blocks but
//! the poll. Connects are paced by a timer (`--rate` per second), each from
//! the next source address of `--sources` (to pass the ephemeral-port limit
//! of one address). Every stream sends `GET PATH` with
//! `Accept: text/event-stream`, reads the response head (a status other than
//! 200 is a failed connect), then the body, raw until the close or chunked,
//! and parses it as the WHATWG event-stream format, so it measures other SSE
//! servers too (the original Node demo sends chunked bodies and integer ids).
//!
//! What it measures:
//! - connect time: from the connect() call to the complete response head;
//! - events per second and bytes per second over the whole run;
//! - ids: per stream, the number in each id (`N` in `C-N`, or the integer)
//!   must be one more than the last: a larger step is a gap, no step up a
//!   repeat;
//! - lateness: per stream, the first event fixes the schedule (t0, n0), event
//!   n is due at t0 + (n - n0) × interval, lateness is how long after that it
//!   arrives. It includes the bench's own delay (below), so keep the bench
//!   below one core's worth of work when measuring a server;
//! - early closes: streams the server ended before the run did, apart from
//!   those that reached the path's `count=` and errors (resets, malformed
//!   bodies); either makes the exit code 1, as do streams that did not
//!   connect (or were not opened before the run ended) and id gaps or
//!   repeats (`bench::fault`);
//! - its own loop delay: from the kernel's receipt of a stream's bytes
//!   (`SO_TIMESTAMPNS`) to the return of the poll that reported them, the
//!   part of the lateness that is the bench's and not the server's.
//!
//! Progress goes to stderr each second; at the end a summary goes to stderr
//! and one JSON line to stdout.
//!
//! `--publish CHANNEL` (`publish`) measures fan-out: subscribers on one
//! channel, one publisher of stamped events, and what each subscriber gets.
//!
//! `--session` is another mode altogether (`session`): one `EventSource`
//! on one stream, reconnections included, whose outcome is printed as the
//! JSON of a scenario's `/expected`.

mod bench;
mod check;
mod chunked;
mod conn;
mod hist;
mod net;
mod opts;
mod publish;
mod response;
mod session;
mod sse;
mod stats;

use std::io::Write;
use std::process::ExitCode;

use opts::Command;

fn main() -> ExitCode {
    let opts = match opts::parse(std::env::args_os().skip(1)) {
        Ok(Command::Run(opts)) => opts,
        Ok(Command::Session(opts)) => return session(&opts),
        Ok(Command::Help) => {
            println!("{}", opts::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("sse-bench {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("sse-bench: {message}\n\n{}", opts::USAGE);
            return ExitCode::from(2);
        }
    };
    let result = match &opts.publish {
        Some(p) => publish::run(&opts, p),
        None => bench::run(&opts),
    };
    match result {
        Ok((stats, duration)) => {
            let secs = duration.as_secs_f64();
            eprintln!("{}", stats.summary(secs));
            println!("{}", stats.json(secs));
            // Scripts can tell a run that did not measure what was asked.
            if opts.publish.is_some() {
                if let Some(fault) = publish::fault(&stats) {
                    eprintln!("sse-bench: {fault}");
                    return ExitCode::from(1);
                }
            } else if let Some(fault) = bench::fault(&stats, opts.connections as u64) {
                eprintln!("sse-bench: {fault}");
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sse-bench: {e}");
            ExitCode::from(1)
        }
    }
}

/// `--session`: the JSON on stdout and 0 when a session ran, whatever its
/// end; 1 when the server could not be reached.
fn session(opts: &session::Options) -> ExitCode {
    match session::run(opts) {
        Ok(expected) => {
            let mut json = Vec::new();
            expected.to_json(&mut json);
            let mut stdout = std::io::stdout().lock();
            if let Err(e) = stdout.write_all(&json).and_then(|()| stdout.flush()) {
                eprintln!("sse-bench: cannot write the result: {e}");
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sse-bench: {e}");
            ExitCode::from(1)
        }
    }
}
