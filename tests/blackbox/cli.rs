//! The program (contract §1): options, the `listening on` line, exit codes,
//! the open-file limit, and logs that go to stderr and never hold it up.

use std::process::{Command, Stdio};

use crate::harness::{BIN, Launch, Log, Server, WAIT, event, get_events, run};

/// Runs the binary to its end; its exit code, stdout and stderr.
fn run_bin(args: &[&str]) -> (i32, String, String) {
    let out = run(Command::new(BIN).args(args), WAIT);
    (out.status.code().expect("exit code"), out.stdout, out.stderr)
}

#[test]
fn help_and_version_exit_0() {
    let (code, out, _) = run_bin(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("Usage: sse-server [OPTIONS]"), "{out}");
    for option in ["--bind", "--port", "--interval", "--www", "--max-connections", "--heartbeat", "--log-level"] {
        assert!(out.contains(option), "usage lacks {option}");
    }
    let (code, out, _) = run_bin(&["-V"]);
    assert_eq!((code, out.as_str()), (0, concat!("sse-server ", env!("CARGO_PKG_VERSION"), "\n")));
}

#[test]
fn bad_options_exit_2_naming_the_option() {
    for (args, named) in [
        (&["--port", "http"][..], "--port"),
        (&["--port", "65536"][..], "--port"),
        (&["--interval", "-5"][..], "--interval"),
        (&["--heartbeat", "x"][..], "--heartbeat"),
        (&["--log-level", "chatty"][..], "--log-level"),
        (&["--bind", "example.com"][..], "--bind"),
        (&["--max-connections", "0"][..], "--max-connections"),
        (&["--no-such-option"][..], "--no-such-option"),
        (&["--port"][..], "--port"),
        // Named on purpose and missing: a mistake, not the built-in page.
        (&["--www", "/nonexistent/sse-www"][..], "--www"),
        (&["--drain", "600001"][..], "--drain"),
        (&["--metrics-port", "x"][..], "--metrics-port"),
        (&["--publish-token-file", "/nonexistent/token"][..], "--publish-token-file"),
    ] {
        let (code, out, err) = run_bin(args);
        assert_eq!(code, 2, "{args:?}");
        assert_eq!(out, "", "{args:?}: nothing on stdout");
        let first = err.lines().next().unwrap_or_default();
        assert!(first.starts_with("sse-server: ") && first.contains(named), "{args:?}: {first}");
        assert!(err.contains("Usage: sse-server"), "{args:?}: usage follows");
    }
}

#[test]
fn address_in_use_exits_1_naming_the_address() {
    let server = Server::start(&[]);
    let port = server.port().to_string();
    let (code, out, err) = run_bin(&["--port", &port]);
    assert_eq!(code, 1);
    assert_eq!(out, "");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with(&format!("sse-server: cannot listen on 127.0.0.1:{port}: ")), "{err}");
    assert!(err.contains("in use"), "{err}");
}

#[test]
fn listening_line_names_the_real_address() {
    // `Server::start` already parses `listening on http://HOST:PORT/`.
    let server = Server::start(&["--bind", "127.0.0.1"]);
    assert_ne!(server.port(), 0);
    assert_eq!(server.addr.ip().to_string(), "127.0.0.1");
    let v6 = Server::start(&["--bind", "::1"]);
    assert_eq!(v6.addr.ip().to_string(), "::1");
    let mut c = v6.connect();
    c.send(b"GET /index.html HTTP/1.1\r\nHost: [::1]\r\n\r\n");
    assert_eq!(c.read_response().status(), 200);
}

