//! The www directory: maps a request path to a regular file under it, or to
//! the page built into the binary when the directory does not exist.
//!
//! What always holds: no byte of a file outside the directory is served.
//! Paths are percent-decoded once and `..` segments are refused; a file is
//! opened with `openat2(RESOLVE_BENEATH)` relative to the directory, which
//! the kernel refuses for any path (symbolic links included) that would
//! leave it. Where `openat2` is missing (Linux before 5.6), the path is
//! resolved with every link followed and must lie under the directory.
//!
//! Small files are kept in a bounded cache, checked on every request with
//! one `fstatat` of the requested path: the cached bytes are used only
//! while the path still names the same inode with the same size, mtime
//! and ctime, so what is served is the file as it is on disk, with three
//! system calls per request (read, fstatat, write) instead of a dozen.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::config::{MAX_CACHED_FILE, MAX_CACHED_FILES};

/// `www/index.html` as it was when sse-server was built: served at `/` when
/// the www directory does not exist, so the binary alone is the demo.
pub const BUILTIN_INDEX: &[u8] = include_bytes!("../www/index.html");
/// `www/channel.html`, the channel page, built in the same way (at
/// `/channel.html`), so a small host with the binary alone has it too.
pub const BUILTIN_CHANNEL: &[u8] = include_bytes!("../www/channel.html");

pub const HTML: &str = "text/html; charset=utf-8";

#[derive(Debug)]
pub enum Found {
    /// A small file, in the cache at this index (see `Www::cached`).
    Cached {
        index: usize,
        content_type: &'static str,
    },
    /// A small file read while it changed: served once, not cached.
    Bytes {
        bytes: Vec<u8>,
        content_type: &'static str,
    },
    /// A file larger than the cache takes, to be read as it is sent.
    File {
        file: File,
        len: u64,
        content_type: &'static str,
    },
    /// A built-in page (no www directory).
    Builtin(&'static [u8]),
    NotFound,
    /// The file exists but cannot be opened or read now (out of
    /// descriptors or memory): worth asking again, never a `404`.
    Unavailable,
}

pub struct Www {
    root: Option<Root>,
    cache: Vec<Entry>,
    /// Counts lookups, to find the least recently used entry.
    clock: u64,
    openat2: bool,
}

struct Root {
    path: PathBuf,
    dir: File,
}

/// What identifies a file's content without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    size: i64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

struct Entry {
    rel: Vec<u8>,
    id: Identity,
    bytes: Vec<u8>,
    content_type: &'static str,
    used: u64,
}

impl Www {
    pub fn new(dir: &Path) -> Www {
        let root = std::fs::canonicalize(dir).ok().and_then(|path| {
            File::open(&path).ok().filter(|f| f.metadata().is_ok_and(|m| m.is_dir())).map(|dir| Root { path, dir })
        });
        match &root {
            Some(r) => log::info!("serving files from {}", r.path.display()),
            None if dir.exists() => {
                log::warn!("www directory {} is not a directory: serving the built-in page", dir.display())
            }
            None => log::info!("www directory {} not found: serving the built-in page", dir.display()),
        }
        Www { root, cache: Vec::new(), clock: 0, openat2: true }
    }

    /// The bytes of a cache entry that `lookup` returned.
    pub fn cached(&self, index: usize) -> &[u8] {
        self.cache.get(index).map(|e| e.bytes.as_slice()).unwrap_or_default()
    }

    /// The file for a request path (percent-decoded, query removed).
    pub fn lookup(&mut self, path: &[u8]) -> Found {
        let Some(root) = &self.root else {
            return match path {
                b"/" | b"/index.html" => Found::Builtin(BUILTIN_INDEX),
                b"/channel.html" => Found::Builtin(BUILTIN_CHANNEL),
                _ => Found::NotFound,
            };
        };
        let Some(rel) = relative_path(path) else { return Found::NotFound };
        let Ok(c_rel) = CString::new(rel.as_os_str().as_bytes()) else { return Found::NotFound };
        let Some(id) = stat_at(&root.dir, &c_rel) else { return Found::NotFound };
        self.clock += 1;
        let rel_bytes = rel.as_os_str().as_bytes();
        if let Some(i) = self.cache.iter().position(|e| e.rel == rel_bytes) {
            if self.cache[i].id == id {
                self.cache[i].used = self.clock;
                return Found::Cached { index: i, content_type: self.cache[i].content_type };
            }
            self.cache.swap_remove(i);
        }
        let file = match self.open_beneath(&c_rel, &rel) {
            Ok(f) => f,
            Err(e) if is_resource_error(&e) => return Found::Unavailable,
            Err(_) => return Found::NotFound,
        };
        let Ok(meta) = file.metadata() else { return Found::Unavailable };
        if !meta.is_file() {
            return Found::NotFound;
        }
        let content_type = content_type(&rel);
        let id = Identity::of(&meta);
        if meta.len() > MAX_CACHED_FILE as u64 {
            return Found::File { file, len: meta.len(), content_type };
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        if (&file).read_to_end(&mut bytes).is_err() {
            return Found::Unavailable;
        }
        let unchanged = file.metadata().is_ok_and(|m| Identity::of(&m) == id);
        if !unchanged || bytes.len() as u64 != meta.len() {
            // Written to while it was read: serve what was read, cache nothing.
            return Found::Bytes { bytes, content_type };
        }
        let lru = self.cache.iter().enumerate().min_by_key(|(_, e)| e.used).map(|(i, _)| i);
        if let (true, Some(lru)) = (self.cache.len() >= MAX_CACHED_FILES, lru) {
            self.cache.swap_remove(lru);
        }
        self.cache.push(Entry { rel: rel_bytes.to_vec(), id, bytes, content_type, used: self.clock });
        Found::Cached { index: self.cache.len() - 1, content_type }
    }

    /// Opens `rel` under the root, refusing any way out of it.
    fn open_beneath(&mut self, c_rel: &CString, rel: &Path) -> io::Result<File> {
        let Some(root) = self.root.as_ref() else { return Err(io::ErrorKind::NotFound.into()) };
        if self.openat2 {
            // SAFETY: open_how is plain data; all zero is "no flags".
            let mut how: libc::open_how = unsafe { std::mem::zeroed() };
            how.flags = (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK) as u64;
            how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
            // SAFETY: openat2 with a valid dirfd, a NUL-terminated path and
            // an open_how of the size given; the result is checked.
            let fd = unsafe {
                libc::syscall(
                    libc::SYS_openat2,
                    root.dir.as_raw_fd(),
                    c_rel.as_ptr(),
                    &how as *const libc::open_how,
                    size_of::<libc::open_how>(),
                )
            };
            if fd >= 0 {
                // SAFETY: a descriptor we just opened and now own.
                return Ok(unsafe { File::from_raw_fd(fd as i32) });
            }
            // ENOSYS: before Linux 5.6; EPERM: a seccomp filter that does
            // not know openat2 (older container runtimes). Anything else is
            // the answer for this path.
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::ENOSYS | libc::EPERM) => {
                    log::info!("openat2 is not available: resolving www paths with realpath");
                    self.openat2 = false;
                }
                _ => return Err(e),
            }
        }
        let real = std::fs::canonicalize(root.path.join(rel))?;
        if !real.starts_with(&root.path) {
            return Err(io::ErrorKind::NotFound.into());
        }
        // Non-blocking, as with openat2: a FIFO put there must not stall
        // the loop.
        std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(real)
    }
}

