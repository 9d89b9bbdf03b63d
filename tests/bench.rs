//! Black-box test of `sse-bench` against the real `sse-server`: the server
//! on `--port 0`, the bench against the port it prints, and the bench's JSON
//! line checked. Both binaries are run as a user would run them.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Kills the child when the test ends, however it ends (a failed assert
/// included), so no server outlives the test.
/// How long one sse-bench run may take before the test fails.
const LIMIT: Duration = Duration::from_secs(30);

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the server on a free port; the guard and the `HOST:PORT` it
/// listens on, from its one line on stdout.
fn start_server() -> (KillOnDrop, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sse-server"))
        .args(["--port", "0", "--log-level", "warn"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start sse-server");
    let stdout = child.stdout.take().expect("server stdout");
    let server = KillOnDrop(child);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        let _ = tx.send(line);
        // Keep draining, so the server never blocks on a full pipe.
        let _ = std::io::copy(&mut stdout, &mut std::io::sink());
    });
    let line = rx.recv_timeout(Duration::from_secs(10)).expect("sse-server printed no line within 10 s");
    let addr = line
        .trim_end()
        .strip_prefix("listening on http://")
        .and_then(|rest| rest.strip_suffix('/'))
        .unwrap_or_else(|| panic!("unexpected first line from sse-server: {line:?}"))
        .to_string();
    (server, addr)
}

/// Runs `command` to its end, at most `limit`; its exit success, stdout and
/// stderr.
fn run_with_limit(command: &mut Command, limit: Duration) -> (bool, String, String) {
    let mut child =
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start command");
    let read_all = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().expect("stdout")));
    let stderr = read_all(Box::new(child.stderr.take().expect("stderr")));
    let mut child = KillOnDrop(child);
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "still running after {limit:?}");
        thread::sleep(Duration::from_millis(20));
    };
    let out = stdout.join().expect("stdout reader");
    let err = stderr.join().expect("stderr reader");
    (status.success(), out, err)
}

/// The number after `"key":` in a flat JSON object.
fn json_number(json: &str, key: &str) -> f64 {
    let pattern = format!("\"{key}\":");
    let start = json.find(&pattern).unwrap_or_else(|| panic!("no {key} in {json}")) + pattern.len();
    let rest = &json[start..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].parse().unwrap_or_else(|e| panic!("{key} in {json}: {e}"))
}

#[test]
fn fifty_streams_at_20_ms_see_every_event() {
    let (_server, addr) = start_server();
    let (host, port) = addr.rsplit_once(':').expect("HOST:PORT");
    let (ok, stdout, stderr) = run_with_limit(
        Command::new(env!("CARGO_BIN_EXE_sse-bench")).args([
            "--host",
            host,
            "--port",
            port,
            "-c",
            "50",
            "--path",
            "/events?interval=20",
            "--duration",
            "2",
        ]),
        LIMIT,
    );
    assert!(ok, "sse-bench failed:\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    let [json] = lines.as_slice() else {
        panic!("want one line on stdout, got {stdout:?}\nstderr:\n{stderr}");
    };
    assert!(json.starts_with('{') && json.ends_with('}'), "{json}");
    let n = |key| json_number(json, key);
    let context = format!("{json}\n{stderr}");
    assert_eq!(n("connected"), 50.0, "{context}");
    assert_eq!(n("failed"), 0.0, "{context}");
    assert_eq!(n("gaps"), 0.0, "{context}");
    assert_eq!(n("repeats"), 0.0, "{context}");
    assert_eq!(n("early_closes"), 0.0, "{context}");
    // 50 streams × 2 s / 20 ms is 5,000 events; half leaves room for a
    // slow test machine, and still shows the intervals are honoured.
    assert!(n("events") >= 50.0 * 50.0, "{context}");
}

#[test]
fn streams_that_reach_their_count_are_complete_and_failures_exit_1() {
    let (_server, addr) = start_server();
    let (host, port) = addr.rsplit_once(':').expect("HOST:PORT");
    let bench = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sse-bench"));
        c.args(["--host", host, "--port", port, "-c", "10", "--duration", "1"]);
        c
    };
    let (ok, stdout, stderr) = run_with_limit(bench().args(["--path", "/events?interval=10&count=4"]), LIMIT);
    assert!(ok, "sse-bench failed: {stderr}");
    assert_eq!(json_number(&stdout, "completed"), 10.0, "{stdout}");
    assert_eq!(json_number(&stdout, "early_closes"), 0.0, "{stdout}");
    assert_eq!(json_number(&stdout, "lateness_samples"), 30.0, "{stdout}");
    // Every stream refused: the JSON line still, and exit code 1.
    let (ok, stdout, _) = run_with_limit(bench().args(["--path", "/nope"]), LIMIT);
    assert!(!ok);
    assert_eq!(json_number(&stdout, "failed"), 10.0, "{stdout}");
}