#[test]
fn logs_go_to_stderr_at_the_chosen_level() {
    let mut server = Server::start(&["--log-level", "debug"]);
    let mut c = server.connect();
    c.send(b"get / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(c.read_response().status(), 501);
    server.wait_log("DEBUG");
    // At `warn`, the info lines of streams are not written.
    let mut quiet = Server::start(&["--log-level", "warn", "--interval", "10"]);
    let mut c = quiet.connect();
    c.send(&get_events("/events?count=1", ""));
    c.read_to_eof();
    let log = quiet.stop().log;
    assert!(log.iter().all(|l| !l.contains("INFO")), "{log:?}");
}

#[test]
fn the_open_file_limit_is_raised_to_the_hard_limit() {
    let mut server = Launch::new(&[]).under(&["prlimit", "--nofile=100:200"]).start();
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!((fields[3], fields[4]), ("200", "200"), "{line}");
    // And --max-connections follows from it: 200 less the reserves.
    server.wait_log("max connections: 176 (open-file limit 200)");
}

#[test]
fn a_dead_log_reader_stops_nothing() {
    // The reader of stderr goes away: every later log line meets a broken pipe.
    let mut server = Launch::new(&["--interval", "5"]).log(Log::Dropped).start();
    for n in 1..=3 {
        let mut c = server.connect();
        c.send(&get_events("/events?count=1", ""));
        let body = String::from_utf8(c.read_to_eof()).unwrap();
        assert!(body.ends_with(&event(n, 1)), "{body}");
    }
    server.assert_alive();
}

#[test]
fn a_log_reader_that_stops_reading_stalls_nothing() {
    let (read_end, write_end) = std::io::pipe().expect("pipe");
    let server = Launch::new(&["--interval", "1"]).log(Log::To(Stdio::from(write_end))).start();
    // Nobody reads `read_end`: after about 64 KiB of log lines (two per
    // stream, ~110 bytes each) the pipe is full. Streams go on regardless.
    for n in 1..=1000 {
        let mut c = server.connect();
        c.send(&get_events("/events?count=1", ""));
        let body = String::from_utf8(c.read_to_eof()).unwrap();
        assert!(body.ends_with(&event(n, 1)), "stream {n}: {body}");
    }
    drop(read_end);
}

#[test]
fn stdout_carries_exactly_one_line() {
    let mut server = Server::start(&["--interval", "5", "--log-level", "debug"]);
    // Streams, pages and refusals: all of it is logged, none of it on stdout.
    let mut c = server.connect();
    c.send(&get_events("/events?count=2", ""));
    c.read_to_eof();
    let mut c = server.connect();
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nget / HTTP/1.1\r\n\r\n");
    c.read_to_eof();
    assert_eq!(server.stop().stdout, "", "stdout after the listening line");
}

#[test]
fn other_start_up_failures_exit_1_naming_the_address() {
    // 192.0.2.1 (TEST-NET-1) is no address of this machine: bind fails.
    let (code, out, err) = run_bin(&["--bind", "192.0.2.1", "--port", "0"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("sse-server: cannot listen on 192.0.2.1:0: "), "{err}");
}

#[test]
fn an_inherited_descriptor_that_is_no_listener_exits_1() {
    // Descriptor 3 is a file, not a listening socket, in LISTEN_FDS.
    let script = format!("exec 3</dev/null; LISTEN_PID=$$ LISTEN_FDS=1 exec {BIN} --port 0");
    let out = run(Command::new("sh").args(["-c", &script]), WAIT);
    assert_eq!((out.status.code(), out.stdout.as_str()), (Some(1), ""));
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.starts_with("sse-server: cannot use the socket passed in LISTEN_FDS: "), "{}", out.stderr);
}

/// A reader that went away (`| head`) is no reason to panic: the exit code
/// is still the one for the case (2 for a bad option, 0 for help).
#[test]
fn a_closed_output_pipe_changes_no_exit_code() {
    use std::os::fd::FromRawFd;
    for (args, want) in [(&["--bogus"][..], 2), (&["--help"][..], 0), (&["--version"][..], 0)] {
        // A pipe whose reader is gone: every write to it fails (EPIPE).
        let mut fds = [0; 2];
        // SAFETY: pipe(2) into an array of two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: the two descriptors were just made and are ours.
        let (reader, writer) = unsafe { (std::fs::File::from_raw_fd(fds[0]), std::fs::File::from_raw_fd(fds[1])) };
        drop(reader);
        let err = writer.try_clone().unwrap();
        let status = Command::new(BIN).args(args).stdout(writer).stderr(err).status().unwrap();
        assert_eq!(status.code(), Some(want), "{args:?}");
    }
}

#[test]
fn an_inherited_unix_socket_exits_1_and_says_why() {
    // A socket unit with ListenStream=/run/sse.sock passes a Unix socket.
    let dir = std::env::temp_dir().join(format!("sse-unix-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let listener = std::os::unix::net::UnixListener::bind(dir.join("s.sock")).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
    let script = format!("exec 3<&{fd}; LISTEN_PID=$$ LISTEN_FDS=1 exec {BIN} --port 0");
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script]);
    // SAFETY: fcntl is async-signal-safe; it runs in the child between
    // fork and exec, on a descriptor the parent keeps open.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
        });
    }
    let out = run(&mut cmd, WAIT);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!((out.status.code(), out.stdout.as_str()), (Some(1), ""));
    assert_eq!(
        out.stderr,
        "sse-server: cannot use the socket passed in LISTEN_FDS: descriptor 3 (LISTEN_FDS) is not a TCP socket \
         (ListenStream= takes a port or an IP address and port)\n"
    );
}

#[test]
fn more_than_one_inherited_socket_exits_1() {
    let script = format!("LISTEN_PID=$$ LISTEN_FDS=2 exec {BIN} --port 0");
    let out = run(Command::new("sh").args(["-c", &script]), WAIT);
    assert_eq!((out.status.code(), out.stdout.as_str()), (Some(1), ""));
    assert_eq!(
        out.stderr,
        "sse-server: cannot use the socket passed in LISTEN_FDS: 2 sockets passed, sse-server takes one \
         (one ListenStream= in the socket unit)\n"
    );
}

#[test]
fn log_level_off_writes_nothing() {
    let mut server = Server::start(&["--log-level", "off", "--interval", "5"]);
    let mut c = server.connect();
    c.send(&get_events("/events?count=1", ""));
    c.read_to_eof();
    c = server.connect();
    c.send(b"FOO / HTTP/1.1\r\nHost: t\r\n\r\n");
    c.read_to_eof();
    assert_eq!(server.stop().log, Vec::<String>::new());
}

