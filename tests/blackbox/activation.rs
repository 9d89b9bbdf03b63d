//! Socket activation (README "Running it as a service"): started with a
//! listening socket (systemd's `LISTEN_FDS`), the server uses it; while the
//! service restarts, the socket stays with the service manager, so no
//! client sees a refused connection, and streams resume through
//! `Last-Event-ID`.

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::harness::{ACTIVATED, Client, Launch, event, get_events};

/// A free port on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn systemd_socket_activate_starts_it_on_its_socket() {
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    // systemd-socket-activate listens, and execs the server on the first
    // connection with the socket as descriptor 3. The harness reads the
    // `listening on` line only once the server runs: connect first.
    let waiter = std::thread::spawn(move || {
        let addr = listen.clone();
        loop {
            if let Ok(s) = TcpStream::connect(&addr) {
                return s;
            }
            // The activator is still starting: nothing to await but it.
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    });
    let mut s = Launch::new(&[]).under(&["systemd-socket-activate", "-l", &format!("127.0.0.1:{port}")]).start();
    drop(waiter.join().unwrap());
    s.wait_log(&format!("listening on the socket passed by the service manager (127.0.0.1:{port})"));
    let mut c = s.stream("/events?count=1&interval=1", "");
    assert_eq!(String::from_utf8(c.read_to_eof()).unwrap(), event(1, 1));
}

#[test]
fn a_restart_refuses_no_connection_and_streams_resume() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let start = || Launch::new(&["--drain", "300"]).under(ACTIVATED).listen_fd(&listener).start();
    let mut a = start();
    a.wait_log("listening on the socket passed by the service manager");
    // Ten streams, each having seen two events.
    let mut streams: Vec<Client> = (0..10)
        .map(|_| {
            let mut c = Client::connect(addr);
            c.send(&get_events("/events?interval=50", ""));
            c.read_until(b"\r\n\r\n");
            c
        })
        .collect();
    let mut seen = Vec::new();
    for c in &mut streams {
        let first = String::from_utf8(c.read_until(b"\n\n")).unwrap();
        let id = first.lines().find_map(|l| l.strip_prefix("id: ")).unwrap().to_string();
        let (conn, _) = id.split_once('-').unwrap();
        let conn: u64 = conn.parse().unwrap();
        assert_eq!(String::from_utf8(c.read_until(b"\n\n")).unwrap(), event(conn, 2));
        seen.push(conn);
    }
    // Clients keep connecting all through the restart: none is refused.
    let stop = Arc::new(AtomicBool::new(false));
    let (refused, made) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let prober = {
        let (stop, refused, made) = (stop.clone(), refused.clone(), made.clone());
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match TcpStream::connect(addr) {
                    Ok(s) => held.push(s),
                    Err(_) => {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
                made.fetch_add(1, Ordering::Relaxed);
                // Paces the probe; each connect is what is checked.
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            held
        })
    };
    a.signal(libc::SIGTERM);
    assert_eq!(a.wait_exit(), Some(0));
    let b = start();
    // Each stream resumes on the new process, from the event after the
    // last it saw: no gap, no repeat.
    for (c, &conn) in streams.iter_mut().zip(&seen) {
        let rest = String::from_utf8(c.read_to_eof()).unwrap();
        let last = rest.matches("id: ").count() as u64 + 2;
        let mut r = Client::connect(addr);
        r.send(&get_events("/events?interval=50", &format!("Last-Event-ID: {conn}-{last}\r\n")));
        r.read_until(b"\r\n\r\n");
        assert_eq!(String::from_utf8(r.read_until(b"\n\n")).unwrap(), event(conn, last + 1));
    }
    stop.store(true, Ordering::Relaxed);
    let held = prober.join().unwrap();
    assert_eq!(refused.load(Ordering::Relaxed), 0, "refused during the restart");
    assert!(made.load(Ordering::Relaxed) > 10 && !held.is_empty());
    drop(b);
}

/// The unit and the socket file shipped in contrib/systemd are valid
/// (`systemd-analyze verify`, no running systemd needed), with the real
/// binary in ExecStart.
#[test]
fn the_shipped_units_verify() {
    let www = crate::harness::TempWww::new("units");
    let dir = www.root();
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/systemd/sse-server.service"))
        .unwrap()
        .replace("/usr/local/bin/sse-server", crate::harness::BIN);
    std::fs::write(dir.join("sse-server.service"), unit).unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/systemd/sse-server.socket"),
        dir.join("sse-server.socket"),
    )
    .unwrap();
    let ran = crate::harness::run(
        std::process::Command::new("systemd-analyze").current_dir(dir).args([
            "verify",
            "./sse-server.socket",
            "./sse-server.service",
        ]),
        crate::harness::WAIT,
    );
    assert!(ran.status.success(), "systemd-analyze verify: {}{}", ran.stdout, ran.stderr);
}
