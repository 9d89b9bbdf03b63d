//! The few system calls std and mio do not offer: the open-file limit, a
//! listening socket with `SO_REUSEPORT` and a backlog of our choosing, a
//! `timerfd`, and the length of a socket's send queue.

use std::io;
use std::net::SocketAddr;
use std::os::fd::FromRawFd;

/// Raises the soft open-file limit to the hard limit; returns the soft
/// limit in force afterwards.
pub fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid rlimit for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
        // SAFETY: `raised` is a valid rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        }
    }
    lim.rlim_cur
}

/// A non-blocking listening socket on `addr`, with `SO_REUSEADDR` (a
/// restarted server can bind at once, as the browser test restarts it on
/// the same port) and, if asked, `SO_REUSEPORT` (several processes share
/// the port and the kernel spreads connections over them).
pub fn listen(addr: SocketAddr, reuse_port: bool, backlog: i32) -> io::Result<mio::net::TcpListener> {
    let domain = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    // SAFETY: plain socket(2); the result is checked.
    let fd = unsafe { libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a socket we own; from here on it is closed on drop.
    let listener = unsafe { mio::net::TcpListener::from_raw_fd(fd) };
    set_flag(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR)?;
    if reuse_port {
        set_flag(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT)?;
    }
    let rc = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                sin_zero: [0; 8],
            };
            // SAFETY: `sin` is a valid sockaddr_in of the length given.
            unsafe { libc::bind(fd, (&sin as *const libc::sockaddr_in).cast(), size_of_val(&sin) as libc::socklen_t) }
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: `sin6` is a valid sockaddr_in6 of the length given.
            unsafe {
                libc::bind(fd, (&sin6 as *const libc::sockaddr_in6).cast(), size_of_val(&sin6) as libc::socklen_t)
            }
        }
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: listen(2) on our bound socket.
    if unsafe { libc::listen(fd, backlog) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(listener)
}

fn set_flag(fd: i32, level: i32, name: i32) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: `one` is a c_int option value of the length given.
    let rc = unsafe {
        libc::setsockopt(fd, level, name, (&one as *const libc::c_int).cast(), size_of_val(&one) as libc::socklen_t)
    };
    if rc != 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// A `timerfd` that wakes the poll at a deadline with nanosecond
/// precision: `epoll_wait` alone counts its timeout in whole milliseconds,
/// rounded up, which would make every event up to 1 ms late.
pub struct TimerFd {
    fd: std::os::fd::OwnedFd,
}

impl TimerFd {
    pub fn new() -> io::Result<TimerFd> {
        // SAFETY: plain timerfd_create; the result is checked.
        let fd = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a descriptor we just created and now own.
        Ok(TimerFd { fd: unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) } })
    }

    /// Fires once, `after` from now; `None` disarms. Re-arming also resets
    /// the expiry count, so the descriptor never needs to be read.
    pub fn set(&self, after: Option<std::time::Duration>) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let value = match after {
            // A zero it_value would disarm: 1 ns is "now".
            Some(d) => libc::timespec { tv_sec: d.as_secs() as libc::time_t, tv_nsec: d.subsec_nanos().max(1) as _ },
            None => libc::timespec { tv_sec: 0, tv_nsec: 0 },
        };
        let spec = libc::itimerspec { it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 }, it_value: value };
        // SAFETY: valid timerfd and itimerspec; the old value is not asked for.
        let rc = unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if rc != 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
    }
}

impl std::os::fd::AsRawFd for TimerFd {
    fn as_raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}

/// Bytes in a socket's send queue that the peer has not acknowledged yet
/// (`SIOCOUTQ`): when it shrinks, the client is taking output.
pub fn unsent(socket: &mio::net::TcpStream) -> Option<usize> {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (TIOCOUTQ) on a socket we own writes one c_int.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::TIOCOUTQ, &mut n) };
    if rc == 0 { usize::try_from(n).ok() } else { None }
}

/// `SO_LINGER` with a zero timeout: closing the socket then sends a reset
/// (RST) instead of a FIN. A failure only means a FIN goes instead.
pub fn linger_zero(socket: &mio::net::TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: a valid `linger` of the length given, on a socket we own.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            size_of_val(&linger) as libc::socklen_t,
        );
    }
}

