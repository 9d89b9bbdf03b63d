//! The command line and every limit sse-server holds, as named constants.
//!
//! Nothing here touches a socket: `parse` turns arguments into a `Config` or
//! a `UsageError` (exit code 2), and the constants are the single place a
//! bound is written down, so the README, the code and the tests that reach a
//! bound all point here.

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A request head (request line and fields) may be at most this long: `431`.
pub const MAX_HEAD: usize = 8 * 1024;
/// The longest method HTTP knows (`UPDATEREDIRECTREF`, in the IANA method
/// registry): a longer method token is `501` as soon as it is that long.
pub const MAX_METHOD: usize = 17;
/// A partial head is parsed again whenever new bytes come while it is at
/// most this long (past the longest method and a space), so garbage and an
/// over-long method are refused at once even when they come a byte at a
/// time; past it, only new bytes with a CR or LF are worth a parse (a head
/// trickled in byte by byte would otherwise cost its square).
pub const EARLY_PARSE: usize = 32;
/// At most this many header fields in one request head: `431`.
pub const MAX_FIELDS: usize = 64;
/// Request content (which no route takes) may be at most this long: `413`.
pub const MAX_CONTENT: u64 = 64 * 1024;
/// A chunk extension line and a trailer section are bounded too, so that
/// chunked content cannot make the server scan without end.
pub const MAX_CHUNK_LINE: usize = 4 * 1024;
pub const MAX_TRAILERS: usize = 8 * 1024;
/// Output that the kernel has not taken yet. A stream past it is a slow
/// consumer and is closed; a static response stops reading new requests
/// until its output drains below it.
pub const MAX_PENDING_OUTPUT: usize = 64 * 1024;
/// The most a connection appends to its output in one step past that
/// bound: one answer (a cached file of `MAX_CACHED_FILE` with its head, the
/// metrics text) or one event of `MAX_EVENT_SIZE` with its framing.
pub const MAX_APPEND: usize = 64 * 1024 + 1024;
/// A connection's output buffer never holds more than this: appends stop
/// at `MAX_PENDING_OUTPUT`, and one step appends at most `MAX_APPEND`; a
/// scripted write goes only into an empty buffer, and at most doubles in
/// size when its line endings become CRLF, with a chunk's framing.
pub const OUTPUT_LIMIT: usize = {
    let appends = MAX_PENDING_OUTPUT + MAX_APPEND;
    let scripted = 2 * MAX_SCRIPT_WRITE + 64;
    if appends > scripted { appends } else { scripted }
};
/// Bytes read from a socket at once.
pub const READ_CHUNK: usize = 16 * 1024;
/// The work one connection gets per loop turn: this many bytes read, and
/// this many requests answered. The rest waits for the next turn, after
/// every other connection has had its share, so no mix of requests from
/// one client can hold the others up.
pub const READ_BUDGET: usize = 64 * 1024;
pub const MAX_REQUESTS_PER_TURN: usize = 16;
/// Bytes written to one connection per loop turn: a client that takes a
/// large file as fast as it comes waits for the next turn past this.
pub const WRITE_BUDGET: usize = 256 * 1024;
/// Files up to this size are kept in memory between requests (checked
/// against the disk on every request), at most this many of them.
pub const MAX_CACHED_FILE: usize = 64 * 1024;
pub const MAX_CACHED_FILES: usize = 16;
/// A request head must be complete this long after the connection opened,
/// or after the first byte of a later request: `408`.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// An idle persistent connection (no request in progress), and one whose
/// client takes none of its output, is closed after this (`--idle-timeout`).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// After an error response the write side is shut down and what the client
/// still sends is read and dropped for at most this long (a lingering
/// close), so the kernel does not answer it with a reset that would destroy
/// the response before the client read it.
pub const LINGER_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections accepted beyond `--max-connections`, only to be told the
/// server is full. Past these, connections wait in the listen backlog.
pub const FULL_RESERVE: usize = 8;
/// Descriptors kept back from the open-file limit for the process itself:
/// stdio, the poll instance, the timerfd, the listener, the log, the www
/// directory, and a small file read while it is cached. (Large files
/// being sent count against `--max-connections`, as connections do.)
pub const RESERVED_FDS: usize = 16;
/// When `accept` fails for lack of descriptors or memory, it is tried again
/// after this long (edge-triggered readiness would never say so again).
pub const ACCEPT_RETRY: Duration = Duration::from_millis(100);
/// The listen backlog asked of the kernel (capped by `net.core.somaxconn`).
pub const BACKLOG: i32 = 4096;
/// Bounds of the `/events` query parameters.
pub const MAX_INTERVAL_MS: u64 = 3_600_000;
pub const MAX_EVENT_SIZE: usize = 65_536;
/// Bounds of the knobs every stream takes (`knobs`): pieces of at most
/// this many bytes (`split=N`), pieces of 1 to `MAX_RANDOM_PIECE` bytes
/// (`split=random`), and pauses of at most `MAX_PAUSE_MS` between pieces.
pub const MAX_SPLIT: usize = 65_536;
pub const MAX_RANDOM_PIECE: usize = 16;
pub const MAX_PAUSE_MS: u64 = 10_000;
/// A scenario's script writes at most this much at once (a longer repeat
/// goes on in the next write: 10,000 small events fit in one).
pub const MAX_SCRIPT_WRITE: usize = 96 * 1024;
/// Scenarios that count a client's requests by its `key` remember at most
/// this many keys (the least recently used is forgotten), each at most
/// `MAX_KEY_LEN` bytes (longer: `400`).
pub const MAX_KEYS: usize = 1024;
pub const MAX_KEY_LEN: usize = 64;
/// Channels (`--max-channels`, `--history`, `--history-bytes` set the rest):
/// a channel name is at most this long, an `event=` type too.
pub const MAX_CHANNEL_NAME: usize = 64;
pub const MAX_EVENT_TYPE: usize = 64;
/// Content held for publishes being read, all connections together: past
/// it, a publish is `503` (one publish holds at most `MAX_CONTENT`).
pub const MAX_PUBLISH_IN_FLIGHT: u64 = 4 << 20;
/// Generated documents (a scenario's expectation or raw bytes, up to a few
/// MiB each) held for clients at once, in bytes: past it, `503`.
pub const MAX_DOCUMENTS: u64 = 64 << 20;
/// Writes to one connection per loop turn: a stream cut into 1-byte pieces
/// waits for the next turn past this many, after the others.
pub const MAX_WRITES_PER_TURN: usize = 64;
/// Writes all connections together make in one loop turn (a loopback write
/// costs about 15 µs, so a turn's writes take some 30 ms at most): past
/// it, the connections left wait for the next turn, first in line, so a
/// thousand streams cut into 1-byte pieces of a long write hold up no
/// other client for long.
pub const TURN_WRITES: usize = 2048;
/// The `retry:` sent when full is drawn from this range, so that browsers
/// turned away at the same moment come back spread out.
pub const FULL_RETRY_MS: (u64, u64) = (1_000, 5_000);

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: IpAddr,
    pub port: u16,
    pub interval: Duration,
    pub www: PathBuf,
    /// `None`: derived from the open-file limit once it has been raised.
    pub max_connections: Option<usize>,
    /// `None` when heartbeats are disabled (`--heartbeat 0`).
    pub heartbeat: Option<Duration>,
    pub log_level: log::LevelFilter,
    pub reuse_port: bool,
    pub idle_timeout: Duration,
    /// Channels (`--max-channels`, `--history`, `--history-bytes`).
    pub max_channels: usize,
    pub history: usize,
    pub history_bytes: usize,
    /// `--publish-token-file`, or `SSE_SERVER_PUBLISH_TOKEN`.
    pub publish_token: Option<String>,
    /// `--cors-origin`, as given (`*` for any).
    pub cors_origins: Vec<String>,
    /// `--stdin NAME`: each line of standard input is published to NAME.
    pub stdin_channel: Option<String>,
    /// `--first-stream N`: new streams are numbered N, N+1, ... instead of
    /// the unique scheme (`streams::Numbers`).
    pub first_stream: Option<u64>,
    /// `--drain MS`: on SIGTERM or SIGINT, streams end spread over this.
    pub drain: Duration,
    /// `--access-log`: one log line per answer (`access`).
    pub access_log: bool,
    /// `--metrics-port N`: a second listener, this process's alone.
    pub metrics_port: Option<u16>,
}

