//! The soak run: a bounded mix of clients against one server for
//! `SOAK_SECS` seconds (default 300), then proof that nothing was kept.
//!
//! ```text
//! SOAK_SECS=30 cargo test --release --test blackbox soak -- --ignored --nocapture
//! ```
//!
//! A few threads each play one kind of client: streams that come and go
//! (half of them resuming with `Last-Event-ID`), static requests on
//! persistent and one-shot connections, garbage, readers that never read,
//! and storms of 200 streams dropped at once. At most about 210
//! connections are open at a time. Every answer is checked byte for byte.
//! At the end, once the server has processed every close, its RSS must be
//! back within 2 MiB of where it started, and it must still answer `GET /`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{
    Client, GET, Server, event, expect_index, expect_index_and_close, expect_stream_head, get_events, metric,
    metrics_on, rss_kib,
};

/// Streams opened at once by a storm.
const STORM: usize = 200;
/// Readers that never read, held at once.
const SLOW_HELD: usize = 5;
/// The connection number of the stream that closes last: no client of the
/// mix resumes it.
const BARRIER: u64 = 999_999_999_999;

/// xorshift64: enough to vary the mix, no dependency needed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64);
        Rng((t.unwrap_or(1) ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// What the clients did, for the summary.
#[derive(Default)]
struct Tally {
    streams: AtomicU64,
    resumed: AtomicU64,
    heartbeats: AtomicU64,
    statics: AtomicU64,
    garbage: AtomicU64,
    slow: AtomicU64,
    storms: AtomicU64,
}

/// The next event of a stream, after any heartbeat comments (counted).
fn next_event(s: &mut Client, tally: &Tally) -> String {
    loop {
        let block = String::from_utf8(s.read_until(b"\n\n")).expect("utf-8 stream");
        // A heartbeat is one comment line and a blank line.
        if block.starts_with(':') && block.matches('\n').count() == 2 {
            tally.heartbeats.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        return block;
    }
}

/// Streams that come and go; every other one resumes where the last left.
fn streams(addr: SocketAddr, until: Instant, seed: u64, tally: &Tally) {
    let mut rng = Rng::new(seed);
    let mut last: Option<(u64, u64)> = None;
    while Instant::now() < until {
        let resume = last.filter(|_| rng.below(2) == 0);
        let extra = resume.map(|(c, n)| format!("Last-Event-ID: {c}-{n}\r\n")).unwrap_or_default();
        // Most streams are fast; one in four is slower than the heartbeat.
        let interval = if rng.below(4) == 0 { 600 } else { 20 };
        let mut s = Client::connect(addr);
        s.send(&get_events(&format!("/events?interval={interval}"), &extra));
        expect_stream_head(&mut s);
        let first = next_event(&mut s, tally);
        let (c, n) = first
            .strip_prefix("event: my-custom-event\nid: ")
            .and_then(|r| r.split_once('\n'))
            .and_then(|(id, _)| id.split_once('-'))
            .and_then(|(c, n)| Some((c.parse::<u64>().ok()?, n.parse::<u64>().ok()?)))
            .unwrap_or_else(|| panic!("not an event: {first:?}"));
        assert_eq!(first, event(c, n));
        match resume {
            Some((rc, rn)) => {
                assert_eq!((c, n), (rc, rn + 1), "resumed from {rc}-{rn}");
                tally.resumed.fetch_add(1, Ordering::Relaxed);
            }
            None => assert_eq!(n, 1, "a new stream starts at event 1"),
        }
        let more = rng.below(5);
        for i in 1..=more {
            assert_eq!(next_event(&mut s, tally), event(c, n + i));
        }
        last = Some((c, n + more));
        if rng.below(2) == 0 {
            s.shutdown_write();
        }
        tally.streams.fetch_add(1, Ordering::Relaxed);
    }
}

/// `GET /` on persistent connections (one by one or pipelined) and on
/// one-shot ones.
fn statics(addr: SocketAddr, until: Instant, tally: &Tally) {
    let mut rng = Rng::new(7);
    while Instant::now() < until {
        let mut c = Client::connect(addr);
        let m = 1 + rng.below(10) as usize;
        if rng.below(2) == 0 {
            c.send(&GET.repeat(m));
            for _ in 0..m {
                expect_index(&mut c);
            }
        } else {
            for _ in 0..m {
                c.send(GET);
                expect_index(&mut c);
            }
        }
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        expect_index_and_close(&mut c);
        tally.statics.fetch_add(m as u64 + 1, Ordering::Relaxed);
    }
}

/// Bad requests and random bytes: each refused, then the connection ends.
fn garbage(addr: SocketAddr, until: Instant, tally: &Tally) {
    let mut rng = Rng::new(11);
    let fixed: [(&[u8], u16); 6] = [
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),
        (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 70000\r\n\r\n", 413),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    ];
    while Instant::now() < until {
        let (bytes, status) = match rng.below(fixed.len() as u64 + 1) as usize {
            i if i < fixed.len() => (fixed[i].0.to_vec(), fixed[i].1),
            _ => {
                // A first byte that cannot start a request, then noise.
                let mut b = vec![rng.below(9) as u8];
                b.extend((0..rng.below(2000)).map(|_| rng.below(256) as u8));
                (b, 400)
            }
        };
        let mut c = Client::connect(addr);
        let _ = c.try_send(&bytes);
        let r = c.read_response();
        assert_eq!(r.status(), status, "{:?}: {}", String::from_utf8_lossy(&bytes), r.head);
        assert_eq!(r.header("Connection"), Some("close"), "{}", r.head);
        c.expect_eof();
        tally.garbage.fetch_add(1, Ordering::Relaxed);
    }
}

/// Readers that never read a byte of their fast, fat streams.
fn slow_readers(addr: SocketAddr, until: Instant, tally: &Tally) {
    let mut held = VecDeque::new();
    while Instant::now() < until {
        let mut c = Client::connect(addr);
        c.send(&get_events("/events?interval=1&size=4096", ""));
        held.push_back(c);
        if held.len() > SLOW_HELD {
            held.pop_front();
        }
        tally.slow.fetch_add(1, Ordering::Relaxed);
        // Pacing, not waiting for anything: a new one every quarter second.
        thread::sleep(Duration::from_millis(250));
    }
}

/// 200 streams opened, every head read, then all dropped at once.
fn storms(addr: SocketAddr, until: Instant, tally: &Tally) {
    while Instant::now() < until {
        let mut all: Vec<Client> = (0..STORM).map(|_| Client::connect(addr)).collect();
        for c in &mut all {
            c.send(&get_events("/events?interval=100", ""));
        }
        for c in &mut all {
            expect_stream_head(c);
        }
        drop(all);
        tally.storms.fetch_add(1, Ordering::Relaxed);
        // Pacing, not waiting for anything: a storm every two seconds or so.
        let rest = until.saturating_duration_since(Instant::now()).min(Duration::from_secs(2));
        thread::sleep(rest);
    }
}

#[test]
#[ignore = "long: run with SOAK_SECS=30 cargo test --release --test blackbox soak -- --ignored --nocapture"]
fn soak() {
    let secs: u64 = std::env::var("SOAK_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let mut server = Server::start(&["--heartbeat", "500"]);
    let (addr, pid) = (server.addr, server.pid());
    let rss_start = rss_kib(pid);
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let tally = Arc::new(Tally::default());
    let peak = Arc::new(AtomicU64::new(rss_start));

    let mut workers = Vec::new();
    let mut spawn = |name: &str, f: Box<dyn FnOnce(&Tally) + Send>| {
        let tally = tally.clone();
        let handle = thread::Builder::new().name(name.into()).spawn(move || f(&tally)).expect("spawn");
        workers.push((name.to_string(), handle));
    };
    spawn("streams-1", Box::new(move |t| streams(addr, until, 1, t)));
    spawn("streams-2", Box::new(move |t| streams(addr, until, 2, t)));
    spawn("statics", Box::new(move |t| statics(addr, until, t)));
    spawn("garbage", Box::new(move |t| garbage(addr, until, t)));
    spawn("slow-readers", Box::new(move |t| slow_readers(addr, until, t)));
    spawn("storms", Box::new(move |t| storms(addr, until, t)));
    let monitor = {
        let peak = peak.clone();
        thread::spawn(move || {
            while Instant::now() < until {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                // Sampling, not waiting for anything.
                thread::sleep(Duration::from_millis(50));
            }
        })
    };

    let mut failures = Vec::new();
    for (name, h) in workers {
        if let Err(e) = h.join() {
            let msg = e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
            failures.push(format!("{name}: {}", msg.unwrap_or_default()));
        }
    }
    monitor.join().expect("monitor");
    server.assert_alive();
    assert!(failures.is_empty(), "clients failed:\n{}", failures.join("\n"));

    // Every client is gone. One last stream, closed after all of them:
    // once the server has logged its end, it has seen every earlier close
    // (epoll reports readiness in the order it happened).
    let mut last = server.connect();
    last.send(&get_events("/events?interval=3600000", &format!("Last-Event-ID: {BARRIER}-0\r\n")));
    expect_stream_head(&mut last);
    drop(last);
    server.wait_log(&format!("Client disconnected from event stream (connection #{BARRIER})"));
    let rss_end = rss_kib(pid);
    peak.fetch_max(rss_end, Ordering::Relaxed);
    let mut c = server.connect();
    c.send(GET);
    expect_index(&mut c);
    let m = metrics_on(&mut c);
    assert_eq!(metric(&m, "sse_open_connections"), 1, "connections still open after every client left");
    drop(c);

    let codes = [200, 204, 400, 404, 405, 408, 413, 431, 501, 503, 505];
    let requests: u64 = codes.iter().map(|c| metric(&m, &format!("sse_responses_total{{code=\"{c}\"}}"))).sum();
    let ended = |r: &str| metric(&m, &format!("sse_streams_ended_total{{reason=\"{r}\"}}"));
    let t = &*tally;
    let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
    println!(
        "soak: {secs} s; RSS KiB start {rss_start} peak {} end {rss_end}; responses {requests} \
         (200: {}, 4xx/5xx refusals: {}); streams new {} resumed {}, ended client {} slow {} count {} error {}; \
         events {}; heartbeats {}; clients: streams {} (resumed {}, heartbeats seen {}), static requests {}, garbage {}, \
         slow readers {}, storms {} x {STORM}",
        peak.load(Ordering::Relaxed),
        metric(&m, "sse_responses_total{code=\"200\"}"),
        requests - metric(&m, "sse_responses_total{code=\"200\"}") - metric(&m, "sse_responses_total{code=\"204\"}"),
        metric(&m, "sse_streams_started_total{kind=\"new\"}"),
        metric(&m, "sse_streams_started_total{kind=\"resumed\"}"),
        ended("client"),
        ended("slow"),
        ended("count"),
        ended("error"),
        metric(&m, "sse_events_sent_total"),
        metric(&m, "sse_heartbeats_sent_total"),
        n(&t.streams),
        n(&t.resumed),
        n(&t.heartbeats),
        n(&t.statics),
        n(&t.garbage),
        n(&t.slow),
        n(&t.storms),
    );
    assert_eq!(metric(&m, "sse_open_streams"), 0);
    assert_eq!(ended("error"), 0, "clients leaving were counted as socket errors");
    assert!(n(&t.heartbeats) > 0, "no heartbeat reached a silent stream");
    let log = server.stop().log;
    let bad: Vec<&String> = log.iter().filter(|l| l.contains("ERROR") || l.contains("panicked")).collect();
    assert!(bad.is_empty(), "{bad:#?}");
    assert!(rss_end <= rss_start + 2048, "RSS {rss_start} KiB at start, {rss_end} KiB at the end with no client left");
}
