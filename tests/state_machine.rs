//! One connection's state machine (`conn::Conn`) on its own: no socket, a
//! fake clock, and a fake client that reads what the machine writes.
//!
//! The property tests feed arbitrary bytes, split at arbitrary points:
//! whatever comes in, nothing panics, the buffers stay within their named
//! bounds (`MAX_HEAD` + `READ_CHUNK` in, `OUTPUT_LIMIT` out) after every
//! step, and every input ends in a response, a stream, or a wait that a
//! timeout ends. The table tests drive every timeout rule of the contract
//! with the clock (the head timer, the content timer, idleness, a stalled
//! or a slow download, lingering), so none of them waits in real time.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use sse_server::channel::{Channels, Limits};
use sse_server::config::{HEAD_TIMEOUT, IDLE_TIMEOUT, LINGER_TIMEOUT, MAX_HEAD, OUTPUT_LIMIT, READ_CHUNK};
use sse_server::conn::{Conn, Env, Peer, Timeouts, Verdict};
use sse_server::date::HttpDate;
use sse_server::metrics::Metrics;
use sse_server::output::Refill;
use sse_server::route::Site;
use sse_server::streams::Streams;
use sse_server::www::Www;

const CHANNELS: Limits = Limits { max_channels: 4, history: 10, history_bytes: 1 << 20 };
const TIMEOUTS: Timeouts = Timeouts { idle: IDLE_TIMEOUT, heartbeat: Some(Duration::from_secs(15)) };

/// A connection and everything a handler lends it; `received` is what the
/// client has read.
struct Bench {
    conn: Conn,
    now: Instant,
    turn: u64,
    date: HttpDate,
    site: Site,
    metrics: Metrics,
    streams: Streams,
    received: Vec<u8>,
    /// Who the client is (a loopback address unless a test says not).
    peer: Peer,
    /// The write side was shut down.
    shut: bool,
    closed: Option<Verdict>,
    /// The turn's writes (the loop's, all connections together).
    writes_left: usize,
}

impl Bench {
    fn new(www: &std::path::Path) -> Bench {
        let now = Instant::now();
        Bench {
            conn: Conn::new(now),
            now,
            turn: 1,
            date: HttpDate::at(0),
            site: Site::new(Www::new(www), Duration::from_millis(10), 1000, Channels::new(CHANNELS), 1),
            metrics: Metrics::default(),
            streams: Streams::default(),
            received: Vec::new(),
            peer: Peer { token: mio::Token(1), full: false, loopback: true, addr: ([127, 0, 0, 1], 9).into() },
            shut: false,
            closed: None,
            writes_left: sse_server::config::TURN_WRITES,
        }
    }

