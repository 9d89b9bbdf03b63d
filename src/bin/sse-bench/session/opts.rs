//! The options of `sse-bench --session`, checked before anything is
//! opened: a bad one is a one-line message and exit code 2, as for the load
//! run. The load run's own options are refused here, so a mixed command
//! line never half means one thing.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::opts::{Command, MAX_DURATION_SECS, parse_path};

/// The server's own bound on `retry=` and `interval=`: an hour.
pub const MAX_MS: u64 = 3_600_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub host: IpAddr,
    pub port: u16,
    pub path: String,
    /// Connections at most: after the body of the last one ends, the
    /// session ends with `reconnect`.
    pub connections: usize,
    /// A connection with no event dispatched for this long stays open.
    pub open: Duration,
    /// The reconnection time until the stream sets one with `retry`.
    pub default_retry: Duration,
    /// The whole session, reconnections and their waits included.
    pub timeout: Duration,
}

impl Options {
    pub fn dest(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }
}

/// Parses the whole command line of a session run (`--session` included).
pub fn parse(args: Vec<OsString>) -> Result<Command, String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut o = Options {
        host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 8888,
        path: String::new(), // required
        connections: 1,
        open: Duration::from_millis(2000),
        default_retry: Duration::from_millis(100),
        timeout: Duration::from_secs(30),
    };
    let e = |e: lexopt::Error| e.to_string();
    let ms = |parser: &mut lexopt::Parser, name: &str, min: u64| -> Result<Duration, String> {
        let ms: u64 = parser.value().map_err(e)?.parse().map_err(e)?;
        if !(min..=MAX_MS).contains(&ms) {
            return Err(format!("--{name} must be {min} to {MAX_MS}"));
        }
        Ok(Duration::from_millis(ms))
    };
    while let Some(arg) = parser.next().map_err(e)? {
        match arg {
            Long("session") => {}
            Long("host") => o.host = crate::opts::host(&mut parser)?,
            Long("port") => o.port = crate::opts::port(&mut parser)?,
            Long("path") => o.path = parse_path(parser.value().map_err(e)?.parse().map_err(e)?)?,
            Short('c') | Long("connections") => o.connections = crate::opts::connections(&mut parser)?,
            Long("open-ms") => o.open = ms(&mut parser, "open-ms", 1)?,
            Long("default-retry") => o.default_retry = ms(&mut parser, "default-retry", 0)?,
            Long("timeout") => {
                let secs: f64 = parser.value().map_err(e)?.parse().map_err(e)?;
                if !(secs > 0.0 && secs <= MAX_DURATION_SECS) {
                    return Err(format!("--timeout must be above 0 and at most {MAX_DURATION_SECS}"));
                }
                o.timeout = Duration::from_secs_f64(secs);
            }
            Long(name @ ("rate" | "duration" | "sources" | "interval" | "header")) => {
                return Err(format!("--{name} is an option of the load run, not of --session"));
            }
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    if o.path.is_empty() {
        return Err("--session needs --path".into());
    }
    Ok(Command::Session(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, String> {
        match crate::opts::parse(args.iter().copied())? {
            Command::Session(o) => Ok(o),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn defaults() {
        let o = run(&["--session", "--path", "/scenarios/basic"]).unwrap();
        assert_eq!(o.dest().to_string(), "127.0.0.1:8888");
        assert_eq!((o.path.as_str(), o.connections), ("/scenarios/basic", 1));
        assert_eq!((o.open, o.default_retry, o.timeout), (ms(2000), ms(100), Duration::from_secs(30)));
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn values_in_any_order() {
        let args = [
            "--path",
            "/scenarios/basic?split=1",
            "--port",
            "9",
            "-c",
            "5",
            "--session",
            "--host",
            "::1",
            "--open-ms",
            "1",
            "--default-retry",
            "0",
            "--timeout",
            "0.5",
        ];
        let o = run(&args).unwrap();
        assert_eq!(o.dest().to_string(), "[::1]:9");
        assert_eq!((o.path.as_str(), o.connections), ("/scenarios/basic?split=1", 5));
        assert_eq!((o.open, o.default_retry, o.timeout), (ms(1), ms(0), ms(500)));
        let o = run(&["--session", "--path", "/", "--connections", "1000000", "--open-ms", "3600000"]).unwrap();
        assert_eq!((o.connections, o.open), (crate::opts::MAX_CONNECTIONS, ms(MAX_MS)));
    }

    #[test]
    fn help_and_version() {
        assert_eq!(crate::opts::parse(["--session", "-h"]), Ok(Command::Help));
        assert_eq!(crate::opts::parse(["--session", "-V"]), Ok(Command::Version));
    }

    #[test]
    fn bad_values_are_errors() {
        #[rustfmt::skip]
        let cases: &[&[&str]] = &[
            &["--session"], &["--session", "--path", "x"], &["--session", "--path", "/a b"],
            &["--session", "--path"], &["--path", "/", "--session", "-c", "0"],
            &["--path", "/", "--session", "-c", "1000001"], &["--path", "/", "--session", "--open-ms", "0"],
            &["--path", "/", "--session", "--open-ms", "3600001"],
            &["--path", "/", "--session", "--default-retry", "-1"],
            &["--path", "/", "--session", "--timeout", "0"], &["--path", "/", "--session", "--timeout", "NaN"],
            &["--path", "/", "--session", "--port", "0"], &["--path", "/", "--session", "--host", "example.com"],
            &["--path", "/", "--session", "--rate", "5"], &["--path", "/", "--session", "--duration", "1"],
            &["--path", "/", "--session", "--header", "A: b"], &["--path", "/", "--session", "stray"],
            &["--path", "/", "--session", "--bogus"],
        ];
        for args in cases {
            assert!(run(args).is_err(), "{args:?}");
        }
        // Without --session, its options are not options.
        assert!(crate::opts::parse(["--open-ms", "5"]).is_err());
    }
}
