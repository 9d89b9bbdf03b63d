//! Command-line options, their limits, and the request they describe.
//!
//! Every value is checked here, before anything is opened, so a bad one is
//! a one-line message and exit code 2, never a failure halfway through a run.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

pub const USAGE: &str = "\
Usage: sse-bench [OPTIONS]
       sse-bench --session --path PATH [SESSION OPTIONS]

Opens many Server-Sent Events streams to one server, paced, and measures
them: connect time, events per second, delivery lateness, id gaps and
repeats, early closes. Progress goes to stderr each second; at the end, a
summary goes to stderr and one JSON line to stdout.

Options:
  -c, --connections N     streams to open (default 100)
      --rate R            connects per second (default 1000)
      --host ADDR         server IP address (default 127.0.0.1)
      --port N            server port (default 8888)
      --path PATH         request target (default /events), e.g.
                          '/events?interval=10&count=5'
      --duration SECS     length of the run, fractions allowed (default 10)
      --sources K         bind the sockets to 127.0.0.1 .. 127.0.0.K in turn,
                          to pass one address's ephemeral ports (default 1)
      --interval MS       the server's event interval, for lateness (default:
                          interval= of the path's query, else 2500)
      --header 'N: V'     an extra request header field (repeatable)
  -h, --help              this help
  -V, --version           the version

Exit code 0 when every stream connected, 1 when any failed (the JSON line
is printed either way), 2 for a bad option. Streams that end after the
path's count= are counted as completed; others the server ends are early
closes. Lateness needs at least two events per stream (lateness_samples).

Session mode: --session is one EventSource (WHATWG HTML 9.2.3) on PATH,
reconnections included, and prints on stdout the JSON that the scenario's
/expected prints for the same outcome (events, retry, end, connections).
      --host ADDR, --port N  as above
      --path PATH            the stream, e.g. '/scenarios/basic?split=1'
  -c, --connections N        connections at most (default 1): after the
                             Nth body ends, the end is \"reconnect\"
      --open-ms MS           a connection with no event for this long
                             stays open: the end is \"open\" (default 2000)
      --default-retry MS     reconnection time until the stream sets one
                             (default 100)
      --timeout SECS         bound on the whole session (default 30)
Exit code 0 when a session ran (whatever its end), 1 when the server could
not be reached, 2 for a bad option.";

pub const MAX_CONNECTIONS: usize = 1_000_000;
/// 127.0.0.1 and the 65,535 addresses after it.
pub const MAX_SOURCES: u32 = 65_536;
pub const MAX_DURATION_SECS: f64 = 1_000_000.0;
/// The server's own bound on `interval`.
pub const MAX_INTERVAL_MS: u64 = 3_600_000;
pub const DEFAULT_INTERVAL_MS: u64 = 2_500;

#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub connections: usize,
    pub rate: f64,
    pub host: IpAddr,
    pub port: u16,
    pub path: String,
    pub duration: Duration,
    pub sources: u32,
    pub interval_ms: u64,
    /// The `count=` of the path's query: streams that end after that many
    /// events are complete, not closed early.
    pub count: Option<u64>,
    pub headers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Run(Options),
    /// `--session`: one `EventSource` session.
    Session(crate::session::Options),
    Help,
    Version,
}