    fn project() -> Bench {
        Bench::new(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/www")))
    }

    fn env(&mut self) -> (Env<'_>, &mut Conn) {
        let env = Env {
            now: self.now,
            turn: self.turn,
            date: &self.date,
            timeouts: TIMEOUTS,
            peer: self.peer,
            site: &mut self.site,
            metrics: &mut self.metrics,
            streams: &mut self.streams,
            writes_left: &mut self.writes_left,
        };
        (env, &mut self.conn)
    }

    fn check_bounds(&self) -> Result<(), TestCaseError> {
        let (i, o) = self.conn.buffered();
        prop_assert!(i <= MAX_HEAD + READ_CHUNK, "input buffer {i}");
        prop_assert!(o <= OUTPUT_LIMIT, "output buffer {o}");
        Ok(())
    }

    fn verdict(&mut self, v: Verdict) {
        if let Verdict::Close(_) = v {
            self.closed = Some(v);
        }
    }

    /// What `io` does after a handler: the client takes up to `take` bytes
    /// of output, the slow-consumer rule, and the shutdown of a closing
    /// connection.
    fn settle(&mut self, mut take: usize) {
        while self.closed.is_none() && take > 0 {
            match self.conn.output().refill() {
                Refill::FileFailed => self.closed = Some(Verdict::Close(None)),
                Refill::Ok | Refill::FileDone | Refill::DocumentDone(_) => {}
            }
            let pending = self.conn.output().pending(self.now);
            if pending.is_empty() {
                break;
            }
            let n = pending.len().min(take);
            self.received.extend_from_slice(&pending[..n]);
            take -= n;
            self.conn.sent(n, self.now);
        }
        if self.closed.is_some() {
            return;
        }
        let v = self.conn.after_write();
        self.verdict(v);
        if self.closed.is_none() && self.conn.wants_shutdown() {
            self.shut = true;
            let v = self.conn.on_shutdown(true, self.now);
            self.verdict(v);
        }
    }

    /// Sends `input` in the pieces `cuts` makes, as `io` would read it; the
    /// client reads everything the server writes. Bounds are checked after
    /// every step.
    fn feed(&mut self, input: &[u8], cuts: &[usize]) -> Result<(), TestCaseError> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        points.push(input.len());
        points.sort_unstable();
        let mut at = 0;
        for &p in &points {
            let mut piece = &input[at..p];
            at = p;
            let mut rounds = 0;
            while self.closed.is_none() {
                rounds += 1;
                prop_assert!(rounds < 100_000, "no progress");
                let (mut env, conn) = self.env();
                let v = if conn.can_resume(env.turn) {
                    conn.on_input(&[], &mut env)
                } else if piece.is_empty() {
                    break;
                } else if !conn.wants_read(env.turn) {
                    if conn.budget_spent(env.turn) {
                        self.turn += 1;
                        continue;
                    }
                    // Back-pressure with a client that reads: settle below.
                    Verdict::Continue
                } else {
                    let n = piece.len().min(READ_CHUNK);
                    let v = conn.on_input(&piece[..n], &mut env);
                    piece = &piece[n..];
                    v
                };
                if v == Verdict::Again {
                    self.turn += 1;
                }
                self.verdict(v);
                self.check_bounds()?;
                self.settle(usize::MAX);
                self.check_bounds()?;
            }
        }
        Ok(())
    }

    /// The clock moves to `at`; the timer fires if it is due. `queued` is
    /// what the kernel's send queue holds then; the client then reads all
    /// the output there is.
    fn tick(&mut self, at: Instant, queued: usize) -> Verdict {
        self.tick_reading(at, queued, usize::MAX)
    }