/// SIGTERM and SIGINT, read from a descriptor the poll watches rather than
/// in a handler: both are blocked (so they wait for the descriptor) after
/// their disposition is reset to the default, since a shell that starts a
/// program in the background sets SIGINT to ignored, which would drop it.
pub struct Signals {
    fd: std::os::fd::OwnedFd,
}

impl Signals {
    pub fn new() -> io::Result<Signals> {
        // SAFETY: plain sigset manipulation on a local set; sigprocmask and
        // signal with valid arguments; signalfd's result is checked.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::signal(libc::SIGTERM, libc::SIG_DFL);
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
            let fd = libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(Signals { fd: std::os::fd::OwnedFd::from_raw_fd(fd) })
        }
    }

    /// The signals waiting: the name of the first, and how many there
    /// were (read until none is left, as the poll reports the descriptor
    /// once for all of them; SIGTERM and SIGINT are each pending at most
    /// once, so this reads at most two).
    pub fn take(&self) -> Option<(&'static str, usize)> {
        use std::os::fd::AsRawFd;
        let mut first = None;
        let mut count = 0;
        for _ in 0..8 {
            // SAFETY: a zeroed signalfd_siginfo is a valid buffer of its size.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            let size = size_of::<libc::signalfd_siginfo>();
            // SAFETY: read(2) into a buffer of `size` bytes we own.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), (&mut info as *mut libc::signalfd_siginfo).cast(), size) };
            if n != size as isize {
                break;
            }
            count += 1;
            first.get_or_insert(match info.ssi_signo as i32 {
                libc::SIGINT => "SIGINT",
                _ => "SIGTERM",
            });
        }
        first.map(|name| (name, count))
    }
}

impl std::os::fd::AsRawFd for Signals {
    fn as_raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}

/// The listening socket systemd (or `systemd-socket-activate`) passed, if
/// this process was started with one (`LISTEN_PID` is this process and
/// `LISTEN_FDS` is at least 1: the first is descriptor 3). The variables
/// are then removed, so a program this one starts does not take them as
/// its own. `Err` when a descriptor was passed but is not a listening TCP
/// socket.
pub fn inherited_listener() -> io::Result<Option<mio::net::TcpListener>> {
    let pid_matches = std::env::var("LISTEN_PID").ok().and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id());
    let fds = std::env::var("LISTEN_FDS").ok().and_then(|n| n.parse::<u32>().ok()).unwrap_or(0);
    if !pid_matches || fds == 0 {
        return Ok(None);
    }
    // SAFETY: removing variables before any thread is started (the logger
    // is not threaded, and nothing else runs yet).
    unsafe {
        std::env::remove_var("LISTEN_PID");
        std::env::remove_var("LISTEN_FDS");
        std::env::remove_var("LISTEN_FDNAMES");
    }
    if fds > 1 {
        // Serving one and leaving the others to fill their backlogs would
        // look like it works: refused instead.
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{fds} sockets passed, sse-server takes one (one ListenStream= in the socket unit)"),
        ));
    }
    const FD: i32 = 3;
    let option = |name| {
        let mut value: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt on descriptor 3 with a c_int buffer of `len` bytes.
        let rc =
            unsafe { libc::getsockopt(FD, libc::SOL_SOCKET, name, (&mut value as *mut libc::c_int).cast(), &mut len) };
        (rc == 0).then_some(value)
    };
    if option(libc::SO_ACCEPTCONN).is_none_or(|listening| listening == 0) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "descriptor 3 (LISTEN_FDS) is not a listening socket"));
    }
    // A Unix or datagram socket would fail later with a puzzling error.
    let tcp = matches!(option(libc::SO_DOMAIN), Some(libc::AF_INET | libc::AF_INET6))
        && option(libc::SO_TYPE) == Some(libc::SOCK_STREAM);
    if !tcp {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "descriptor 3 (LISTEN_FDS) is not a TCP socket (ListenStream= takes a port or an IP address and port)",
        ));
    }
    // SAFETY: fcntl on descriptor 3, which is ours from here on.
    unsafe {
        let flags = libc::fcntl(FD, libc::F_GETFL);
        libc::fcntl(FD, libc::F_SETFL, flags | libc::O_NONBLOCK);
        libc::fcntl(FD, libc::F_SETFD, libc::FD_CLOEXEC);
    }
    // SAFETY: a listening socket that was passed to this process to own.
    Ok(Some(unsafe { mio::net::TcpListener::from_raw_fd(FD) }))
}
