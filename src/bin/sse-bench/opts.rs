//! Command-line options, their limits, and the request they describe.
//!
//! Every value is checked here, before anything is opened, so a bad one is
//! a one-line message and exit code 2, never a failure halfway through a run.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

pub const USAGE: &str = "\
Usage: sse-bench [OPTIONS]
       sse-bench --publish CHANNEL [PUBLISH OPTIONS]
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

Exit code 0 when every stream connected and lasted the run (or reached
its count=) with no id gap or repeat; 1 when any failed, was not opened
before the run ended, was closed early or broke, or had a gap or a repeat
(the JSON line is printed either way, stderr says which); 2 for a bad
option. Streams that end after the path's count= are counted as completed;
others the server ends are early closes. Lateness needs at least two
events per stream (lateness_samples).

Publish mode: --publish CHANNEL measures fan-out. N subscribers open
GET SUBSCRIBE-PATH (paced by --connect-rate); once all are open, one
keep-alive publisher POSTs --rate stamped events per second ('seq=S us=T')
to PUBLISH-PATH for --duration seconds, then the run waits up to --drain
seconds for every subscriber to have every event. Each subscriber checks
it gets every event once, in order (the stamped number; ids when it has
them), and the publish-to-delivery time.
      --publish CHANNEL      the channel (1 to 256 letters, digits, . _ - ~)
  -c, --connections N        subscribers (default 100)
      --rate R               publishes per second (default 10)
      --connect-rate R       subscriber connects per second (default 1000)
      --path-prefix P        both paths are P + CHANNEL (default /channels/)
      --publish-path PATH    the POST target, e.g. /pub/CHANNEL for nchan
      --subscribe-path PATH  the stream, e.g. /sub/CHANNEL for nchan
      --publish-header 'N: V'  a field of each publish (repeatable)
      --drain SECS           wait for deliveries after publishing (default 5)
      --duration SECS, --host, --port, --sources, --header  as above
JSON adds published, publish_errors, delivered, deliveries_per_sec,
publish_latency_p50_ms, _p99_ms, _max_ms; gaps are deliveries missed.
Exit code 1 when a subscriber failed to connect, a delivery was missed or
repeated, or a publish failed.

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
/// Connects, or publishes, per second at most.
pub const MAX_RATE: f64 = 1_000_000.0;

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
    /// `--publish`: the publisher (then `rate` is the connect rate and
    /// `path` the subscribe path).
    pub publish: Option<crate::publish::opts::Publish>,
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
    if args.iter().any(|a| a.to_str().is_some_and(|a| a == "--publish" || a.starts_with("--publish="))) {
        return crate::publish::opts::parse(args);
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
        publish: None,
    };
    let e = |e: lexopt::Error| e.to_string();
    while let Some(arg) = parser.next().map_err(e)? {
        match arg {
            Short('c') | Long("connections") => o.connections = connections(&mut parser)?,
            Long("rate") => o.rate = rate(&mut parser, "rate")?,
            Long("host") => o.host = host(&mut parser)?,
            Long("port") => o.port = port(&mut parser)?,
            Long("path") => o.path = parse_path(value(&mut parser)?)?,
            Long("duration") => o.duration = secs(&mut parser, "duration")?,
            Long("sources") => o.sources = sources(&mut parser)?,
            Long("interval") => {
                o.interval_ms = value(&mut parser)?;
                if !(1..=MAX_INTERVAL_MS).contains(&o.interval_ms) {
                    return Err(format!("--interval must be 1 to {MAX_INTERVAL_MS}"));
                }
            }
            Long("header") => o.headers.push(header(&mut parser, "header")?),
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    check_sources(&o)?;
    o.count = query_value(&o.path, "count=").filter(|&n| n >= 1);
    if o.interval_ms == 0 {
        o.interval_ms = query_interval(&o.path).unwrap_or(DEFAULT_INTERVAL_MS);
    }
    Ok(Command::Run(o))
}

/// The next value, parsed as a `T`.
pub fn value<T>(parser: &mut lexopt::Parser) -> Result<T, String>
where
    T: std::str::FromStr,
    T::Err: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    use lexopt::ValueExt;
    let e = |e: lexopt::Error| e.to_string();
    parser.value().map_err(e)?.parse().map_err(e)
}

/// A whole number from 1 to `max`, `--NAME`.
fn count<T>(parser: &mut lexopt::Parser, name: &str, max: T) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + From<u8> + std::fmt::Display + Copy,
    T::Err: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    let n = value(parser)?;
    if !(T::from(1)..=max).contains(&n) {
        return Err(format!("--{name} must be 1 to {max}"));
    }
    Ok(n)
}

pub fn connections(parser: &mut lexopt::Parser) -> Result<usize, String> {
    count(parser, "connections", MAX_CONNECTIONS)
}

/// A rate per second, `--NAME`.
pub fn rate(parser: &mut lexopt::Parser, name: &str) -> Result<f64, String> {
    let r: f64 = value(parser)?;
    if !(r.is_finite() && r > 0.0 && r <= MAX_RATE) {
        return Err(format!("--{name} must be a number above 0 and at most {MAX_RATE}"));
    }
    Ok(r)
}

pub fn host(parser: &mut lexopt::Parser) -> Result<IpAddr, String> {
    let text: String = value(parser)?;
    parse_host(&text).ok_or_else(|| format!("--host must be an IP address, not {text:?}"))
}

pub fn port(parser: &mut lexopt::Parser) -> Result<u16, String> {
    match value(parser)? {
        0 => Err("--port must be 1 to 65535".into()),
        port => Ok(port),
    }
}

/// Seconds above 0, `--NAME`.
pub fn secs(parser: &mut lexopt::Parser, name: &str) -> Result<Duration, String> {
    let secs: f64 = value(parser)?;
    if !(secs > 0.0 && secs <= MAX_DURATION_SECS) {
        return Err(format!("--{name} must be above 0 and at most {MAX_DURATION_SECS}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

pub fn sources(parser: &mut lexopt::Parser) -> Result<u32, String> {
    count(parser, "sources", MAX_SOURCES)
}

/// A `Name: value` field, `--NAME`.
pub fn header(parser: &mut lexopt::Parser, name: &str) -> Result<String, String> {
    let field: String = value(parser)?;
    if !is_header_field(&field) {
        return Err(format!("--{name} must be 'Name: value', not {field:?}"));
    }
    Ok(field)
}

pub fn check_sources(o: &Options) -> Result<(), String> {
    if o.sources > 1 && !o.host.is_ipv4() {
        return Err("--sources above 1 needs an IPv4 --host".into());
    }
    Ok(())
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