/// Under systemd, with stderr going to the journal (`JOURNAL_STREAM` names
/// that very stream), lines carry no time of their own: journald stamps
/// them; they start with their syslog priority (`<6>` for info). On any other stderr, with the variable set or not, they do.
#[test]
fn the_journal_gets_lines_without_timestamps() {
    use std::os::fd::AsRawFd;
    let (reader, writer) = std::io::pipe().expect("pipe");
    // SAFETY: a zeroed stat filled by fstat on a pipe we own.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::fstat(writer.as_raw_fd(), &mut st) }, 0);
    let stream = format!("{}:{}", st.st_dev, st.st_ino);
    let mut s = Launch::new(&[]).env("JOURNAL_STREAM", &stream).log(Log::To(writer.into())).start();
    drop(s.connect());
    s.stop();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::BufReader::new(reader), &mut text).unwrap();
    let first = text.lines().next().expect("a log line");
    assert!(first.starts_with("<6>INFO  [sse_server"), "{first}");
    // Another stream named: timestamps as usual.
    let mut s = Launch::new(&[]).env("JOURNAL_STREAM", "1:2").start();
    let line = s.wait_log("listening on");
    assert!(line.as_bytes().first().is_some_and(u8::is_ascii_digit), "{line}");
}

/// `--max-connections` above what the open-file limit allows is said at
/// warn (accept would fail for want of descriptors first).
#[test]
fn a_cap_above_the_open_file_limit_is_said() {
    let mut s = Launch::new(&["--max-connections", "1000"]).under(&["prlimit", "--nofile=64:64"]).start();
    let line = s.wait_log("is more than the open-file limit 64 allows (40)");
    assert!(line.contains("WARN"), "{line}");
}

/// `--access-log`: one line per answer, refusals included.
#[test]
fn the_access_log_has_a_line_per_answer() {
    let mut s = Server::start(&["--access-log"]);
    let mut c = s.connect();
    let port = c.local_port();
    c.send(b"GET /nope?x=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    c.read_response();
    c.send(&get_events("/events?count=1&interval=1", ""));
    c.read_to_eof();
    let mut head = s.connect();
    head.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    head.read_until(b"\r\n\r\n");
    // Refused requests show the line they had, escaped; `-` when none.
    for bad_head in [
        &b"GET / HTTP/9.9\r\n\r\n"[..],
        b"GET /\"x HTTP/1.1\r\n\r\n",
        b"\x16\x03\x01\x00\r\n",
        // The empty lines a request may start with are not its line.
        b"\r\n\r\nBAD\x01 / HTTP/1.1\r\n\r\n",
        // Content refused as it comes: the line of its request.
        b"POST /channels/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ] {
        let mut bad = s.connect();
        bad.send(bad_head);
        bad.read_to_eof();
    }
    let line = s.wait_log("\"GET /nope?x=1 HTTP/1.1\" 404 10 ");
    assert!(line.contains(&format!("[sse_server::access] 127.0.0.1:{port} ")) && line.ends_with(" ms"), "{line}");
    s.wait_log("\"GET /events?count=1&interval=1 HTTP/1.1\" 200 - ");
    s.wait_log("\"HEAD / HTTP/1.1\" 200 0 ");
    s.wait_log("\"GET / HTTP/9.9\" 505 ");
    s.wait_log("\"GET /\\x22x HTTP/1.1\" 400 ");
    s.wait_log("\"\\x16\\x03\\x01\\x00\" 400 ");
    s.wait_log("\"BAD\\x01 / HTTP/1.1\" 400 ");
    s.wait_log("\"POST /channels/x HTTP/1.1\" 400 ");
}

/// Stream log lines name the client's address.
#[test]
fn stream_log_lines_name_the_client() {
    let mut s = Server::start(&[]);
    let mut c = s.connect();
    let port = c.local_port();
    c.send(&get_events("/events?count=1&interval=1", ""));
    c.read_to_eof();
    let line = s.wait_log("Client connected to event stream (connection #1, Last-Event-Id: none)");
    assert!(line.ends_with(&format!(") from 127.0.0.1:{port}")), "{line}");
    let end = s.wait_log("Event stream ended after its last event (connection #1)");
    assert!(end.ends_with(&format!(" to 127.0.0.1:{port}")), "{end}");
    // A made-up Last-Event-ID is shown escaped, and cut at 128 bytes.
    let mut c = s.connect();
    let made_up = format!("\"{}", "x".repeat(7000));
    c.send(&get_events("/events?count=1&interval=1", &format!("Last-Event-ID: {made_up}\r\n")));
    c.read_to_eof();
    let line = s.wait_log("Client connected to event stream (connection #2, Last-Event-Id: \\x22xxx");
    assert!(line.contains(&format!("\\x22{}...) from 127.0.0.1:", "x".repeat(127))), "{line}");
}
