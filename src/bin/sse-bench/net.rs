//! The things std and mio cannot do for the bench: raise the open-file
//! limit, bind an outgoing socket to a chosen source address before a
//! non-blocking connect, and read with the kernel's receive time
//! (`SO_TIMESTAMPNS`), from which the bench's own delay is measured.
//!
//! Why bind: the kernel gives each source address its own ~28,000 ephemeral
//! ports (net.ipv4.ip_local_port_range), so one address cannot open more
//! streams to one server port than that. Binding to 127.0.0.1, 127.0.0.2, ...
//! (all of 127.0.0.0/8 is loopback on Linux) multiplies that.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{FromRawFd, OwnedFd};

use mio::net::TcpStream;

/// Raises the soft limit on open files to the hard limit; returns the soft
/// limit now in force.
pub fn raise_nofile_limit() -> io::Result<u64> {
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            let wanted = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
                limit = wanted;
            }
        }
        Ok(limit.rlim_cur as u64)
    }
}

/// Starts a non-blocking connect to `dest`, from `source` when given. The
/// connection is usually still in progress on return: its outcome is known
/// when the socket turns writable.
pub fn connect(dest: SocketAddr, source: Option<Ipv4Addr>) -> io::Result<TcpStream> {
    let domain = match dest {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    let flags = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: socket() takes no pointers; a valid descriptor is owned by
    // `fd` at once, so every early return below closes it.
    let fd = unsafe {
        let raw = libc::socket(domain, flags, 0);
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        OwnedFd::from_raw_fd(raw)
    };
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    // The kernel's receive time with each read (`recv_stamped`). Best
    // effort: without it, the bench has no loop delay to report.
    let one: libc::c_int = 1;
    // SAFETY: the option value is a live c_int of the length given.
    unsafe {
        libc::setsockopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&one as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    if let Some(source) = source {
        // Let connect() choose the port, not bind(): the port then only has
        // to be unique per (source, destination), not per source. Best
        // effort: without it bind() picks one, which still works.
        let one: libc::c_int = 1;
        // SAFETY: the option value is a live c_int of the length given.
        unsafe {
            libc::setsockopt(
                raw,
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&one as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        let (addr, len) = sockaddr(SocketAddr::new(source.into(), 0));
        // SAFETY: `addr` is a sockaddr_storage holding a sockaddr of `len`.
        if unsafe { libc::bind(raw, (&addr as *const libc::sockaddr_storage).cast(), len) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let (addr, len) = sockaddr(dest);
    // SAFETY: as for bind.
    if unsafe { libc::connect(raw, (&addr as *const libc::sockaddr_storage).cast(), len) } != 0 {
        let err = io::Error::last_os_error();
        // EINTR on a non-blocking connect: it goes on in the background,
        // like EINPROGRESS.
        if !matches!(err.raw_os_error(), Some(libc::EINPROGRESS | libc::EINTR)) {
            return Err(err);
        }
    }
    Ok(TcpStream::from_std(std::net::TcpStream::from(fd)))
}

/// Reads into `buf` from `socket`, as `read` does; with the number of bytes
/// read comes the time the kernel received the last of them (wall clock,
/// nanoseconds since the Unix epoch), when `SO_TIMESTAMPNS` is on.
pub fn recv_stamped(socket: &TcpStream, buf: &mut [u8]) -> io::Result<(usize, Option<u128>)> {
    // Room for one control message holding a timespec (CMSG_SPACE of 16
    // bytes is 32 on 64-bit Linux), aligned as cmsghdr wants.
    #[repr(C, align(8))]
    struct Control([u8; 64]);
    let mut control = Control([0; 64]);
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: msghdr is plain data for which all zeroes is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = control.0.len();
    let fd = std::os::fd::AsRawFd::as_raw_fd(socket);
    // SAFETY: `msg` points at `iov` (which covers `buf`) and `control`, all
    // live and as long as said for the whole call.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut stamp = None;
    // SAFETY: the CMSG_* walk stays within `msg_controllen` bytes of
    // `control`, as the kernel filled them; a timespec is read (unaligned)
    // only from a message of the type that carries one, of a length that
    // holds one.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let c = &*cmsg;
            if c.cmsg_level == libc::SOL_SOCKET
                && c.cmsg_type == libc::SCM_TIMESTAMPNS
                && c.cmsg_len as usize >= libc::CMSG_LEN(size_of::<libc::timespec>() as u32) as usize
            {
                let ts = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::timespec>());
                if ts.tv_sec > 0 {
                    stamp = Some(ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128);
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok((n as usize, stamp))
}

/// `addr` as the C socket address the kernel wants, and its length.
fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data for which all zeroes is valid,
    // and it is large and aligned enough for sockaddr_in and sockaddr_in6.
    unsafe {
        let mut storage: libc::sockaddr_storage = std::mem::zeroed();
        let len = match addr {
            SocketAddr::V4(v4) => {
                let sin = &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>();
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = v4.port().to_be();
                sin.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
                size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(v6) => {
                let sin6 = &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>();
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = v6.port().to_be();
                sin6.sin6_flowinfo = v6.flowinfo();
                sin6.sin6_addr.s6_addr = v6.ip().octets();
                sin6.sin6_scope_id = v6.scope_id();
                size_of::<libc::sockaddr_in6>()
            }
        };
        (storage, len as libc::socklen_t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    /// Connects from `source` to a listener on 127.0.0.1 and checks that the
    /// server sees that address, polling since the socket is non-blocking.
    fn connect_from(source: Option<Ipv4Addr>) -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut stream = connect(listener.local_addr().unwrap(), source).unwrap();
        let (mut accepted, peer) = listener.accept().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match stream.write(b"x") {
                Ok(1) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                other => panic!("write: {other:?}"),
            }
        }
        let mut byte = [0];
        accepted.read_exact(&mut byte).unwrap();
        peer
    }

    #[test]
    fn connects_with_and_without_source() {
        assert_eq!(connect_from(None).ip().to_string(), "127.0.0.1");
        let source = Ipv4Addr::new(127, 0, 0, 2);
        assert_eq!(connect_from(Some(source)).ip(), source);
    }

    #[test]
    fn nofile_limit_is_positive() {
        assert!(raise_nofile_limit().unwrap() > 0);
    }
}
