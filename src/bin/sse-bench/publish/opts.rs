//! The options of `sse-bench --publish CHANNEL`, checked before anything is
//! opened, as for the load run: a bad one is a one-line message and exit
//! code 2. The load run's `--path` and `--interval` are refused here (the
//! subscribe path is `--subscribe-path`; publishes have no interval).

use std::ffi::OsString;
use std::time::Duration;

use crate::opts::{self, Command, Options, parse_path, value};

/// The longest wait for the subscribers to catch up after publishing.
pub const MAX_DRAIN_SECS: f64 = 3600.0;

#[derive(Debug, Clone, PartialEq)]
pub struct Publish {
    pub channel: String,
    /// Publishes per second.
    pub rate: f64,
    /// The target the publisher POSTs to.
    pub path: String,
    /// Extra fields of each publish request.
    pub headers: Vec<String>,
    /// After publishing, how long to wait at most for every answer and for
    /// every subscriber to have every event.
    pub drain: Duration,
}

/// Parses the whole command line of a publish run (`--publish` included).
pub fn parse(args: Vec<OsString>) -> Result<Command, String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut o = Options {
        connections: 100,
        rate: 1000.0, // connects per second: --connect-rate
        host: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        port: 8888,
        path: String::new(),
        duration: Duration::from_secs(10),
        sources: 1,
        interval_ms: opts::DEFAULT_INTERVAL_MS,
        count: None,
        headers: Vec::new(),
        publish: None,
    };
    let mut p = Publish {
        channel: String::new(),
        rate: 10.0,
        path: String::new(),
        headers: Vec::new(),
        drain: Duration::from_secs(5),
    };
    let mut prefix = "/channels/".to_string();
    let e = |e: lexopt::Error| e.to_string();
    while let Some(arg) = parser.next().map_err(e)? {
        match arg {
            Long("publish") => {
                p.channel = value(&mut parser)?;
                if !check_channel(&p.channel) {
                    return Err(format!(
                        "--publish must be a channel name of 1 to 256 letters, digits, '.', '_', '-' or '~', not {:?}",
                        p.channel
                    ));
                }
            }
            Long("rate") => p.rate = opts::rate(&mut parser, "rate")?,
            Long("connect-rate") => o.rate = opts::rate(&mut parser, "connect-rate")?,
            Long("path-prefix") => prefix = parse_path(value(&mut parser)?)?,
            Long("publish-path") => p.path = parse_path(value(&mut parser)?)?,
            Long("subscribe-path") => o.path = parse_path(value(&mut parser)?)?,
            Long("publish-header") => p.headers.push(opts::header(&mut parser, "publish-header")?),
            Long("drain") => {
                let secs: f64 = value(&mut parser)?;
                if !(0.0..=MAX_DRAIN_SECS).contains(&secs) {
                    return Err(format!("--drain must be 0 to {MAX_DRAIN_SECS}"));
                }
                p.drain = Duration::from_secs_f64(secs);
            }
            Short('c') | Long("connections") => o.connections = opts::connections(&mut parser)?,
            Long("host") => o.host = opts::host(&mut parser)?,
            Long("port") => o.port = opts::port(&mut parser)?,
            Long("duration") => o.duration = opts::secs(&mut parser, "duration")?,
            Long("sources") => o.sources = opts::sources(&mut parser)?,
            Long("header") => o.headers.push(opts::header(&mut parser, "header")?),
            Long("path") => return Err("--path is not an option of --publish: use --subscribe-path".into()),
            Long("interval") => return Err("--interval is not an option of --publish".into()),
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    opts::check_sources(&o)?;
    if p.path.is_empty() {
        p.path = format!("{prefix}{}", p.channel);
    }
    if o.path.is_empty() {
        o.path = format!("{prefix}{}", p.channel);
    }
    o.publish = Some(p);
    Ok(Command::Run(o))
}

/// A channel name that can stand in a path as it is: 1 to 256 unreserved
/// characters (RFC 3986).
fn check_channel(name: &str) -> bool {
    (1..=256).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<(Options, Publish), String> {
        match opts::parse(args.iter().copied())? {
            Command::Run(mut o) => {
                let p = o.publish.take().ok_or("not a publish run")?;
                Ok((o, p))
            }
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn defaults() {
        let (o, p) = run(&["--publish", "news"]).unwrap();
        assert_eq!((o.connections, o.rate, o.duration, o.sources), (100, 1000.0, Duration::from_secs(10), 1));
        assert_eq!((o.path.as_str(), p.path.as_str()), ("/channels/news", "/channels/news"));
        assert_eq!((p.channel.as_str(), p.rate, p.drain), ("news", 10.0, Duration::from_secs(5)));
        assert_eq!(
            o.request(),
            b"GET /channels/news HTTP/1.1\r\nHost: 127.0.0.1:8888\r\nAccept: text/event-stream\r\n\r\n"
        );
    }

    #[test]
    fn values() {
        #[rustfmt::skip]
        let args = [
            "-c", "50", "--rate", "200.5", "--connect-rate", "5000", "--publish=a.b", "--port", "9",
            "--duration", "0.5", "--sources", "4", "--drain", "0", "--header", "X-A: 1",
            "--publish-header", "Authorization: Bearer t", "--path-prefix", "/x/",
        ];
        let (o, p) = run(&args).unwrap();
        assert_eq!((o.connections, o.rate, p.rate, o.sources), (50, 5000.0, 200.5, 4));
        assert_eq!((o.duration, p.drain), (Duration::from_millis(500), Duration::ZERO));
        assert_eq!((o.path.as_str(), p.path.as_str()), ("/x/a.b", "/x/a.b"));
        assert_eq!((o.headers, p.headers), (vec!["X-A: 1".to_string()], vec!["Authorization: Bearer t".to_string()]));
        // nchan's layout: the two paths apart.
        let (o, p) = run(&["--publish", "c", "--publish-path", "/pub/c", "--subscribe-path", "/sub/c?x=1"]).unwrap();
        assert_eq!((o.path.as_str(), p.path.as_str()), ("/sub/c?x=1", "/pub/c"));
    }

    #[test]
    fn bad_values_are_errors() {
        #[rustfmt::skip]
        let cases: &[&[&str]] = &[
            &["--publish"], &["--publish", ""], &["--publish", "a/b"], &["--publish", "a b"],
            &["--publish", "c", "--rate", "0"], &["--publish", "c", "--rate", "NaN"],
            &["--publish", "c", "--connect-rate", "-1"], &["--publish", "c", "--path", "/x"],
            &["--publish", "c", "--interval", "5"], &["--publish", "c", "--publish-path", "x"],
            &["--publish", "c", "--subscribe-path", "/a b"], &["--publish", "c", "--drain", "-1"],
            &["--publish", "c", "--publish-header", "nocolon"], &["--publish", "c", "-c", "0"],
            &["--publish", "c", "--host", "::1", "--sources", "2"], &["--publish", "c", "stray"],
            &["--publish", "c", "--session"],
        ];
        for args in cases {
            assert!(run(args).is_err(), "{args:?}");
        }
        let long = "x".repeat(257);
        assert!(run(&["--publish", &long]).is_err());
        // Without --publish, its options are not options.
        assert!(opts::parse(["--publish-path", "/p"]).is_err());
    }
}
