//! The harness of the black-box tests: start the real `sse-server` binary
//! on `--port 0`, read its `listening on` line, follow its log, and talk to
//! it over raw TCP with read timeouts.
//!
//! Nothing here sleeps for a fixed time: every wait is for bytes or a log
//! line, bounded by `WAIT`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// How long any single wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(15);

pub const BIN: &str = env!("CARGO_BIN_EXE_sse-server");

/// A running server; killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    log: Receiver<String>,
    /// Log lines already read while waiting for others.
    seen: Vec<String>,
}

impl Server {
    /// Starts the server with `args` (plus `--port 0` unless a port is given).
    pub fn start(args: &[&str]) -> Server {
        Server::start_in(args, None)
    }

    /// Starts the server in `dir` (so `--www` defaults resolve there).
    pub fn start_in(args: &[&str], dir: Option<&std::path::Path>) -> Server {
        let mut cmd = Command::new(BIN);
        // Started in `dir`, the default --www is that folder's `www`.
        cmd.args(default_args(args, dir.is_none())).args(args);
        if let Some(d) = dir {
            cmd.current_dir(d);
        }
        Server::spawn(cmd)
    }

    /// Starts a prepared command (the binary, or a wrapper such as
    /// `prlimit` around it) and waits for its `listening on` line.
    pub fn spawn(mut cmd: Command) -> Server {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start sse-server");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, log) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut first = String::new();
        BufReader::new(stdout).read_line(&mut first).expect("read the listening line");
        let url = first
            .strip_prefix("listening on http://")
            .and_then(|s| s.strip_suffix("/\n"))
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        let addr = url.parse().unwrap_or_else(|_| panic!("bad address in {first:?}"));
        Server { child, addr, log, seen: Vec::new() }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Waits for a log line containing `needle`; returns it.
    pub fn wait_log(&mut self, needle: &str) -> String {
        if let Some(i) = self.seen.iter().position(|l| l.contains(needle)) {
            return self.seen.remove(i);
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Timeout) => panic!("no log line with {needle:?}; saw {:#?}", self.seen),
                Err(RecvTimeoutError::Disconnected) => panic!("server exited; no {needle:?} in {:#?}", self.seen),
            }
        }
    }

    /// Every log line received so far (without waiting).
    pub fn log_so_far(&mut self) -> Vec<String> {
        while let Ok(line) = self.log.try_recv() {
            self.seen.push(line);
        }
        self.seen.clone()
    }

    /// `/proc/PID/status` VmRSS in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Asserts the server process is still running.
    pub fn assert_alive(&mut self) {
        assert!(self.child.try_wait().expect("try_wait").is_none(), "sse-server exited");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `--port 0` and (if `www`) this project's `www`, unless `args` name their own.
fn default_args(args: &[&str], www: bool) -> Vec<&'static str> {
    let mut d = Vec::new();
    if !args.contains(&"--port") {
        d.extend(["--port", "0"]);
    }
    if www && !args.contains(&"--www") {
        d.extend(["--www", concat!(env!("CARGO_MANIFEST_DIR"), "/www")]);
    }
    d
}

/// A raw TCP client with a read timeout.
pub struct Client {
    pub stream: TcpStream,
    /// Bytes read but not yet consumed by a `read_*` call.
    pub buf: Vec<u8>,
}

/// A response as read off the wire.
#[derive(Debug)]
pub struct Response {
    /// The head with the `Date` value replaced by `<date>`.
    pub head: String,
    pub body: Vec<u8>,
}

