//! `sse-bench` (README "sse-bench, the load generator") against the real
//! `sse-server`: the server on `--port 0`, the bench against its port, and
//! the bench's JSON line and exit code checked. Both binaries are run as a
//! user would run them, through the harness's one spawn path.

use std::process::Command;
use std::time::Duration;

use crate::harness::{BENCH, Server, run};

/// How long one sse-bench run may take before the test fails.
const LIMIT: Duration = Duration::from_secs(30);

/// `sse-bench` aimed at `server`.
fn bench(server: &Server) -> Command {
    let mut c = Command::new(BENCH);
    c.args(["--host", &server.addr.ip().to_string(), "--port", &server.port().to_string()]);
    c
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
    let server = Server::start(&["--log-level", "warn"]);
    let out = run(bench(&server).args(["-c", "50", "--path", "/events?interval=20", "--duration", "2"]), LIMIT);
    let (stdout, stderr) = (out.stdout, out.stderr);
    assert!(out.status.success(), "sse-bench failed:\n{stderr}");
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
    let server = Server::start(&["--log-level", "warn"]);
    let ten = ["-c", "10", "--duration", "1"];
    let out = run(bench(&server).args(ten).args(["--path", "/events?interval=10&count=4"]), LIMIT);
    assert!(out.status.success(), "sse-bench failed: {}", out.stderr);
    assert_eq!(json_number(&out.stdout, "completed"), 10.0, "{}", out.stdout);
    assert_eq!(json_number(&out.stdout, "early_closes"), 0.0, "{}", out.stdout);
    assert_eq!(json_number(&out.stdout, "lateness_samples"), 30.0, "{}", out.stdout);
    // Every stream refused: the JSON line still, and exit code 1.
    let out = run(bench(&server).args(ten).args(["--path", "/nope"]), LIMIT);
    assert!(!out.status.success());
    assert_eq!(json_number(&out.stdout, "failed"), 10.0, "{}", out.stdout);
}
