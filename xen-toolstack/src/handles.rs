//! RAII handles for the libraries' `open`/`close` pairs, each with its own
//! [`QuietLogger`](crate::logger::QuietLogger) so nothing reaches the terminal and
//! a failure carries the errno and the messages the library logged.

use std::fmt;
use std::io;

#[cfg(feature = "xentoollog")]
use crate::logger::{LogMessage, QuietLogger};

/// A handle could not be opened (no hypervisor, no permission, no xenstored, ...).
#[derive(Debug)]
pub struct OpenError {
    /// The C call that failed, e.g. "xc_interface_open".
    pub call: &'static str,
    /// errno as the library left it.
    pub error: io::Error,
    /// What the library logged while failing.
    #[cfg(feature = "xentoollog")]
    pub log: Vec<LogMessage>,
}

impl OpenError {
    /// The raw errno value.
    pub fn errno(&self) -> Option<i32> {
        self.error.raw_os_error()
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.call, self.error)?;
        #[cfg(feature = "xentoollog")]
        if let Some(last) = self.log.last() {
            write!(f, " ({})", last.text)?;
        }
        Ok(())
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// errno right after a failed call, before anything else can change it.
fn last_errno() -> io::Error {
    io::Error::last_os_error()
}

#[cfg(feature = "xenctrl")]
pub use self::ctrl::{DomainInfo, Physinfo, XenCtrl};

#[cfg(feature = "xenctrl")]
mod ctrl {
    use super::*;
    use std::ptr::NonNull;
    use xen_sys::*;

    /// An open libxenctrl interface (`xc_interface_open` / `xc_interface_close`).
    pub struct XenCtrl {
        xch: NonNull<xc_interface>,
        // Dropped after the interface (fields drop in order, after Drop::drop).
        logger: QuietLogger,
    }

    /// What `xc_physinfo` says about the host.
    #[derive(Clone, Debug)]
    pub struct Physinfo {
        pub nr_cpus: u32,
        pub nr_nodes: u32,
        pub total_pages: u64,
        pub free_pages: u64,
        pub cpu_khz: u32,
    }

    /// One domain, from `xc_domain_getinfolist` (present in every Xen version).
    #[derive(Clone, Debug)]
    pub struct DomainInfo {
        pub domid: u32,
        pub tot_pages: u64,
        pub max_pages: u64,
        pub max_vcpu_id: u32,
        pub flags: u32,
    }

    impl XenCtrl {
        pub fn open() -> Result<XenCtrl, OpenError> {
            let logger = QuietLogger::new();
            // SAFETY: the logger outlives the interface (owned by the same struct).
            let xch = unsafe { xc_interface_open(logger.as_ptr(), logger.as_ptr(), 0) };
            match NonNull::new(xch) {
                Some(xch) => Ok(XenCtrl { xch, logger }),
                None => {
                    let error = last_errno();
                    Err(OpenError {
                        call: "xc_interface_open",
                        error,
                        log: logger.messages(),
                    })
                }
            }
        }

        pub fn as_ptr(&self) -> *mut xc_interface {
            self.xch.as_ptr()
        }

        /// What the library logged so far.
        pub fn log(&self) -> Vec<LogMessage> {
            self.logger.messages()
        }

        /// The hypervisor's version: (major, minor, extraversion such as ".5").
        pub fn version(&self) -> io::Result<(u32, u32, String)> {
            // SAFETY: XENVER_version takes no argument.
            let v =
                unsafe { xc_version(self.as_ptr(), XENVER_version as i32, std::ptr::null_mut()) };
            if v < 0 {
                return Err(last_errno());
            }
            let mut extra: xen_extraversion_t = Default::default();
            // SAFETY: XENVER_extraversion fills a xen_extraversion_t.
            let rc = unsafe {
                xc_version(
                    self.as_ptr(),
                    XENVER_extraversion as i32,
                    extra.as_mut_ptr().cast(),
                )
            };
            if rc < 0 {
                return Err(last_errno());
            }
            let bytes: Vec<u8> = extra
                .iter()
                .take_while(|&&c| c != 0)
                .map(|&c| c as u8)
                .collect();
            Ok((
                (v as u32) >> 16,
                (v as u32) & 0xffff,
                String::from_utf8_lossy(&bytes).into_owned(),
            ))
        }

        pub fn physinfo(&self) -> io::Result<Physinfo> {
            let mut info: xc_physinfo_t = Default::default();
            // SAFETY: info is a valid out-parameter.
            if unsafe { xc_physinfo(self.as_ptr(), &mut info) } != 0 {
                return Err(last_errno());
            }
            Ok(Physinfo {
                nr_cpus: info.nr_cpus,
                nr_nodes: info.nr_nodes,
                total_pages: info.total_pages,
                free_pages: info.free_pages,
                cpu_khz: info.cpu_khz,
            })
        }

