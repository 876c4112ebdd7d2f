//! What the no-hypervisor tests share.

use std::io::{Read, Seek};
use std::os::fd::AsRawFd;

/// Runs `f` with fds 1 and 2 pointed at a temp file; returns its result and what was written
/// (the C libraries print straight to the process's fds, past Rust's capture).
pub fn capture_terminal<T>(f: impl FnOnce() -> T) -> (T, String) {
    let mut sink = tempfile::tempfile().expect("temp file");
    // SAFETY: plain fd juggling; the saved fds are restored before returning.
    let saved = unsafe { [libc::dup(1), libc::dup(2)] };
    assert!(saved.iter().all(|&fd| fd >= 0), "dup failed");
    unsafe {
        libc::dup2(sink.as_raw_fd(), 1);
        libc::dup2(sink.as_raw_fd(), 2);
    }
    let result = f();
    unsafe {
        libc::fflush(std::ptr::null_mut());
        libc::dup2(saved[0], 1);
        libc::dup2(saved[1], 2);
        libc::close(saved[0]);
        libc::close(saved[1]);
    }
    let mut text = String::new();
    sink.rewind().expect("rewind");
    sink.read_to_string(&mut text).expect("read capture");
    (result, text)
}