/// The default `--drain`: long enough to spread thousands of clients'
/// reconnections, short enough for a restart not to wait long.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(5);
/// After the drain period, answers still in flight get this long, then
/// whatever is left is closed and the process exits.
pub const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// The environment variable a publish token may come from.
pub const TOKEN_ENV: &str = "SSE_SERVER_PUBLISH_TOKEN";
/// Defaults of the channel options.
pub const DEFAULT_MAX_CHANNELS: usize = 256;
pub const DEFAULT_HISTORY: usize = 100;
pub const DEFAULT_HISTORY_BYTES: usize = 256 * 1024;

impl Default for Config {
    fn default() -> Config {
        Config {
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 8888,
            interval: Duration::from_millis(2500),
            www: PathBuf::from("www"),
            max_connections: None,
            heartbeat: Some(Duration::from_millis(15_000)),
            log_level: log::LevelFilter::Info,
            reuse_port: false,
            idle_timeout: IDLE_TIMEOUT,
            max_channels: DEFAULT_MAX_CHANNELS,
            history: DEFAULT_HISTORY,
            history_bytes: DEFAULT_HISTORY_BYTES,
            publish_token: None,
            cors_origins: Vec::new(),
            stdin_channel: None,
            first_stream: None,
            drain: DEFAULT_DRAIN,
            access_log: false,
            metrics_port: None,
        }
    }
}

