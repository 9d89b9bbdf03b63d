//! The processes under test: the one spawn path for `sse-server` (plain, in
//! a directory, or under a wrapper such as `prlimit` that execs it) and for
//! one-shot runs (`sse-bench`, `sse-server --help`); the log follower;
//! `/metrics`; the RSS, CPU time and wake-ups of a pid.
//!
//! Every process started here is killed and reaped when its guard drops,
//! however the test ends. Nothing here sleeps: every wait is for a line, a
//! byte or an EOF, bounded by `WAIT`.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use super::client::Client;

/// How long any single wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(15);

pub const BIN: &str = env!("CARGO_BIN_EXE_sse-server");
pub const BENCH: &str = env!("CARGO_BIN_EXE_sse-bench");

/// A wrapper that starts the server as systemd does with a socket: its own
/// pid in `LISTEN_PID` (a shell's `$$` stays the pid across `exec`), one
/// descriptor in `LISTEN_FDS` (3, see `Launch::listen_fd`).
pub const ACTIVATED: &[&str] = &["sh", "-c", "LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" \"$@\""];

/// A child process, killed and reaped when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The one place a process is started: stdin as given (none, or a pipe),
/// stdout piped, stderr as given, and a guard that ends it.
fn spawn(cmd: &mut Command, stdin: Stdio, stderr: Stdio) -> Guard {
    let program = cmd.get_program().to_string_lossy().into_owned();
    Guard(
        cmd.stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("start {program}: {e}")),
    )
}