impl Response {
    pub fn status(&self) -> u16 {
        self.head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(": ")?;
            n.eq_ignore_ascii_case(name).then_some(v)
        })
    }
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Client { stream, buf: Vec::new() }
    }

    pub fn send(&mut self, bytes: &[u8]) -> &mut Client {
        self.stream.write_all(bytes).expect("send");
        self
    }

    /// Reads more bytes into `buf`; false at EOF.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16384];
        loop {
            return match self.stream.read(&mut chunk) {
                Ok(0) => false,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    true
                }
                // A signal to the test process (a child exiting) is no fault.
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => false,
                Err(e) => panic!("read failed (timeout?) with {:?} buffered: {e}", String::from_utf8_lossy(&self.buf)),
            };
        }
    }

    /// Reads exactly `n` bytes.
    pub fn read_exact_n(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill(), "EOF after {:?}, wanted {n} bytes", String::from_utf8_lossy(&self.buf));
        }
        self.buf.drain(..n).collect()
    }

    /// Reads up to and including `pattern`.
    pub fn read_until(&mut self, pattern: &[u8]) -> Vec<u8> {
        loop {
            if let Some(i) = self.buf.windows(pattern.len()).position(|w| w == pattern) {
                return self.buf.drain(..i + pattern.len()).collect();
            }
            assert!(
                self.fill(),
                "EOF before {:?}; got {:?}",
                String::from_utf8_lossy(pattern),
                String::from_utf8_lossy(&self.buf)
            );
        }
    }

    /// Reads a response head and, by its `Content-Length`, its body.
    /// `head_only`: the request was HEAD, no body follows.
    pub fn read_response_to(&mut self, head_only: bool) -> Response {
        let raw = self.read_until(b"\r\n\r\n");
        let head = normalize_date(&String::from_utf8(raw).expect("utf-8 head"));
        let mut r = Response { head, body: Vec::new() };
        if let (false, Some(len)) = (head_only, r.header("Content-Length")) {
            let n = len.parse().expect("Content-Length");
            r.body = self.read_exact_n(n);
        }
        r
    }

    pub fn read_response(&mut self) -> Response {
        self.read_response_to(false)
    }

    /// Asserts the server closes the connection: EOF with nothing more.
    pub fn expect_eof(&mut self) {
        let had = self.buf.len();
        while self.fill() {}
        assert_eq!(self.buf.len(), had, "unexpected bytes before EOF: {:?}", String::from_utf8_lossy(&self.buf[had..]));
    }

    /// Reads until EOF; returns everything not yet consumed.
    pub fn read_to_eof(&mut self) -> Vec<u8> {
        while self.fill() {}
        std::mem::take(&mut self.buf)
    }

    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