pub const USAGE: &str = "\
Usage: sse-server [OPTIONS]

Serves the Server-Sent Events demo: the page at /, the stream at /events.

Options:
  --bind ADDR             address to listen on [default: 127.0.0.1]
  --port N                TCP port, 0 picks a free one [default: 8888]
  --interval MS           time between two events of a stream [default: 2500]
  --www DIR               directory served at / [default: www]
  --max-connections N     open connections at most [default: from the open-file limit]
  --heartbeat MS          comment sent on a stream silent this long, 0 disables [default: 15000]
  --idle-timeout MS       close a connection idle, or taking no output, this long [default: 60000]
  --log-level LEVEL       off, error, warn, info, debug, trace [default: info]
  --reuse-port            let several sse-server processes listen on the same port
  --max-channels N        channels at most [default: 256]
  --history N             events kept per channel for resuming clients [default: 100]
  --history-bytes N       bytes of events kept per channel [default: 262144]
  --publish-token-file F  publishers must send this token (else: loopback only);
                          or set SSE_SERVER_PUBLISH_TOKEN
  --cors-origin ORIGIN    pages from ORIGIN may use this server (repeatable; * for any)
  --stdin NAME            publish each line of standard input to channel NAME
  --metrics-port N        also listen on N, without --reuse-port: this process alone, for /metrics
  --access-log            log one line per answer (address, request, status, bytes, time)
  --drain MS              on SIGTERM/SIGINT, end the streams spread over this [default: 5000]
  --first-stream N        number new streams N, N+1, ... (deterministic) instead of
                          numbers unique across restarts and processes
  -h, --help              print this help
  -V, --version           print the version";

/// What the command line asked for.
#[derive(Debug)]
pub enum Command {
    Run(Box<Config>),
    Help,
    Version,
}

