//! Property test of one connection's state machine (`conn::Conn`) with a
//! fake clock: arbitrary bytes, split at arbitrary points, fed through a
//! real loopback socket. Whatever comes in: no panic, buffers within their
//! bounds, and every input ends in a response, a stream, or a wait.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use sse_server::config::{Config, HEAD_TIMEOUT, IDLE_TIMEOUT, MAX_HEAD, MAX_PENDING_OUTPUT};
use sse_server::conn::{Conn, Ctx, READ_CHUNK, Verdict};
use sse_server::metrics::Metrics;
use sse_server::response::HttpDate;
use sse_server::www::Www;

fn pair() -> (TcpStream, mio::net::TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    server.set_nonblocking(true).unwrap();
    client.set_nonblocking(true).unwrap();
    (client, mio::net::TcpStream::from_std(server))
}

fn ctx(now: Instant) -> Ctx {
    Ctx {
        now,
        date: HttpDate::at(0),
        config: Config { interval: Duration::from_millis(10), ..Config::default() },
        www: Www::new(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/www"))),
        metrics: Metrics::default(),
        open_connections: 1,
        next_stream: 1,
        rng: 1,
        read_buf: Vec::new(),
        scratch: Vec::new(),
    }
}

/// Reads what the server wrote so far.
fn drain(client: &mut TcpStream, into: &mut Vec<u8>) {
    let mut buf = [0u8; 65536];
    loop {
        match client.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => into.extend_from_slice(&buf[..n]),
            Err(_) => return,
        }
    }
}

const STARTS: &[&[u8]] = &[
    b"",
    b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /events?interval=1 HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\n",
    b"OPTIONS * HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
];

/// Feeds `input` in the pieces `cuts` makes; returns the verdict that
/// closed the connection, if one did, and what the client received.
fn run(input: &[u8], cuts: &[usize]) -> Result<Vec<u8>, TestCaseError> {
    let t0 = Instant::now();
    let mut cx = ctx(t0);
    let (mut client, socket) = pair();
    let mut conn = Conn::new(socket, 1, false, t0);
    let mut received = Vec::new();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.push(input.len());
    points.sort_unstable();
    let mut at = 0;
    let mut closed = false;
    for &p in &points {
        if closed {
            break;
        }
        let mut piece = &input[at..p];
        at = p;
        let mut stalls = 0;
        while !piece.is_empty() && !closed {
            match client.write(piece) {
                Ok(n) => piece = &piece[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    stalls += 1;
                    // The server stopped reading (back-pressure) and the
                    // client drains: neither side can move any more.
                    if stalls > 1000 {
                        break;
                    }
                }
                // The server shut its side down: the feed ends.
                Err(_) => break,
            }
            let mut v = conn.on_readable(&mut cx, false);
            let mut rounds = 0;
            loop {
                let (i, o) = conn.buffered();
                prop_assert!(i <= MAX_HEAD + READ_CHUNK, "input buffer {i}");
                prop_assert!(o <= 2 * MAX_PENDING_OUTPUT + 70_000, "output buffer {o}");
                drain(&mut client, &mut received);
                match v {
                    Verdict::Close(_) => {
                        closed = true;
                        break;
                    }
                    Verdict::Again => v = conn.on_readable(&mut cx, false),
                    Verdict::Continue if conn.wants_write() && rounds < 100 => v = conn.on_writable(&mut cx),
                    Verdict::Continue => break,
                }
                rounds += 1;
                prop_assert!(rounds < 10_000, "no progress");
            }
        }
    }
    if !closed {
        // Time passes: a partial request must now be answered (408) or the
        // connection must be streaming or waiting idle.
        cx.now = t0 + HEAD_TIMEOUT + Duration::from_millis(1);
        let v = conn.on_timer(&mut cx);
        drain(&mut client, &mut received);
        let waiting = conn.buffered().0 == 0;
        let answered = received.starts_with(b"HTTP/1.1 ");
        let ok = matches!(v, Verdict::Close(_)) || conn.stream().is_some() || answered || waiting;
        prop_assert!(ok, "stuck: {:?} got {:?}", v, String::from_utf8_lossy(&received));
        if conn.stream().is_none() && !matches!(v, Verdict::Close(_)) {
            // And nothing waits forever: idle connections time out too.
            cx.now = t0 + IDLE_TIMEOUT + HEAD_TIMEOUT + Duration::from_secs(5);
            let mut v = conn.on_timer(&mut cx);
            for _ in 0..3 {
                if matches!(v, Verdict::Close(_)) {
                    break;
                }
                cx.now += IDLE_TIMEOUT;
                v = conn.on_timer(&mut cx);
            }
            prop_assert!(matches!(v, Verdict::Close(_)), "never closed: {:?}", v);
        }
    }
    if !received.is_empty() && conn.stream().is_none() {
        prop_assert!(received.starts_with(b"HTTP/1.1 "), "{:?}", String::from_utf8_lossy(&received));
    }
    Ok(received)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_split_anywhere(
        start in 0..STARTS.len(),
        tail in prop::collection::vec(any::<u8>(), 0..2048),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut input = STARTS[start].to_vec();
        input.extend_from_slice(&tail);
        run(&input, &cuts)?;
    }

    #[test]
    fn request_shaped_bytes(
        lines in prop::collection::vec(
            prop_oneof![
                Just(b"GET / HTTP/1.1\r\n".to_vec()),
                Just(b"Host: h\r\n".to_vec()),
                Just(b"Content-Length: 3\r\n".to_vec()),
                Just(b"Transfer-Encoding: chunked\r\n".to_vec()),
                Just(b"\r\n".to_vec()),
                Just(b"3\r\nabc\r\n0\r\n\r\n".to_vec()),
                Just(b"POST /events HTTP/1.1\r\n".to_vec()),
                Just(b"GET /events?count=2&interval=1 HTTP/1.0\r\n".to_vec()),
                prop::collection::vec(any::<u8>(), 0..40),
            ],
            0..24,
        ),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        run(&lines.concat(), &cuts)?;
    }
}

