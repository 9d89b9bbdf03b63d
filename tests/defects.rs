//! The defects an attack on the release binary found, one test each.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::*;

fn raise_nofile() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: valid rlimit buffers for getrlimit and setrlimit.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

/// One client's 64 KiB of pipelined `GET /metrics`, read as fast as the
/// server answers, with 5,000 idle connections open: the other clients go
/// on being served (a stream's events keep their schedule).
#[test]
fn one_client_pipelining_metrics_freezes_no_one() {
    raise_nofile();
    let mut s = Server::start(&["--log-level", "warn"]);
    let idle: Vec<Client> = (0..5000).map(|_| s.connect()).collect();
    let mut stream = s.connect();
    stream.send(&get_events("/events?interval=20", ""));
    stream.read_until(b"\r\n\r\n");
    stream.read_until(b"\n\n");
    let one = b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n";
    let flood = one.repeat(64 * 1024 / one.len());
    let mut flooder = s.connect();
    // The flooder reads every answer as fast as it comes.
    let reader = {
        let mut f = flooder.stream.try_clone().expect("clone");
        std::thread::spawn(move || {
            let mut sink = [0u8; 65536];
            while let Ok(1..) = f.read(&mut sink) {}
        })
    };
    flooder.send(&flood);
    // While the flood is answered, the stream's events keep coming.
    let mut worst = Duration::ZERO;
    let mut last = Instant::now();
    for _ in 0..100 {
        stream.read_until(b"\n\n");
        let now = Instant::now();
        worst = worst.max(now - last);
        last = now;
    }
    assert!(worst < Duration::from_millis(1000), "a stream at 20 ms waited {worst:?} for an event during the flood");
    let _ = flooder.stream.shutdown(std::net::Shutdown::Both);
    let _ = reader.join();
    drop(idle);
    s.assert_alive();
}

/// A www directory with the demo page and a file much larger than every
/// buffer on the way; removed when dropped.
struct BigWww(std::path::PathBuf);