/// A bad option or value; `main` prints it with the usage and exits 2.
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn parse<I>(args: I) -> Result<Command, UsageError>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    use lexopt::prelude::*;
    let mut config = Config::default();
    let mut parser = lexopt::Parser::from_args(args);
    let err = |e: lexopt::Error| UsageError(e.to_string());
    while let Some(arg) = parser.next().map_err(err)? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Long("bind") => {
                let v = text(parser.value().map_err(err)?, "--bind")?;
                config.bind =
                    v.parse().map_err(|_| UsageError(format!("invalid value '{v}' for --bind: not an IP address")))?;
            }
            Long("port") => {
                config.port = number(parser.value().map_err(err)?, "--port", 0, u16::MAX as u64)? as u16;
            }
            Long("interval") => {
                let ms = number(parser.value().map_err(err)?, "--interval", 1, MAX_INTERVAL_MS)?;
                config.interval = Duration::from_millis(ms);
            }
            Long("www") => {
                let path = PathBuf::from(parser.value().map_err(err)?);
                // Only the default falls back to the built-in page: a
                // directory named on purpose and missing is a mistake.
                if !path.is_dir() {
                    return Err(UsageError(format!("invalid value '{}' for --www: not a directory", path.display())));
                }
                config.www = path;
            }
            Long("max-connections") => {
                let n = number(parser.value().map_err(err)?, "--max-connections", 1, 1 << 24)?;
                config.max_connections = Some(n as usize);
            }
            Long("heartbeat") => {
                let ms = number(parser.value().map_err(err)?, "--heartbeat", 0, MAX_INTERVAL_MS)?;
                config.heartbeat = (ms > 0).then(|| Duration::from_millis(ms));
            }
            Long("idle-timeout") => {
                let ms = number(parser.value().map_err(err)?, "--idle-timeout", 1, MAX_INTERVAL_MS)?;
                config.idle_timeout = Duration::from_millis(ms);
            }
            Long("log-level") => {
                let v = text(parser.value().map_err(err)?, "--log-level")?;
                config.log_level = match v.as_str() {
                    "off" => log::LevelFilter::Off,
                    "error" => log::LevelFilter::Error,
                    "warn" => log::LevelFilter::Warn,
                    "info" => log::LevelFilter::Info,
                    "debug" => log::LevelFilter::Debug,
                    "trace" => log::LevelFilter::Trace,
                    _ => {
                        return Err(UsageError(format!(
                            "invalid value '{v}' for --log-level: expected off, error, warn, info, debug or trace"
                        )));
                    }
                };
            }
            Long("reuse-port") => config.reuse_port = true,
            Long("max-channels") => {
                config.max_channels = number(parser.value().map_err(err)?, "--max-channels", 1, 1 << 20)? as usize;
            }
            Long("history") => {
                config.history = number(parser.value().map_err(err)?, "--history", 0, 1_000_000)? as usize;
            }
            Long("history-bytes") => {
                config.history_bytes = number(parser.value().map_err(err)?, "--history-bytes", 0, 1 << 30)? as usize;
            }
            Long("publish-token-file") => {
                let path = PathBuf::from(parser.value().map_err(err)?);
                let read = std::fs::read_to_string(&path).map_err(|e| {
                    UsageError(format!("invalid value '{}' for --publish-token-file: {e}", path.display()))
                })?;
                config.publish_token = Some(token(read.trim_end_matches(['\r', '\n']), "--publish-token-file")?);
            }
            Long("cors-origin") => {
                let v = text(parser.value().map_err(err)?, "--cors-origin")?;
                let ok = v == "*" || (v.contains("://") && v.bytes().all(|b| (0x21..=0x7e).contains(&b)));
                if !ok {
                    return Err(UsageError(format!(
                        "invalid value '{v}' for --cors-origin: expected an origin such as https://example.com, or *"
                    )));
                }
                config.cors_origins.push(v);
            }
            Long("access-log") => config.access_log = true,
            Long("metrics-port") => {
                config.metrics_port = Some(number(parser.value().map_err(err)?, "--metrics-port", 0, 65_535)? as u16);
            }
            Long("drain") => {
                config.drain = Duration::from_millis(number(parser.value().map_err(err)?, "--drain", 0, 600_000)?);
            }
            Long("first-stream") => {
                config.first_stream = Some(number(parser.value().map_err(err)?, "--first-stream", 0, u64::MAX)?);
            }
            Long("stdin") => {
                let v = text(parser.value().map_err(err)?, "--stdin")?;
                if !crate::channel::check_name(v.as_bytes()) {
                    return Err(UsageError(format!(
                        "invalid value '{v}' for --stdin: a channel name is 1 to 64 letters, digits, '.', '_' or '-'"
                    )));
                }
                config.stdin_channel = Some(v);
            }
            _ => return Err(err(arg.unexpected())),
        }
    }
    Ok(Command::Run(Box::new(config)))
}