#[test]
fn a_flood_of_pipelined_requests_stays_bounded() {
    let request = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    let received = run(&request.repeat(5_000), &[]).unwrap();
    // Every request was answered, in order, while the buffers stayed
    // within their bounds (checked after every step inside `run`).
    let answers = received.windows(17).filter(|w| w == b"HTTP/1.1 200 OK\r\n").count();
    assert_eq!(answers, 5_000);
}

#[test]
fn a_slow_download_on_a_keep_alive_connection_is_not_idle() {
    let t0 = Instant::now();
    let dir = std::env::temp_dir().join(format!("sse-server-sm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("big.bin"), vec![7u8; 32 << 20]).unwrap();
    let mut cx = ctx(t0);
    cx.www = Www::new(&dir);
    let (mut client, socket) = pair();
    let mut conn = Conn::new(socket, 1, false, t0);
    client.write_all(b"GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    assert_eq!(conn.on_readable(&mut cx, false), Verdict::Continue);
    assert!(conn.wants_write(), "32 MiB cannot all fit in socket buffers");
    // 50 s later the client takes some of it: progress.
    cx.now = t0 + Duration::from_secs(50);
    let mut sink = Vec::new();
    drain(&mut client, &mut sink);
    assert!(!sink.is_empty());
    assert_eq!(conn.on_writable(&mut cx), Verdict::Continue);
    // 100 s after the request, but 50 s after the last progress: not idle.
    cx.now = t0 + Duration::from_secs(100);
    assert_eq!(conn.on_timer(&mut cx), Verdict::Continue);
    // 60 s with no progress at all: now it is.
    cx.now = t0 + Duration::from_secs(111);
    assert!(matches!(conn.on_timer(&mut cx), Verdict::Close(_)));
    let _ = std::fs::remove_dir_all(&dir);
}