/// The identity of the regular file `rel` names under `dir`, following
/// links (where they lead is checked when the file is opened).
fn stat_at(dir: &File, rel: &CString) -> Option<Identity> {
    // SAFETY: a zeroed stat is a valid buffer for fstatat to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid dirfd, NUL-terminated path, and a stat buffer.
    let rc = unsafe { libc::fstatat(dir.as_raw_fd(), rel.as_ptr(), &mut st, 0) };
    (rc == 0 && st.st_mode & libc::S_IFMT == libc::S_IFREG).then(|| identity(&st))
}

impl Identity {
    /// The identity in the metadata of an open file (one fstat, done by
    /// `File::metadata`, which also says whether it is a regular file).
    fn of(m: &std::fs::Metadata) -> Identity {
        use std::os::unix::fs::MetadataExt;
        Identity {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size() as i64,
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

fn identity(st: &libc::stat) -> Identity {
    Identity {
        dev: st.st_dev,
        ino: st.st_ino,
        size: st.st_size,
        mtime: (st.st_mtime, st.st_mtime_nsec),
        ctime: (st.st_ctime, st.st_ctime_nsec),
    }
}

/// Running out of descriptors or memory: the file is there, the server
/// cannot open it now.
fn is_resource_error(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM))
}

/// The path under the www directory that a decoded request path names, or
/// `None` when it would leave the directory (`..` segments, which arrive
/// here decoded) or cannot name a file (a NUL byte).
fn relative_path(decoded: &[u8]) -> Option<PathBuf> {
    if decoded.contains(&0) {
        return None;
    }
    let mut rel = PathBuf::new();
    for segment in decoded.split(|&b| b == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => return None,
            s => rel.push(OsStr::from_bytes(s)),
        }
    }
    if rel.as_os_str().is_empty() || decoded.ends_with(b"/") {
        if decoded == b"/" {
            rel.push("index.html");
        } else {
            return None;
        }
    }
    Some(rel)
}

fn content_type(path: &Path) -> &'static str {
    let ext = path.extension().and_then(OsStr::to_str).unwrap_or("");
    match ext.to_ascii_lowercase().as_str() {
        "html" | "htm" => HTML,
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "wasm" => "application/wasm",
        "xml" => "application/xml",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_are_refused() {
        // Paths as they arrive here: percent-decoded once by the route.
        for bad in [&b"/.."[..], b"/../etc/passwd", b"/a/../../x", b"/../x", b"/a\0", b"/a\0b/c", b"/dir/"] {
            assert_eq!(relative_path(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(relative_path(b"/"), Some(PathBuf::from("index.html")));
        assert_eq!(relative_path(b"/a/./b.txt"), Some(PathBuf::from("a/b.txt")));
        assert_eq!(relative_path(b"/a b.js"), Some(PathBuf::from("a b.js")));
        // Decoded once only: a `%2e%2e` that arrives here is a name.
        assert_eq!(relative_path(b"/%2e%2e"), Some(PathBuf::from("%2e%2e")));
        assert_eq!(relative_path(b"//x"), Some(PathBuf::from("x")));
    }

    #[test]
    fn content_types_by_extension() {
        for (name, want) in [
            ("a.html", HTML),
            ("a.JS", "text/javascript; charset=utf-8"),
            ("a.css", "text/css; charset=utf-8"),
            ("a.json", "application/json"),
            ("a.svg", "image/svg+xml"),
            ("a.png", "image/png"),
            ("a.ico", "image/x-icon"),
            ("a.txt", "text/plain; charset=utf-8"),
            ("a", "application/octet-stream"),
        ] {
            assert_eq!(content_type(Path::new(name)), want, "{name}");
        }
    }
}
