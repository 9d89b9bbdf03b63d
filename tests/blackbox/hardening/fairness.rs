//! PROTOCOL.md §4, the work one client can cause: a connection gets a
//! bounded share of each loop turn (bytes read, requests answered, bytes
//! written), and no answer costs more because many connections are open,
//! so no mix of requests from one client holds the others up.

use std::io::Read;
use std::time::{Duration, Instant};

use crate::harness::{Client, Server};

/// Raises this test process's soft open-file limit to its hard limit: the
/// test holds 5,000 connections of its own.
fn raise_nofile() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: valid rlimit buffers for getrlimit and setrlimit.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
}

/// One client's 64 KiB of pipelined `GET /metrics` (about 1,900
/// requests), read as fast as the server answers, with 5,000 idle
/// connections open: a stream at 20 ms keeps its schedule meanwhile.
/// (Before each connection's share of a turn was bounded, and before
/// `/metrics` stopped listing `/proc/self/fd`, the stream waited seconds.)
#[test]
fn one_client_pipelining_metrics_holds_no_one_up() {
    raise_nofile();
    let s = Server::start(&["--log-level", "warn"]);
    let idle: Vec<Client> = (0..5000).map(|_| s.connect()).collect();
    let mut stream = s.stream("/events?interval=20", "");
    stream.read_until(b"\n\n");
    let one = b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n";
    let flood = one.repeat(64 * 1024 / one.len());
    let mut flooder = s.connect();
    // The flooder reads every answer as fast as it comes.
    let reader = {
        let mut f = flooder.writer();
        std::thread::spawn(move || {
            let mut sink = [0u8; 65536];
            while let Ok(1..) = f.read(&mut sink) {}
        })
    };
    flooder.send(&flood);
    let mut worst = Duration::ZERO;
    let mut last = Instant::now();
    for _ in 0..100 {
        stream.read_until(b"\n\n");
        let now = Instant::now();
        worst = worst.max(now - last);
        last = now;
    }
    assert!(worst < Duration::from_millis(1000), "a stream at 20 ms waited {worst:?} for an event during the flood");
    let _ = flooder.writer().shutdown(std::net::Shutdown::Both);
    let _ = reader.join();
    drop(idle);
}
