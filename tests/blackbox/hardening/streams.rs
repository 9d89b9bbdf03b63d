//! PROTOCOL.md §3 and §4, streams under attack: a client flooding its own
//! stream is drained, not buffered, while others are served; a stream that
//! never reads is closed once as a slow consumer and resumes without loss;
//! a reset in the middle of a response or a stream frees the connection.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;

use crate::harness::{
    Client, GET, PAGE, Server, TempWww, event, event_sized, expect_bytes, expect_index, expect_stream_head, get_events,
    metric, metrics_on, rss_kib, stream_body,
};

#[test]
fn a_client_flooding_its_stream_is_drained_not_buffered() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.send(&get_events("/events?interval=20", ""));
    expect_stream_head(&mut c);
    expect_bytes(&mut c, &event(1, 1));
    let mut warm = s.connect();
    warm.send(GET);
    expect_index(&mut warm);
    let rss_before = rss_kib(s.pid());

    const FLOOD: usize = 20 << 20;
    let mut w = c.writer();
    let writer = thread::spawn(move || {
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..FLOOD / chunk.len() {
            w.write_all(&chunk)?;
        }
        Ok::<(), std::io::Error>(())
    });
    // Others are served meanwhile.
    let done = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let others = {
        let (addr, done, served) = (s.addr, done.clone(), served.clone());
        thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let mut o = Client::connect(addr);
                o.send(GET);
                expect_index(&mut o);
                served.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let mut n = 2;
    while !writer.is_finished() {
        expect_bytes(&mut c, &event(1, n));
        n += 1;
    }
    let flooded = writer.join().expect("writer thread");
    for _ in 0..5 {
        expect_bytes(&mut c, &event(1, n));
        n += 1;
    }
    done.store(true, Ordering::Relaxed);
    others.join().expect("other clients were served exactly");
    flooded.expect("the server took all 20 MiB without resetting the stream");
    let rss_after = rss_kib(s.pid());
    assert!(served.load(Ordering::Relaxed) > 0, "no other client was served during the flood");
    assert!(rss_after <= rss_before + 4096, "RSS grew from {rss_before} KiB to {rss_after} KiB during a 20 MiB flood");
}

#[test]
fn a_stream_that_never_reads_is_closed_and_resumes_without_loss() {
    let mut s = Server::start(&[]);
    let target = "/events?interval=1&size=4096";
    let mut a = s.connect();
    a.send(&get_events(target, ""));
    let warn = s.wait_log("Slow consumer");
    assert!(warn.contains("WARN") && warn.contains("connection #1"), "{warn}");
    // What the kernel had taken before the server gave up arrives; then EOF.
    let body = stream_body(&a.read_to_eof());
    let mut rest = body.as_bytes();
    let mut last = 0;
    loop {
        let next = event_sized(1, last + 1, 4096);
        match rest.strip_prefix(next.as_bytes()) {
            Some(r) => {
                rest = r;
                last += 1;
            }
            None => {
                // At most the start of the next event, cut where the kernel's
                // buffer ended: never a wrong or a skipped event.
                assert!(next.as_bytes().starts_with(rest), "after event {last}: {:?}", String::from_utf8_lossy(rest));
                break;
            }
        }
    }
    assert!(last > 0, "no complete event before the slow-consumer close");

    let mut b = s.connect();
    b.send(&get_events(target, &format!("Last-Event-ID: 1-{last}\r\n")));
    expect_stream_head(&mut b);
    expect_bytes(&mut b, &event_sized(1, last + 1, 4096));
    s.wait_log(&format!("Client resumed event stream (connection #1, Last-Event-Id: 1-{last})"));
    drop(b);
    s.wait_log("Client disconnected from event stream (connection #1)");
    let m = s.metrics();
    assert_eq!(metric(&m, "sse_streams_ended_total{reason=\"slow\"}"), 1);
    assert_eq!(metric(&m, "sse_streams_started_total{kind=\"resumed\"}"), 1);
    // `wait_log` took the first one: no second warning for the same stream.
    let log = s.stop().log;
    assert_eq!(log.iter().filter(|l| l.contains("Slow consumer")).count(), 0, "{log:#?}");
}

#[test]
fn a_reset_in_the_middle_of_a_response_or_a_stream_frees_the_connection() {
    // The demo page and a file much larger than every buffer on the way.
    let www = TempWww::new("reset");
    www.write("index.html", PAGE);
    www.write("big.bin", &vec![b'z'; 16 << 20]);
    let mut s = Server::start(&["--www", &www.www_arg()]);

    let mut f = s.connect();
    f.send(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = String::from_utf8(f.read_until(b"\r\n\r\n")).expect("utf-8 head");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && head.contains("\r\nContent-Length: 16777216\r\n"), "{head}");
    f.read_exact_n(1000);
    f.set_linger_zero();
    drop(f);

    let mut st = s.connect();
    st.send(&get_events("/events?interval=5&size=4096", ""));
    expect_stream_head(&mut st);
    expect_bytes(&mut st, &event_sized(1, 1, 4096));
    st.set_linger_zero();
    drop(st);
    s.wait_log("Client disconnected from event stream (connection #1)");

    // The file's reset came before the stream's: once the server has
    // logged the stream's end, it has seen both (epoll reports readiness in
    // the order it happened). Asked on `c`, only `c` is left open.
    let mut c = s.connect();
    c.send(GET);
    expect_index(&mut c);
    let m = metrics_on(&mut c);
    assert_eq!(metric(&m, "sse_open_connections"), 1, "connections left open after the resets");
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
    }
    for _ in 0..100 {
        s.wait_log("Client disconnected from event stream");
    }
    let m = s.metrics();
    assert_eq!(metric(&m, "sse_open_streams"), 0, "{m}");
    assert_eq!(metric(&m, "sse_streams_started_total{kind=\"new\"}"), 100, "{m}");
    assert_eq!(metric(&m, "sse_streams_ended_total{reason=\"client\"}"), 100, "{m}");
    let log = s.stop().log;
    assert_eq!(log.iter().filter(|l| l.contains("Client connected to event stream")).count(), 100);
}