impl BigWww {
    fn new(tag: &str, size: usize) -> BigWww {
        let dir = std::env::temp_dir().join(format!("sse-defects-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp www");
        std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/www/index.html"), dir.join("index.html")).expect("page");
        std::fs::write(dir.join("big.bin"), vec![b'z'; size]).expect("big.bin");
        BigWww(dir)
    }

    fn arg(&self) -> &str {
        self.0.to_str().expect("utf-8 path")
    }
}

impl Drop for BigWww {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Slow downloads under 64 descriptors: each holds a second descriptor,
/// counted against the cap, so a file that exists is never `404`, the
/// page and `/metrics` are still served, and new clients get the
/// documented full answer.
#[test]
fn downloads_count_against_the_descriptor_budget() {
    let www = BigWww::new("fds", 16 << 20);
    let mut s = Server::start_under(&["prlimit", "--nofile=64:64"], &["--www", www.arg()]);
    s.wait_log("max connections: 40 (open-file limit 64)");
    let mut keep = s.connect();
    keep.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(keep.read_response().status(), 200);
    // Slow downloads (they read only the head) until the server is full.
    let mut downloads = Vec::new();
    let mut busy = None;
    for _ in 0..40 {
        let mut d = s.connect();
        d.send(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
        let head = String::from_utf8(d.read_until(b"\r\n\r\n")).expect("utf-8 head");
        assert!(!head.starts_with("HTTP/1.1 404"), "an existing file was 404: {head}");
        if head.starts_with("HTTP/1.1 503 ") {
            busy = Some(normalize_date(&head));
            downloads.push(d);
            break;
        }
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        downloads.push(d);
    }
    // 1 + 19 connections and 19 files: the next download would pass 40.
    assert_eq!(downloads.len(), 20);
    let busy = busy.expect("a download refused once the downloads held the budget");
    assert!(busy.contains("\r\nRetry-After: 1\r\n"), "{busy}");
    // A client already connected: the page (cached) is served; another
    // download must wait (503, never 404); /metrics has real figures.
    keep.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(keep.read_response().status(), 200);
    keep.send(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = keep.read_response();
    assert_eq!((r.status(), r.header("Retry-After")), (503, Some("1")), "{}", r.head);
    keep.send(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
    let m = String::from_utf8(keep.read_response().body).expect("utf-8 metrics");
    let fds = std::fs::read_dir(format!("/proc/{}/fd", s.child.id())).expect("/proc").count() as u64;
    assert_eq!(metric(&m, "process_open_fds"), fds, "{m}");
    assert!(metric(&m, "process_resident_memory_bytes") > 0, "{m}");
    // An EventSource gets the full answer, which brings it back later.
    let mut es = s.connect();
    es.send(&get_events("/events", ""));
    es.read_until(b"\r\n\r\n");
    assert!(full_retry(&es.read_to_eof()).is_some());
    s.assert_alive();
}

/// 100 clients that ask for a stream and leave in the same breath (FIN,
/// or a reset): every stream is logged as connected and as gone, and the
/// open-streams gauge comes back to 0.
#[test]
fn streams_that_start_and_end_in_one_read_are_counted_and_logged() {
    let mut s = Server::start(&[]);
    for i in 0..100 {
        let mut c = s.connect();
        if i % 2 == 1 {
            c.set_linger_zero();
        }
        c.send(&get_events("/events?interval=60000", ""));
        c.shutdown_write();
        drop(c);
    }
    for _ in 0..100 {
        s.wait_log("Client disconnected from event stream");
    }
    let m = s.metrics();
    assert_eq!(metric(&m, "sse_open_streams"), 0, "{m}");
    assert_eq!(metric(&m, "sse_streams_started_total{kind=\"new\"}"), 100, "{m}");
    assert_eq!(metric(&m, "sse_streams_ended_total{reason=\"client\"}"), 100, "{m}");
    assert_eq!(s.count_log("Client connected to event stream"), 100);
}

/// `HEAD /events` from an HTTP/1.0 client that asks to keep the
/// connection says so, as `HEAD /` does, and the connection goes on.
#[test]
fn head_of_events_keeps_an_http_1_0_connection_and_says_so() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.send(b"HEAD /events HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let head = normalize_date(&String::from_utf8(c.read_until(b"\r\n\r\n")).expect("utf-8 head"));
    assert_eq!(
        head,
        "HTTP/1.1 200 OK\r\nDate: <date>\r\nConnection: keep-alive\r\nContent-Type: text/event-stream\r\n\
         Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n\r\n"
    );
    c.send(b"HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.read_response_to(true);
    assert_eq!((r.status(), r.header("Connection")), (200, Some("keep-alive")));
}

/// A client that takes a large file slowly but steadily: the kernel's
/// buffers drain for longer than the idle timeout without a writable
/// event, yet the client is not idle (the send queue shrinks), so the
/// download goes on. A client that stops taking anything is closed, and
/// that is logged once.
#[test]
fn a_slow_but_steady_download_is_not_cut() {
    let www = BigWww::new("slow", 64 << 20);
    let mut s = Server::start(&["--www", www.arg(), "--idle-timeout", "1000"]);
    let mut c = s.connect();
    c.send(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = c.read_until(b"\r\n\r\n");
    assert!(head.starts_with(b"HTTP/1.1 200 OK\r\n"));
    // Buffers fill on both sides at loopback speed.
    let mut got = c.buf.len();
    c.buf.clear();
    let mut chunk = vec![0u8; 16 * 1024];
    let started = Instant::now();
    // 4 s at 16 KiB every 50 ms: about 1.3 MB, far less than the buffers
    // hold, so the server's socket never becomes writable meanwhile.
    while started.elapsed() < Duration::from_secs(4) {
        std::thread::sleep(Duration::from_millis(50));
        let n = c.stream.read(&mut chunk).expect("read");
        assert!(n > 0, "the download was cut after {got} bytes and {:?}", started.elapsed());
        got += n;
    }
    assert_eq!(s.count_log("Client stalled"), 0, "{:#?}", s.log_so_far());
    // Now it stops reading: closed within two idle periods, logged once.
    let stalled = s.wait_log("Client stalled: closing the connection");
    assert!(stalled.contains("WARN"), "{stalled}");
    let rest = c.read_to_eof();
    assert!(got + rest.len() < 64 << 20, "the whole file arrived: not closed");
    assert_eq!(s.count_log("Client stalled"), 0, "logged twice");
}