pub fn parse<I>(args: I) -> Result<Command, String>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    use lexopt::prelude::*;
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    if args.iter().any(|a| a == "--session") {
        return crate::session::opts::parse(args);
    }
    let mut parser = lexopt::Parser::from_args(args);
    let mut o = Options {
        connections: 100,
        rate: 1000.0,
        host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 8888,
        path: "/events".into(),
        duration: Duration::from_secs(10),
        sources: 1,
        interval_ms: 0, // 0: not given, decided below
        count: None,
        headers: Vec::new(),
    };
    let e = |e: lexopt::Error| e.to_string();
    while let Some(arg) = parser.next().map_err(e)? {
        match arg {
            Short('c') | Long("connections") => {
                o.connections = parser.value().map_err(e)?.parse().map_err(e)?;
                if !(1..=MAX_CONNECTIONS).contains(&o.connections) {
                    return Err(format!("--connections must be 1 to {MAX_CONNECTIONS}"));
                }
            }
            Long("rate") => {
                o.rate = parser.value().map_err(e)?.parse().map_err(e)?;
                if !(o.rate.is_finite() && o.rate > 0.0) {
                    return Err("--rate must be a number above 0".into());
                }
            }
            Long("host") => {
                let text: String = parser.value().map_err(e)?.parse().map_err(e)?;
                o.host = parse_host(&text).ok_or_else(|| format!("--host must be an IP address, not {text:?}"))?;
            }
            Long("port") => {
                o.port = parser.value().map_err(e)?.parse().map_err(e)?;
                if o.port == 0 {
                    return Err("--port must be 1 to 65535".into());
                }
            }
            Long("path") => {
                o.path = parse_path(parser.value().map_err(e)?.parse().map_err(e)?)?;
            }
            Long("duration") => {
                let secs: f64 = parser.value().map_err(e)?.parse().map_err(e)?;
                if !(secs > 0.0 && secs <= MAX_DURATION_SECS) {
                    return Err(format!("--duration must be above 0 and at most {MAX_DURATION_SECS}"));
                }
                o.duration = Duration::from_secs_f64(secs);
            }
            Long("sources") => {
                o.sources = parser.value().map_err(e)?.parse().map_err(e)?;
                if !(1..=MAX_SOURCES).contains(&o.sources) {
                    return Err(format!("--sources must be 1 to {MAX_SOURCES}"));
                }
            }
            Long("interval") => {
                o.interval_ms = parser.value().map_err(e)?.parse().map_err(e)?;
                if !(1..=MAX_INTERVAL_MS).contains(&o.interval_ms) {
                    return Err(format!("--interval must be 1 to {MAX_INTERVAL_MS}"));
                }
            }
            Long("header") => {
                let field: String = parser.value().map_err(e)?.parse().map_err(e)?;
                if !is_header_field(&field) {
                    return Err(format!("--header must be 'Name: value', not {field:?}"));
                }
                o.headers.push(field);
            }
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    if o.sources > 1 && !o.host.is_ipv4() {
        return Err("--sources above 1 needs an IPv4 --host".into());
    }
    o.count = query_value(&o.path, "count=").filter(|&n| n >= 1);
    if o.interval_ms == 0 {
        o.interval_ms = query_interval(&o.path).unwrap_or(DEFAULT_INTERVAL_MS);
    }
    Ok(Command::Run(o))
}

/// A request target: it starts with `/` and has no space or control byte.
pub fn parse_path(path: String) -> Result<String, String> {
    if path.starts_with('/') && path.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(path)
    } else {
        Err(format!("--path must start with / and have no space or control byte: {path:?}"))
    }
}

