//! The www directory: maps a request path to a regular file under it, or to
//! the page built into the binary when the directory does not exist.
//!
//! What always holds: no byte of a file outside the directory is served.
//! Paths are percent-decoded once, `..` segments are refused, and the file
//! found is resolved with every symbolic link followed and must still lie
//! under the directory's own resolved path, and be a regular file.

use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// `www/index.html` as it was when sse-server was built: served at `/` when
/// the www directory does not exist, so the binary alone is the demo.
pub const BUILTIN_INDEX: &[u8] = include_bytes!("../www/index.html");

pub const HTML: &str = "text/html; charset=utf-8";

#[derive(Debug)]
pub enum Found {
    File { file: File, len: u64, content_type: &'static str },
    Builtin,
    NotFound,
}

#[derive(Debug)]
pub struct Www {
    /// The directory's resolved path; `None` when it did not exist at start.
    root: Option<PathBuf>,
}

impl Www {
    pub fn new(dir: &Path) -> Www {
        let root = std::fs::canonicalize(dir).ok().filter(|p| p.is_dir());
        match &root {
            Some(p) => log::info!("serving files from {}", p.display()),
            None => log::info!("www directory {} not found: serving the built-in page", dir.display()),
        }
        Www { root }
    }

    /// The file for a request path (percent-encoded, query removed).
    pub fn lookup(&self, path: &[u8]) -> Found {
        let index = path == b"/" || path == b"/index.html";
        let Some(root) = &self.root else {
            return if index { Found::Builtin } else { Found::NotFound };
        };
        let Some(rel) = relative_path(path) else { return Found::NotFound };
        let Ok(real) = std::fs::canonicalize(root.join(rel)) else { return Found::NotFound };
        if !real.starts_with(root) {
            return Found::NotFound;
        }
        let Ok(file) = File::open(&real) else { return Found::NotFound };
        match file.metadata() {
            Ok(m) if m.is_file() => Found::File { file, len: m.len(), content_type: content_type(&real) },
            _ => Found::NotFound,
        }
    }
}

/// The path under the www directory that a request path names, or `None`
/// when it would leave the directory (`..`, plain or percent-encoded) or
/// cannot name a file.
fn relative_path(path: &[u8]) -> Option<PathBuf> {
    let decoded = crate::uri::decode_path(path)?;
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
        for bad in [&b"/.."[..], b"/../etc/passwd", b"/a/../../x", b"/%2e%2e/x", b"/%2E%2E%2Fetc", b"/a%00", b"/dir/"] {
            assert_eq!(relative_path(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(relative_path(b"/"), Some(PathBuf::from("index.html")));
        assert_eq!(relative_path(b"/a/./b.txt"), Some(PathBuf::from("a/b.txt")));
        assert_eq!(relative_path(b"/a%20b.js"), Some(PathBuf::from("a b.js")));
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
