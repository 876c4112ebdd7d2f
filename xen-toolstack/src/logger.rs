//! A xentoollog logger that keeps messages in memory instead of printing them.
//!
//! The libraries log to stderr when given no logger; a tool or test that probes
//! for a hypervisor wants a clean terminal and the messages in its error instead.

use std::ffi::{c_char, c_int, c_ulong, CStr};
use std::sync::Mutex;

use xen_sys::{vsnprintf, xentoollog_level, xentoollog_logger};

/// The `va_list` argument as the platform passes it to a callback.
#[cfg(target_arch = "x86_64")]
type VaListArg = *mut xen_sys::__va_list_tag;
#[cfg(not(target_arch = "x86_64"))]
type VaListArg = xen_sys::va_list;

/// At most this many messages are kept; older ones are dropped first.
const MAX_MESSAGES: usize = 64;

/// One message a library logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogMessage {
    pub level: xentoollog_level,
    /// The errno the library attached, if any.
    pub errno: Option<i32>,
    /// Usually the library's short name, e.g. "xc" or "gnttab".
    pub context: Option<String>,
    pub text: String,
}

#[repr(C)]
struct Inner {
    // First field: the libraries see a pointer to this and we cast it back.
    vtable: xentoollog_logger,
    messages: Mutex<Vec<LogMessage>>,
}

/// A logger to pass to `xc_interface_open`, `xengnttab_open`, `libxl_ctx_alloc`, ...
/// It must outlive every handle it was given to.
pub struct QuietLogger {
    inner: Box<Inner>,
}

impl QuietLogger {
    pub fn new() -> QuietLogger {
        QuietLogger {
            inner: Box::new(Inner {
                vtable: xentoollog_logger {
                    vmessage: Some(vmessage),
                    progress: Some(progress),
                    destroy: Some(destroy),
                },
                messages: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The pointer the C libraries take.
    pub fn as_ptr(&self) -> *mut xentoollog_logger {
        &self.inner.vtable as *const xentoollog_logger as *mut xentoollog_logger
    }

    /// A copy of the messages logged so far, oldest first.
    pub fn messages(&self) -> Vec<LogMessage> {
        match self.inner.messages.lock() {
            Ok(m) => m.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl Default for QuietLogger {
    fn default() -> Self {
        QuietLogger::new()
    }
}

unsafe extern "C" fn vmessage(
    logger: *mut xentoollog_logger,
    level: xentoollog_level,
    errnoval: c_int,
    context: *const c_char,
    format: *const c_char,
    al: VaListArg,
) {
    if logger.is_null() || format.is_null() {
        return;
    }
    let mut buf = [0 as c_char; 1024];
    // SAFETY: buf is writable for its length; format and al come from the library.
    let n = unsafe { vsnprintf(buf.as_mut_ptr(), buf.len() as c_ulong, format, al) };
    let text = if n < 0 {
        String::new()
    } else {
        // SAFETY: vsnprintf NUL-terminates within the buffer.
        unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    let context = (!context.is_null()).then(|| {
        unsafe { CStr::from_ptr(context) }
            .to_string_lossy()
            .into_owned()
    });
    let message = LogMessage {
        level,
        errno: (errnoval >= 0).then_some(errnoval),
        context,
        text,
    };
    // SAFETY: the only loggers with this callback are `Inner`s, whose first field is the vtable.
    let inner = unsafe { &*(logger as *const Inner) };
    let mut messages = match inner.messages.lock() {
        Ok(m) => m,
        Err(poisoned) => poisoned.into_inner(),
    };
    if messages.len() == MAX_MESSAGES {
        messages.remove(0);
    }
    messages.push(message);
}

unsafe extern "C" fn progress(
    _logger: *mut xentoollog_logger,
    _context: *const c_char,
    _doing_what: *const c_char,
    _percent: c_int,
    _done: c_ulong,
    _total: c_ulong,
) {
}

unsafe extern "C" fn destroy(_logger: *mut xentoollog_logger) {
    // Owned by QuietLogger, freed by Rust.
}