        /// Every domain, in domid order.
        pub fn domains(&self) -> io::Result<Vec<DomainInfo>> {
            let mut out = Vec::new();
            let mut next = 0u32;
            let mut batch: Vec<xc_domaininfo_t> = vec![Default::default(); 64];
            loop {
                // SAFETY: batch has room for batch.len() entries.
                let n = unsafe {
                    xc_domain_getinfolist(
                        self.as_ptr(),
                        next,
                        batch.len() as u32,
                        batch.as_mut_ptr(),
                    )
                };
                if n < 0 {
                    return Err(last_errno());
                }
                let n = n as usize;
                for d in &batch[..n] {
                    out.push(DomainInfo {
                        domid: u32::from(d.domain),
                        tot_pages: d.tot_pages,
                        max_pages: d.max_pages,
                        max_vcpu_id: d.max_vcpu_id,
                        flags: d.flags,
                    });
                }
                match batch[..n].last() {
                    Some(last) if n == batch.len() => next = u32::from(last.domain) + 1,
                    _ => return Ok(out),
                }
            }
        }
    }

    impl Drop for XenCtrl {
        fn drop(&mut self) {
            // SAFETY: opened by xc_interface_open, closed once.
            unsafe { xc_interface_close(self.xch.as_ptr()) };
        }
    }
}

#[cfg(feature = "xenstore")]
pub use self::store::XenStore;

#[cfg(feature = "xenstore")]
mod store {
    use super::*;
    use std::ffi::{c_char, c_uint, c_void, CString};
    use std::ptr::NonNull;
    use xen_sys::*;

    /// A libxenstore connection (`xs_open` / `xs_close`). libxenstore has no logger
    /// hook; it does not print on failure.
    pub struct XenStore {
        h: NonNull<xs_handle>,
    }

    fn path(p: &str) -> io::Result<CString> {
        CString::new(p)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
    }

    impl XenStore {
        /// Opens the connection the library chooses: `XENSTORED_PATH`, the unix socket, or the xenbus device.
        pub fn open() -> Result<XenStore, OpenError> {
            // SAFETY: plain constructor.
            let h = unsafe { xs_open(0) };
            match NonNull::new(h) {
                Some(h) => Ok(XenStore { h }),
                None => Err(OpenError {
                    call: "xs_open",
                    error: last_errno(),
                    #[cfg(feature = "xentoollog")]
                    log: Vec::new(),
                }),
            }
        }

        pub fn as_ptr(&self) -> *mut xs_handle {
            self.h.as_ptr()
        }

        /// The value at `path`, or `None` if it does not exist.
        pub fn read(&self, p: &str) -> io::Result<Option<Vec<u8>>> {
            let p = path(p)?;
            let mut len: c_uint = 0;
            // SAFETY: valid handle and C string; the result is malloc'ed.
            let v = unsafe { xs_read(self.as_ptr(), 0, p.as_ptr(), &mut len) };
            if v.is_null() {
                let e = last_errno();
                return if e.raw_os_error() == Some(libc::ENOENT) {
                    Ok(None)
                } else {
                    Err(e)
                };
            }
            // SAFETY: the library returned len bytes at v.
            let bytes =
                unsafe { std::slice::from_raw_parts(v as *const u8, len as usize) }.to_vec();
            unsafe { libc::free(v) };
            Ok(Some(bytes))
        }

        pub fn write(&self, p: &str, value: &[u8]) -> io::Result<()> {
            let p = path(p)?;
            // SAFETY: valid handle, C string and byte buffer.
            let ok = unsafe {
                xs_write(
                    self.as_ptr(),
                    0,
                    p.as_ptr(),
                    value.as_ptr() as *const c_void,
                    value.len() as c_uint,
                )
            };
            if ok {
                Ok(())
            } else {
                Err(last_errno())
            }
        }