/// Replaces the value of `Date` with `<date>`, after checking its form.
pub fn normalize_date(head: &str) -> String {
    head.trim_end_matches("\r\n")
        .lines()
        .map(|l| match l.strip_prefix("Date: ") {
            Some(v) => {
                assert_eq!(v.len(), 29, "Date {v:?}");
                assert!(v.ends_with(" GMT") && v.as_bytes()[3] == b',', "Date {v:?}");
                "Date: <date>".to_string()
            }
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\r\n")
        + "\r\n\r\n"
}

/// The exact bytes of event `n` of connection `c`.
pub fn event(c: u64, n: u64) -> String {
    format!("event: my-custom-event\nid: {c}-{n}\ndata: Server says hi! (event #{n} of connection #{c})\n\n")
}

/// A `GET` of `target` with `Host` and `Accept: text/event-stream`.
pub fn get_events(target: &str, extra: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n{extra}\r\n").into_bytes()
}

pub const STREAM_HEAD: &str = "HTTP/1.1 200 OK\r\nDate: <date>\r\nContent-Type: text/event-stream\r\n\
    Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n\r\n";

// ---- Appended for tests/hardening.rs and tests/soak.rs ----

impl Server {
    /// Starts the server under a wrapper program that execs it (such as
    /// `prlimit --nofile=64:64`), so the child's pid is the server's.
    pub fn start_under(wrapper: &[&str], args: &[&str]) -> Server {
        let (program, wrapper_args) = wrapper.split_first().expect("a wrapper program");
        let mut cmd = Command::new(program);
        cmd.args(wrapper_args).arg(BIN);
        cmd.args(default_args(args, true)).args(args);
        Server::spawn(cmd)
    }

    /// CPU time (user + system) the server has used so far.
    pub fn cpu_time(&self) -> Duration {
        cpu_time_of(self.child.id())
    }

    /// How many log lines received so far contain `needle` (without waiting).
    pub fn count_log(&mut self, needle: &str) -> usize {
        self.log_so_far().iter().filter(|l| l.contains(needle)).count()
    }

    /// The `/metrics` text, fetched on a connection of its own.
    pub fn metrics(&self) -> String {
        metrics_at(self.addr)
    }

    /// Polls `/metrics` until `sse_open_connections` is 1 (the connection
    /// asking) or `WAIT` has passed; returns the last value seen.
    pub fn wait_idle(&self) -> u64 {
        let deadline = Instant::now() + WAIT;
        loop {
            let open = metric(&self.metrics(), "sse_open_connections");
            if open == 1 || Instant::now() >= deadline {
                return open;
            }
            // Closes are processed within a loop turn; poll gently.
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `/proc/PID/stat` utime + stime.
pub fn cpu_time_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ")": state is field 3, utime 14 and stime 15 (1-based in proc(5)).
    let ticks = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap_or(100).max(1);
    Duration::from_millis((ticks(14) + ticks(15)) * 1000 / hz)
}

/// `/proc/PID/status` VmRSS in KiB (0 once the process is gone).
pub fn rss_kib_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// `GET /metrics` on a new connection; the body as text.
pub fn metrics_at(addr: SocketAddr) -> String {
    let mut c = Client::connect(addr);
    c.send(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.status(), 200, "GET /metrics: {}", r.head);
    String::from_utf8(r.body).expect("utf-8 metrics")
}

/// The value of the sample `name` (labels included, as in
/// `sse_responses_total{code="200"}`) in a `/metrics` text.
pub fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in {text}"))
}

/// What `Client::fill_for` saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    Bytes,
    Eof,
    Nothing,
}

impl Client {
    /// Waits at most `d` for more bytes (kept in `buf`).
    pub fn fill_for(&mut self, d: Duration) -> Fill {
        self.stream.set_read_timeout(Some(d.max(Duration::from_millis(1)))).expect("timeout");
        let mut chunk = [0u8; 16384];
        let got = match self.stream.read(&mut chunk) {
            Ok(0) => Fill::Eof,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Fill::Bytes
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted
                ) =>
            {
                Fill::Nothing
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Fill::Eof,
            Err(e) => panic!("read failed: {e}"),
        };
        self.stream.set_read_timeout(Some(WAIT)).expect("timeout");
        got
    }

    /// Sends without panicking (the server may have closed already).
    pub fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// `SO_LINGER` with a zero timeout: closing this socket sends a reset.
    pub fn set_linger_zero(&self) {
        use std::os::fd::AsRawFd;
        let linger = libc::linger { l_onoff: 1, l_linger: 0 };
        // SAFETY: a valid `linger` of the length given, on our own socket.
        let rc = unsafe {
            libc::setsockopt(
                self.stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "setsockopt SO_LINGER: {}", std::io::Error::last_os_error());
    }
}

/// The exact bytes of event `n` of connection `c` with `size=BYTES`: the
/// data is padded with one space and dots to `size` bytes.
pub fn event_sized(c: u64, n: u64, size: usize) -> String {
    let mut data = format!("Server says hi! (event #{n} of connection #{c})");
    if size > data.len() {
        data.push(' ');
        while data.len() < size {
            data.push('.');
        }
    }
    format!("event: my-custom-event\nid: {c}-{n}\ndata: {data}\n\n")
}

/// The body a full server sends an `EventSource`: `Some(retry)` if `body`
/// is exactly that.
pub fn full_retry(body: &[u8]) -> Option<u64> {
    let rest = std::str::from_utf8(body).ok()?.strip_prefix(": sse-server is full, retry later\nretry: ")?;
    let digits = rest.strip_suffix("\n\n")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}