    /// `tick`, with a client that then reads at most `take` bytes.
    fn tick_reading(&mut self, at: Instant, queued: usize, take: usize) -> Verdict {
        self.now = at;
        self.turn += 1;
        let (mut env, conn) = self.env();
        let v = conn.on_timer(&mut env, || queued);
        self.verdict(v);
        self.settle(take);
        v
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.received).into_owned()
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

/// Feeds `input`, then lets time pass: a partial request must be answered
/// (408), a stream must go on, and nothing waits forever.
fn run(input: &[u8], cuts: &[usize]) -> Result<Bench, TestCaseError> {
    let mut b = Bench::project();
    let t0 = b.now;
    b.feed(input, cuts)?;
    if b.closed.is_none() {
        b.tick(t0 + HEAD_TIMEOUT + Duration::from_millis(1), 0);
        b.check_bounds()?;
        let waiting = b.conn.buffered().0 == 0;
        let answered = b.received.starts_with(b"HTTP/1.1 ");
        let ok = b.closed.is_some() || b.conn.stream().is_some() || answered || waiting;
        prop_assert!(ok, "stuck: got {:?}", b.text());
        if b.conn.stream().is_none() {
            // Idle connections time out too (the kernel queue is empty).
            for k in 1..=4u32 {
                if b.closed.is_some() {
                    break;
                }
                b.tick(t0 + HEAD_TIMEOUT + (IDLE_TIMEOUT + LINGER_TIMEOUT) * k, 0);
            }
            prop_assert!(b.closed.is_some(), "never closed");
        }
    }
    if !b.received.is_empty() && b.conn.stream().is_none() {
        prop_assert!(b.received.starts_with(b"HTTP/1.1 "), "{:?}", b.text());
    }
    Ok(b)
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
                Just(b"GET /metrics HTTP/1.1\r\n".to_vec()),
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
    let b = run(&request.repeat(5_000), &[]).unwrap();
    // Every request was answered, in order, while the buffers stayed
    // within their bounds (checked after every step inside `feed`).
    let answers = b.received.windows(17).filter(|w| w == b"HTTP/1.1 200 OK\r\n").count();
    assert_eq!(answers, 5_000);
}

#[test]
fn one_turn_answers_a_bounded_number_of_requests() {
    use sse_server::config::MAX_REQUESTS_PER_TURN;
    let mut b = Bench::project();
    let burst = b"GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n".repeat(100);
    let (mut env, conn) = b.env();
    // All of it arrives in one read: only a turn's worth is answered.
    assert_eq!(conn.on_input(&burst, &mut env), Verdict::Again);
    assert!(conn.budget_spent(env.turn) && !conn.wants_read(env.turn) && !conn.can_resume(env.turn));
    b.settle(usize::MAX);
    let answered = |b: &Bench| b.received.windows(17).filter(|w| w == b"HTTP/1.1 200 OK\r\n").count();
    assert_eq!(answered(&b), MAX_REQUESTS_PER_TURN);
    // The next turn, the next share.
    b.turn += 1;
    let (mut env, conn) = b.env();
    assert!(conn.can_resume(env.turn));
    assert_eq!(conn.on_input(&[], &mut env), Verdict::Again);
    b.settle(usize::MAX);
    assert_eq!(answered(&b), 2 * MAX_REQUESTS_PER_TURN);
}

#[test]
fn the_head_timer_of_a_later_request_counts_from_its_first_byte() {
    let mut b = Bench::project();
    let t0 = b.now;
    b.feed(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", &[]).unwrap();
    assert!(b.text().starts_with("HTTP/1.1 200 OK\r\n"));
    b.received.clear();
    // Idle between requests: no head timer runs.
    assert_eq!(b.conn.deadline(TIMEOUTS), Some(t0 + IDLE_TIMEOUT));
    assert_eq!(b.tick(t0 + HEAD_TIMEOUT * 2, 0), Verdict::Continue);
    assert!(b.received.is_empty());
    // The first byte of the next request, 30 s later, starts it.
    b.now = t0 + Duration::from_secs(30);
    b.feed(b"G", &[]).unwrap();
    let first_byte = b.now;
    assert_eq!(b.conn.deadline(TIMEOUTS), Some(first_byte + HEAD_TIMEOUT));
    assert_eq!(b.tick(first_byte + HEAD_TIMEOUT - Duration::from_millis(1), 0), Verdict::Continue);
    assert!(b.received.is_empty());
    b.tick(first_byte + HEAD_TIMEOUT, 0);
    assert!(b.text().starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{}", b.text());
    assert!(b.text().contains("\r\nConnection: close\r\n"));
    // Then a lingering close: 2 s of reading and dropping, then the end.
    assert!(b.shut && b.closed.is_none());
    assert_eq!(b.tick(first_byte + HEAD_TIMEOUT + LINGER_TIMEOUT, 0), Verdict::Close(None));
}

#[test]
fn the_head_timer_of_a_new_connection_counts_from_its_opening() {
    let mut b = Bench::project();
    let t0 = b.now;
    b.now = t0 + Duration::from_secs(9);
    b.feed(b"GET /events HTTP/1.1\r\n", &[]).unwrap();
    assert_eq!(b.conn.deadline(TIMEOUTS), Some(t0 + HEAD_TIMEOUT));
    b.tick(t0 + HEAD_TIMEOUT, 0);
    assert!(b.text().starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{}", b.text());
}

#[test]
fn content_that_stops_coming_gets_408_ten_seconds_after_its_head() {
    let mut b = Bench::project();
    let t0 = b.now;
    b.now = t0 + Duration::from_secs(3);
    b.feed(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhe", &[]).unwrap();
    assert!(b.received.is_empty(), "the answer waits for the content");
    assert_eq!(b.tick(t0 + Duration::from_secs(12), 0), Verdict::Continue);
    b.tick(t0 + Duration::from_secs(13), 0);
    assert!(b.text().starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{}", b.text());
    // One request, one response: the 405 it would have had is not sent.
    assert_eq!(b.text().matches("HTTP/1.1 ").count(), 1);
}

#[test]
fn an_idle_connection_is_closed_quietly() {
    let mut b = Bench::project();
    let t0 = b.now;
    b.feed(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", &[]).unwrap();
    assert_eq!(b.tick(t0 + IDLE_TIMEOUT - Duration::from_millis(1), 0), Verdict::Continue);
    assert_eq!(b.tick(t0 + IDLE_TIMEOUT, 0), Verdict::Close(None));
}

/// A www directory holding one large file; removed when dropped.
struct BigFile(std::path::PathBuf);

impl BigFile {
    fn new(tag: &str) -> BigFile {
        let dir = std::env::temp_dir().join(format!("sse-server-sm-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("big.bin"), vec![7u8; 4 << 20]).unwrap();
        BigFile(dir)
    }
}

impl Drop for BigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_download_the_client_takes_slowly_is_not_idle() {
    let dir = BigFile::new("slow");
    let mut b = Bench::new(&dir.0);
    let t0 = b.now;
    let (mut env, conn) = b.env();
    conn.on_input(b"GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n", &mut env);
    assert_eq!(b.metrics.downloads, 1);
    // The client takes a little; the socket is then full.
    b.settle(100_000);
    b.conn.blocked(2_000_000);
    // 60 s with no writable event, but the kernel's queue shrank: the
    // client is taking bytes, so the connection is not idle.
    assert_eq!(b.tick_reading(t0 + IDLE_TIMEOUT, 1_500_000, 0), Verdict::Continue);
    assert_eq!(b.conn.deadline(TIMEOUTS), Some(t0 + IDLE_TIMEOUT * 2));
    assert_eq!(b.tick_reading(t0 + IDLE_TIMEOUT * 2, 900_000, 0), Verdict::Continue);
    // Progress through our own writes counts the same: the socket took
    // 10 kB more and is full again.
    let wrote = t0 + IDLE_TIMEOUT * 2 + Duration::from_secs(50);
    b.now = wrote;
    b.settle(10_000);
    b.conn.blocked(900_000);
    assert_eq!(b.conn.deadline(TIMEOUTS), Some(wrote + IDLE_TIMEOUT));
    assert_eq!(b.tick_reading(t0 + IDLE_TIMEOUT * 3, 900_000, 0), Verdict::Continue);
    // Then the client stalls: the same queue one period after the last
    // progress ends it.
    assert_eq!(b.tick_reading(wrote + IDLE_TIMEOUT, 900_000, 0), Verdict::Close(None));
    drop(b);
}

#[test]
fn a_stalled_download_is_closed_after_one_idle_period() {
    let dir = BigFile::new("stalled");
    let mut b = Bench::new(&dir.0);
    let t0 = b.now;
    let (mut env, conn) = b.env();
    conn.on_input(b"GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n", &mut env);
    b.settle(3_000_000);
    b.conn.blocked(2_500_000);
    assert_eq!(b.tick_reading(t0 + IDLE_TIMEOUT, 2_500_000, 0), Verdict::Close(None));
    // The file's descriptor is given back when the connection goes.
    let Bench { conn, mut metrics, mut streams, mut site, .. } = b;
    assert_eq!(metrics.downloads, 1);
    conn.finish(None, ([127, 0, 0, 1], 9).into(), &mut metrics, &mut streams, &mut site.channels);
    assert_eq!(metrics.downloads, 0);
}

#[test]
fn a_stream_ticks_on_its_schedule_and_ends_at_its_count() {
    let mut b = Bench::project();
    let t0 = b.now;
    let (mut env, conn) = b.env();
    assert_eq!(
        conn.on_input(b"GET /events?interval=100&count=2 HTTP/1.1\r\nHost: h\r\n\r\n", &mut env),
        Verdict::Started
    );
    b.settle(usize::MAX);
    let id = b.conn.stream().map(|s| s.id);
    assert_eq!(id, Some(1));
    assert_eq!(b.conn.deadline(TIMEOUTS), Some(t0 + Duration::from_millis(100)));
    b.tick(t0 + Duration::from_millis(100), 0);
    b.tick(t0 + Duration::from_millis(200), 0);
    assert!(b.text().ends_with("id: 1-2\ndata: Server says hi! (event #2 of connection #1)\n\n"), "{}", b.text());
    // The last event is out: the write side is shut and the stream ends.
    assert_eq!(b.closed, Some(Verdict::Close(Some(sse_server::metrics::StreamEnd::Count))));
    assert_eq!(b.metrics.events, 2);
}

#[test]
fn only_loopback_clients_publish_without_a_token() {
    let publish = b"POST /channels/x HTTP/1.1\r\nHost: localhost:8888\r\nContent-Length: 2\r\n\r\nhi";
    // From another address: 403, and nothing is published.
    let mut b = Bench::project();
    b.peer.loopback = false;
    b.feed(publish, &[]).unwrap();
    assert!(b.text().starts_with("HTTP/1.1 403 Forbidden\r\n"), "{}", b.text());
    assert_eq!(b.site.channels.published, 0);
    // From loopback: published.
    let mut b = Bench::project();
    b.feed(publish, &[]).unwrap();
    assert!(b.text().starts_with("HTTP/1.1 200 OK\r\n"), "{}", b.text());
    assert_eq!(b.site.channels.published, 1);
    // With a token, from any address, but only with it.
    let mut b = Bench::project();
    b.peer.loopback = false;
    b.site.publish_token = Some("t0ken".into());
    let with = b"POST /channels/x HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer t0ken\r\nContent-Length: 2\r\n\r\nhi";
    b.feed(with, &[]).unwrap();
    assert!(b.text().starts_with("HTTP/1.1 200 OK\r\n"), "{}", b.text());
}

/// Thousands of empty lines before a request, a byte at a time, cost no
/// parse each (they are dropped as they come), and the request after them
/// is answered.
#[test]
fn empty_lines_before_a_request_are_dropped_as_they_come() {
    let mut b = Bench::project();
    let mut input = b"\r\n".repeat(3000);
    input.extend_from_slice(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    let cuts: Vec<usize> = (1..6000).collect();
    b.feed(&input, &cuts).unwrap();
    assert!(b.text().starts_with("HTTP/1.1 200 OK\r\n"), "{:?}", b.text());
    assert_eq!(b.conn.buffered().0, 0);
}

/// Refusals that need no line feed come as soon as the byte that decides
/// them, even when the head comes a byte at a time.
#[test]
fn early_refusals_do_not_wait_for_a_line_feed_when_bytes_trickle_in() {
    // (input, where it is decided: the bytes up to it, the status)
    let table: [(&[u8], usize, &str); 5] = [
        (b"UPDATEREDIRECTREFX / HTTP/1.1", 18, "HTTP/1.1 501 "),
        // Empty lines before a request are dropped as they come.
        (b"\r\n\r\n\n\r\n\x16\x03", 8, "HTTP/1.1 400 "),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 1, "HTTP/1.1 400 "),
        (b"GET /\x01 HTTP/1.1", 6, "HTTP/1.1 400 "),
        // Past the first bytes, a bare CR is seen when it is followed.
        (b"GET /a-target-longer-than-the-early-bytes HTTP/1.1\rX", 52, "HTTP/1.1 400 "),
    ];
    for (input, decided, status) in table {
        let mut b = Bench::project();
        let cuts: Vec<usize> = (1..input.len()).collect();
        b.feed(&input[..decided - 1], &cuts).unwrap();
        assert!(b.received.is_empty(), "answered early: {:?}", b.text());
        b.feed(&input[decided - 1..decided], &[]).unwrap();
        assert!(b.text().starts_with(status), "{:?}: got {:?}", String::from_utf8_lossy(input), b.text());
    }
}
