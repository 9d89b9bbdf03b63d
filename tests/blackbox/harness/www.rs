//! A temporary www directory for one test: `ROOT/www` with an empty
//! `sub/`, inside a root of its own (for files that must lie outside www,
//! and for starting a server there). Removed when dropped.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Tells apart the directories of tests that run at once in this process.
static NEXT: AtomicU32 = AtomicU32::new(0);

pub struct TempWww {
    root: PathBuf,
}

impl TempWww {
    pub fn new(tag: &str) -> TempWww {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!("sse-server-test-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("www/sub")).expect("temp www");
        TempWww { root }
    }

    /// The directory that holds `www`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn www(&self) -> PathBuf {
        self.root.join("www")
    }

    /// The `--www` argument for this directory.
    pub fn www_arg(&self) -> String {
        self.www().to_str().expect("a UTF-8 temp path").to_string()
    }

    /// Writes `bytes` to `rel` under www.
    pub fn write(&self, rel: &str, bytes: &[u8]) {
        fs::write(self.www().join(rel), bytes).unwrap_or_else(|e| panic!("write {rel}: {e}"));
    }
}

impl Drop for TempWww {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}