        /// The names of `path`'s children.
        pub fn directory(&self, p: &str) -> io::Result<Vec<String>> {
            let p = path(p)?;
            let mut num: c_uint = 0;
            // SAFETY: the result is one malloc'ed block of num pointers and their strings.
            let list = unsafe { xs_directory(self.as_ptr(), 0, p.as_ptr(), &mut num) };
            if list.is_null() {
                return Err(last_errno());
            }
            let names = (0..num as usize)
                .map(|i| unsafe {
                    std::ffi::CStr::from_ptr(*list.add(i) as *const c_char)
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            unsafe { libc::free(list as *mut c_void) };
            Ok(names)
        }
    }

    impl Drop for XenStore {
        fn drop(&mut self) {
            // SAFETY: opened by xs_open, closed once.
            unsafe { xs_close(self.h.as_ptr()) };
        }
    }
}

/// Generates a handle type for the libraries whose open takes (logger, flags) and whose close takes the handle.
macro_rules! logged_handle {
    ($feature:literal, $name:ident, $raw:ident, $open:ident, $close:ident, $doc:literal) => {
        #[cfg(feature = $feature)]
        #[doc = $doc]
        pub struct $name {
            h: std::ptr::NonNull<xen_sys::$raw>,
            logger: QuietLogger,
        }

        #[cfg(feature = $feature)]
        impl $name {
            pub fn open() -> Result<$name, OpenError> {
                let logger = QuietLogger::new();
                // SAFETY: the logger outlives the handle (owned by the same struct).
                let h = unsafe { xen_sys::$open(logger.as_ptr(), 0) };
                match std::ptr::NonNull::new(h) {
                    Some(h) => Ok($name { h, logger }),
                    None => {
                        let error = last_errno();
                        Err(OpenError {
                            call: stringify!($open),
                            error,
                            log: logger.messages(),
                        })
                    }
                }
            }

            pub fn as_ptr(&self) -> *mut xen_sys::$raw {
                self.h.as_ptr()
            }

            /// What the library logged so far.
            pub fn log(&self) -> Vec<LogMessage> {
                self.logger.messages()
            }
        }

        #[cfg(feature = $feature)]
        impl Drop for $name {
            fn drop(&mut self) {
                // SAFETY: opened by the matching open, closed once.
                unsafe { xen_sys::$close(self.h.as_ptr()) };
            }
        }
    };
}

logged_handle!(
    "xengnttab",
    XenGnttab,
    xengnttab_handle,
    xengnttab_open,
    xengnttab_close,
    "An open grant-table device (`xengnttab_open` / `xengnttab_close`)."
);
logged_handle!(
    "xenevtchn",
    XenEvtchn,
    xenevtchn_handle,
    xenevtchn_open,
    xenevtchn_close,
    "An open event-channel device (`xenevtchn_open` / `xenevtchn_close`)."
);

#[cfg(feature = "xenlight")]
pub use self::light::{Dominfo, XenLight};

#[cfg(feature = "xenlight")]
mod light {
    use super::*;
    use xen_sys::*;

    /// A libxl context (`libxl_ctx_alloc` / `libxl_ctx_free`).
    pub struct XenLight {
        ctx: *mut libxl_ctx,
        logger: QuietLogger,
    }

    /// One domain as libxl lists it.
    #[derive(Clone, Debug)]
    pub struct Dominfo {
        pub domid: u32,
        pub current_memkb: u64,
        pub vcpu_online: u32,
    }

    /// A libxl error code (`ERROR_*`, negative) with the errno left behind.
    #[derive(Debug)]
    pub struct LibxlError {
        pub code: i32,
        pub errno: io::Error,
    }

    impl fmt::Display for LibxlError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "libxl error {} (errno: {})", self.code, self.errno)
        }
    }

    impl std::error::Error for LibxlError {}

    impl XenLight {
        pub fn open() -> Result<XenLight, OpenError> {
            let logger = QuietLogger::new();
            let mut ctx: *mut libxl_ctx = std::ptr::null_mut();
            // SAFETY: ctx is an out-parameter; the logger outlives the context.
            let rc = unsafe { libxl_ctx_alloc(&mut ctx, LIBXL_VERSION as i32, 0, logger.as_ptr()) };
            if rc != 0 || ctx.is_null() {
                let error = last_errno();
                return Err(OpenError {
                    call: "libxl_ctx_alloc",
                    error,
                    log: logger.messages(),
                });
            }
            Ok(XenLight { ctx, logger })
        }

        pub fn as_ptr(&self) -> *mut libxl_ctx {
            self.ctx
        }

        /// What the library logged so far.
        pub fn log(&self) -> Vec<LogMessage> {
            self.logger.messages()
        }

        pub fn list_domains(&self) -> Result<Vec<Dominfo>, LibxlError> {
            let mut n: i32 = 0;
            // SAFETY: returns an array of n entries freed with libxl_dominfo_list_free.
            let list = unsafe { libxl_list_domain(self.ctx, &mut n) };
            if list.is_null() {
                return Err(LibxlError {
                    code: libxl_error_ERROR_FAIL,
                    errno: last_errno(),
                });
            }
            let out = (0..n as usize)
                .map(|i| {
                    let d = unsafe { &*list.add(i) };
                    Dominfo {
                        domid: d.domid,
                        current_memkb: d.current_memkb,
                        vcpu_online: d.vcpu_online,
                    }
                })
                .collect();
            unsafe { libxl_dominfo_list_free(list, n) };
            Ok(out)
        }
    }

    impl Drop for XenLight {
        fn drop(&mut self) {
            // SAFETY: allocated by libxl_ctx_alloc, freed once.
            unsafe { libxl_ctx_free(self.ctx) };
        }
    }
}