/// What a one-shot run left behind.
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` to its end, at most `limit`: both pipes are read to EOF, then
/// the process is reaped.
pub fn run(cmd: &mut Command, limit: Duration) -> Ran {
    let mut guard = spawn(cmd, Stdio::null(), Stdio::piped());
    let (tx, rx) = channel();
    let pipes: [(usize, Box<dyn Read + Send>); 2] =
        [(0, Box::new(guard.0.stdout.take().expect("stdout"))), (1, Box::new(guard.0.stderr.take().expect("stderr")))];
    for (i, mut pipe) in pipes {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            let _ = tx.send((i, text));
        });
    }
    let deadline = Instant::now() + limit;
    let mut out = [String::new(), String::new()];
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(Instant::now());
        let (i, text) = rx.recv_timeout(left).unwrap_or_else(|_| panic!("{cmd:?} still running after {limit:?}"));
        out[i] = text;
    }
    let status = guard.0.wait().expect("wait");
    let [stdout, stderr] = out;
    Ran { status, stdout, stderr }
}

/// Where a server's stderr goes.
pub enum Log {
    /// Followed line by line, for `wait_log` and `stop`.
    Followed,
    /// Piped, and the read end closed once the server listens: every later
    /// line meets a broken pipe.
    Dropped,
    /// Handed to the server as it is (a pipe nobody reads, say).
    To(Stdio),
}

/// How a server is started; `start` waits for its `listening on` line.
pub struct Launch<'a> {
    args: &'a [&'a str],
    wrapper: &'a [&'a str],
    dir: Option<&'a Path>,
    log: Log,
    /// A pipe on the server's standard input (`Server::stdin`).
    stdin: bool,
    env: Vec<(&'a str, &'a str)>,
    /// Without `--first-stream 1`: the server's own unique numbers.
    unique_numbers: bool,
    /// A listening socket handed over as descriptor 3, as systemd does.
    listen_fd: Option<i32>,
}

impl<'a> Launch<'a> {
    /// `args`, plus `--port 0`, `--first-stream 1` and this project's `www`
    /// unless they name their own.
    pub fn new(args: &'a [&'a str]) -> Launch<'a> {
        Launch {
            args,
            wrapper: &[],
            dir: None,
            log: Log::Followed,
            stdin: false,
            env: Vec::new(),
            unique_numbers: false,
            listen_fd: None,
        }
    }

    /// Under a program that execs the server (`prlimit --nofile=64:64`),
    /// so the child's pid is the server's.
    pub fn under(self, wrapper: &'a [&'a str]) -> Launch<'a> {
        Launch { wrapper, ..self }
    }

    /// Started in `dir`, so the default `--www` is that folder's `www`.
    pub fn in_dir(self, dir: &'a Path) -> Launch<'a> {
        Launch { dir: Some(dir), ..self }
    }

    pub fn log(self, log: Log) -> Launch<'a> {
        Launch { log, ..self }
    }

    /// With an environment variable set for the server.
    pub fn env(mut self, name: &'a str, value: &'a str) -> Launch<'a> {
        self.env.push((name, value));
        self
    }

    /// Numbering streams as the server does by default (unique across
    /// restarts and processes), not from 1.
    pub fn unique_numbers(self) -> Launch<'a> {
        Launch { unique_numbers: true, ..self }
    }

    /// With `listener` handed over as descriptor 3 (the socket activation
    /// of systemd, `LISTEN_FDS=1`); the wrapper must set `LISTEN_PID` (see
    /// `ACTIVATED`).
    pub fn listen_fd(self, listener: &std::net::TcpListener) -> Launch<'a> {
        use std::os::fd::AsRawFd;
        Launch { listen_fd: Some(listener.as_raw_fd()), ..self }
    }

    /// With a pipe on the server's standard input.
    pub fn piped_stdin(self) -> Launch<'a> {
        Launch { stdin: true, ..self }
    }

    pub fn start(self) -> Server {
        let mut cmd = match self.wrapper.split_first() {
            Some((program, wrapper_args)) => {
                let mut c = Command::new(program);
                c.args(wrapper_args).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        if !self.args.contains(&"--port") {
            cmd.args(["--port", "0"]);
        }
        // Streams numbered 1, 2, 3, ...: exact ids to expect.
        if !self.args.contains(&"--first-stream") && !self.unique_numbers {
            cmd.args(["--first-stream", "1"]);
        }
        if self.dir.is_none() && !self.args.contains(&"--www") {
            cmd.args(["--www", concat!(env!("CARGO_MANIFEST_DIR"), "/www")]);
        }
        cmd.args(self.args);
        if let Some(d) = self.dir {
            cmd.current_dir(d);
        }
        cmd.envs(self.env.iter().copied());
        if let Some(fd) = self.listen_fd {
            use std::os::unix::process::CommandExt;
            // SAFETY: dup2 and fcntl are async-signal-safe; they run in the
            // child between fork and exec, on a descriptor the parent keeps
            // open. (A socket that is descriptor 3 already only needs its
            // close-on-exec flag cleared: dup2 onto itself would not.)
            unsafe {
                cmd.pre_exec(move || {
                    let rc = if fd == 3 { libc::fcntl(3, libc::F_SETFD, 0) } else { libc::dup2(fd, 3) };
                    if rc < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
                });
            }
        }
        let followed = matches!(self.log, Log::Followed);
        let stderr = match self.log {
            Log::Followed | Log::Dropped => Stdio::piped(),
            Log::To(s) => s,
        };
        let stdin = if self.stdin { Stdio::piped() } else { Stdio::null() };
        let mut guard = spawn(&mut cmd, stdin, stderr);
        let mut stdout = BufReader::new(guard.0.stdout.take().expect("stdout"));
        let mut first = String::new();
        stdout.read_line(&mut first).expect("read the listening line");
        let url = first
            .strip_prefix("listening on http://")
            .and_then(|s| s.strip_suffix("/\n"))
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        let addr = url.parse().unwrap_or_else(|_| panic!("bad address in {first:?}"));
        // With `Log::Dropped`, dropping the read end here is the point.
        let stderr = guard.0.stderr.take();
        let log = if followed { Some(follow(stderr.expect("stderr"))) } else { None };
        Server { guard, addr, stdout, log, seen: Vec::new() }
    }
}

/// Sends each line of `stderr` down a channel, which closes at EOF.
fn follow(stderr: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A running server; killed when dropped.
pub struct Server {
    guard: Guard,
    pub addr: SocketAddr,
    /// Past the `listening on` line.
    stdout: BufReader<ChildStdout>,
    /// `None` unless the log is `Followed`.
    log: Option<Receiver<String>>,
    /// Log lines read while waiting for others, not yet taken by `wait_log`.
    seen: Vec<String>,
}

/// What a stopped server left behind.
pub struct Stopped {
    /// Every log line `wait_log` did not take.
    pub log: Vec<String>,
    /// Stdout after the `listening on` line.
    pub stdout: String,
}

impl Server {
    /// Starts the server with `args`, as `Launch::new(args).start()`.
    pub fn start(args: &[&str]) -> Server {
        Launch::new(args).start()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn pid(&self) -> u32 {
        self.guard.0.id()
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// A stream of `target` (`GET` with `Accept: text/event-stream` and the
    /// `extra` fields) whose response head has been read: the client, and
    /// the head with its date as `<date>`.
    pub fn stream_head(&self, target: &str, extra: &str) -> (Client, String) {
        let mut c = self.connect();
        c.send(&super::client::get_events(target, extra));
        let head = super::expect::normalize_date(&String::from_utf8_lossy(&c.read_until(b"\r\n\r\n")));
        (c, head)
    }

    /// `stream_head`, for a test that does not look at the head.
    pub fn stream(&self, target: &str, extra: &str) -> Client {
        self.stream_head(target, extra).0
    }

    /// Waits for a log line containing `needle`; takes it and returns it.
    pub fn wait_log(&mut self, needle: &str) -> String {
        if let Some(i) = self.seen.iter().position(|l| l.contains(needle)) {
            return self.seen.remove(i);
        }
        let log = self.log.as_ref().expect("wait_log on a server whose log is not followed");
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match log.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Timeout) => panic!("no log line with {needle:?}; saw {:#?}", self.seen),
                Err(RecvTimeoutError::Disconnected) => panic!("server exited; no {needle:?} in {:#?}", self.seen),
            }
        }
    }

    /// The log lines that have arrived so far and that `wait_log` did not
    /// take, without waiting for more.
    pub fn logged(&mut self) -> &[String] {
        if let Some(rx) = &self.log {
            self.seen.extend(rx.try_iter());
        }
        &self.seen
    }

    /// Kills the server and reads its log and stdout to EOF: afterwards,
    /// nothing it wrote is still on the way.
    pub fn stop(&mut self) -> Stopped {
        let _ = self.guard.0.kill();
        let _ = self.guard.0.wait();
        let mut log = std::mem::take(&mut self.seen);
        if let Some(rx) = self.log.take() {
            let deadline = Instant::now() + WAIT;
            loop {
                match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(line) => log.push(line),
                    Err(RecvTimeoutError::Disconnected) => break,
                    Err(RecvTimeoutError::Timeout) => panic!("the log did not end after the kill: {log:#?}"),
                }
            }
        }
        let mut stdout = String::new();
        self.stdout.read_to_string(&mut stdout).expect("read stdout to EOF");
        Stopped { log, stdout }
    }

    /// The write end of the server's standard input (`Launch::piped_stdin`).
    pub fn stdin(&mut self) -> std::process::ChildStdin {
        self.guard.0.stdin.take().expect("a server launched with piped_stdin")
    }

    /// Sends `signal` (`libc::SIGTERM`, ...) to the server.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.pid() as i32, signal) };
        assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
    }

    /// Waits (at most `WAIT`) for the server to exit; its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.guard.0.try_wait().expect("try_wait") {
                return status.code();
            }
            assert!(Instant::now() < deadline, "the server did not exit within {WAIT:?}");
            // The exit itself cannot be awaited without blocking the test's
            // other reads: look again shortly.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Asserts the server process is still running.
    pub fn assert_alive(&mut self) {
        assert!(self.guard.0.try_wait().expect("try_wait").is_none(), "sse-server exited");
    }

    /// The `/metrics` text, fetched on a connection of its own.
    pub fn metrics(&self) -> String {
        metrics_on(&mut self.connect())
    }
}

/// `GET /metrics` on `c`, which stays open (and counts itself in
/// `sse_open_connections`); the body as text.
pub fn metrics_on(c: &mut Client) -> String {
    c.send(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
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

/// A number from `/proc/PID/status` (0 once the process is gone).
fn status_field(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Resident memory in KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> u64 {
    status_field(pid, "VmRSS")
}

/// How many times the process went to sleep (`voluntary_ctxt_switches`).
pub fn voluntary_switches(pid: u32) -> u64 {
    status_field(pid, "voluntary_ctxt_switches")
}

/// CPU time (user + system) used so far, from `/proc/PID/stat`.
pub fn cpu_time(pid: u32) -> Duration {
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