/// A publish token: 1 to 256 visible ASCII characters.
fn token(v: &str, from: &str) -> Result<String, UsageError> {
    if (1..=256).contains(&v.len()) && v.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        Ok(v.to_string())
    } else {
        Err(UsageError(format!("invalid publish token from {from}: expected 1 to 256 visible ASCII characters")))
    }
}

/// The token of `SSE_SERVER_PUBLISH_TOKEN`, for a config without one.
pub fn token_from_env(config: &mut Config) -> Result<(), UsageError> {
    if config.publish_token.is_none()
        && let Some(v) = std::env::var_os(TOKEN_ENV)
    {
        let v = v.into_string().map_err(|_| UsageError(format!("{TOKEN_ENV} is not UTF-8")))?;
        config.publish_token = Some(token(&v, TOKEN_ENV)?);
    }
    Ok(())
}

fn text(value: OsString, option: &str) -> Result<String, UsageError> {
    value
        .into_string()
        .map_err(|v| UsageError(format!("invalid value '{}' for {option}: not UTF-8", v.to_string_lossy())))
}

/// Decimal digits only (no sign, no spaces), within `min..=max`.
fn number(value: OsString, option: &str, min: u64, max: u64) -> Result<u64, UsageError> {
    let v = text(value, option)?;
    match crate::ascii::parse_decimal(v.as_bytes()) {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(UsageError(format!("invalid value '{v}' for {option}: expected a whole number from {min} to {max}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Config, UsageError> {
        match parse(args.iter().copied())? {
            Command::Run(c) => Ok(*c),
            other => panic!("expected Run, got {other:?}"),
        }
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = run(&[]).unwrap();
        assert_eq!(c.bind, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(c.port, 8888);
        assert_eq!(c.interval, Duration::from_millis(2500));
        assert_eq!(c.www, PathBuf::from("www"));
        assert_eq!(c.max_connections, None);
        assert_eq!(c.heartbeat, Some(Duration::from_secs(15)));
        assert_eq!(c.log_level, log::LevelFilter::Info);
        assert!(!c.reuse_port);
        assert_eq!(c.idle_timeout, Duration::from_secs(60));
    }

    #[test]
    fn every_option_is_read() {
        let c = run(&[
            "--bind",
            "::",
            "--port",
            "0",
            "--interval",
            "10",
            "--www",
            "/tmp",
            "--max-connections",
            "5",
            "--heartbeat",
            "0",
            "--log-level",
            "debug",
            "--reuse-port",
            "--idle-timeout",
            "1500",
        ])
        .unwrap();
        assert_eq!(c.bind, "::".parse::<IpAddr>().unwrap());
        assert_eq!(c.port, 0);
        assert_eq!(c.interval, Duration::from_millis(10));
        assert_eq!(c.www, PathBuf::from("/tmp"));
        assert_eq!(c.max_connections, Some(5));
        assert_eq!(c.heartbeat, None);
        assert_eq!(c.log_level, log::LevelFilter::Debug);
        assert!(c.reuse_port);
        assert_eq!(c.idle_timeout, Duration::from_millis(1500));
    }

    #[test]
    fn bad_values_name_the_option() {
        for (args, needle) in [
            (&["--port", "70000"][..], "--port"),
            (&["--port", "+1"][..], "--port"),
            (&["--interval", "0"][..], "--interval"),
            (&["--interval"][..], "--interval"),
            (&["--bind", "localhost"][..], "--bind"),
            (&["--log-level", "loud"][..], "--log-level"),
            (&["--max-connections", "0"][..], "--max-connections"),
            (&["--idle-timeout", "0"][..], "--idle-timeout"),
            (&["--www", "/nonexistent/www"][..], "--www"),
            (&["--drain", "600001"][..], "--drain"),
            (&["--stdin", "a/b"][..], "--stdin"),
            (&["--cors-origin", "example.com"][..], "--cors-origin"),
            (&["--frobnicate"][..], "--frobnicate"),
        ] {
            let e = run(args).unwrap_err();
            assert!(e.0.contains(needle), "{args:?}: {e}");
        }
    }

    #[test]
    fn help_and_version() {
        assert!(matches!(parse(["-h"]), Ok(Command::Help)));
        assert!(matches!(parse(["--version"]), Ok(Command::Version)));
    }
}