pub fn parse_host(text: &str) -> Option<IpAddr> {
    if text == "localhost" {
        return Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let bare = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(text);
    bare.parse().ok()
}

/// `Name: value` with a token name and a value without control bytes, so
/// the request stays well-formed whatever was typed.
fn is_header_field(field: &str) -> bool {
    let Some((name, value)) = field.split_once(':') else {
        return false;
    };
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    !name.is_empty() && name.bytes().all(tchar) && value.bytes().all(|b| b == b'\t' || !b.is_ascii_control())
}

/// The `interval=` of the path's query, when it is a valid one.
fn query_interval(path: &str) -> Option<u64> {
    query_value(path, "interval=").filter(|ms| (1..=MAX_INTERVAL_MS).contains(ms))
}

/// The number after `key` (`name=`) in the path's query, if there is one.
fn query_value(path: &str, key: &str) -> Option<u64> {
    let (_, query) = path.split_once('?')?;
    query.split('&').filter_map(|pair| pair.strip_prefix(key)).find_map(|v| v.parse().ok())
}

impl Options {
    pub fn dest(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// The address the `i`th socket binds to, or `None` to let the kernel
    /// choose (one source: no bind, so any host works).
    pub fn source(&self, i: usize) -> Option<Ipv4Addr> {
        if self.sources <= 1 {
            return None;
        }
        let offset = (i % self.sources as usize) as u32;
        Some(Ipv4Addr::from(u32::from(Ipv4Addr::LOCALHOST) + offset))
    }

    /// The request every stream sends.
    pub fn request(&self) -> Vec<u8> {
        let mut request =
            format!("GET {} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n", self.path, self.dest());
        for field in &self.headers {
            request.push_str(field);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        request.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, String> {
        match parse(args.iter().copied())? {
            Command::Run(o) => Ok(o),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn defaults() {
        let o = run(&[]).unwrap();
        assert_eq!((o.connections, o.rate, o.port, o.sources), (100, 1000.0, 8888, 1));
        assert_eq!((o.path.as_str(), o.interval_ms), ("/events", 2500));
        assert_eq!(o.duration, Duration::from_secs(10));
        assert_eq!(o.source(5), None);
        assert_eq!(o.request(), b"GET /events HTTP/1.1\r\nHost: 127.0.0.1:8888\r\nAccept: text/event-stream\r\n\r\n");
    }

    #[test]
    fn values() {
        let args = [
            "-c",
            "50",
            "--rate",
            "20.5",
            "--host",
            "[::1]",
            "--port",
            "9",
            "--path",
            "/events?count=3&interval=20",
            "--duration",
            "0.5",
            "--header",
            "Last-Event-ID: 1-2",
            "--header",
            "X-A:b",
        ];
        let o = run(&args).unwrap();
        assert_eq!((o.connections, o.rate, o.interval_ms), (50, 20.5, 20));
        assert_eq!(o.duration, Duration::from_millis(500));
        assert_eq!(
            String::from_utf8(o.request()).unwrap(),
            "GET /events?count=3&interval=20 HTTP/1.1\r\nHost: [::1]:9\r\n\
             Accept: text/event-stream\r\nLast-Event-ID: 1-2\r\nX-A:b\r\n\r\n"
        );
        let o = run(&["--path", "/events?interval=20", "--interval", "7"]).unwrap();
        assert_eq!(o.interval_ms, 7);
        let o = run(&["--path", "/events?interval=0&interval=x"]).unwrap();
        assert_eq!(o.interval_ms, DEFAULT_INTERVAL_MS);
    }

    #[test]
    fn sources_round_robin() {
        let o = run(&["--sources", "3"]).unwrap();
        let got: Vec<_> = (0..4).map(|i| o.source(i).unwrap().to_string()).collect();
        assert_eq!(got, ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.1"]);
        let o = run(&["--sources", "65536"]).unwrap();
        assert_eq!(o.source(65535).unwrap().to_string(), "127.1.0.0");
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse(["-h"]), Ok(Command::Help));
        assert_eq!(parse(["--help"]), Ok(Command::Help));
        assert_eq!(parse(["-V"]), Ok(Command::Version));
    }

    #[test]
    fn bad_values_are_errors() {
        #[rustfmt::skip]
        let cases: &[&[&str]] = &[
            &["-c", "0"], &["-c", "x"], &["-c"], &["--rate", "0"], &["--rate", "inf"],
            &["--rate", "NaN"], &["--host", "example.com"], &["--port", "0"],
            &["--port", "65536"], &["--path", "events"], &["--path", "/a b"],
            &["--path", "/\u{e9}"], &["--duration", "0"], &["--duration", "-1"],
            &["--sources", "0"], &["--sources", "65537"], &["--host", "::1", "--sources", "2"],
            &["--interval", "0"], &["--header", "NoColon"], &["--header", ": v"],
            &["--header", "A B: v"], &["--header", "A: v\r\nB: w"], &["--bogus"], &["stray"],
        ];
        for args in cases {
            assert!(run(args).is_err(), "{args:?}");
        }
    }
}
