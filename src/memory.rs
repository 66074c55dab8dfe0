//! The process's memory allocator, and giving freed memory back to the
//! system between large pieces of work.
//!
//! With the default `jemalloc` feature (on every target but MSVC), jemalloc is
//! the global allocator. A review makes some two million small allocations
//! from two threads, and glibc's malloc spent a quarter of the review's
//! instructions on them; jemalloc's thread caches cut a large review's wall
//! time by about a fifth (see `cargo bench --bench review`). Building it needs
//! a C compiler and `make`; `--no-default-features` builds with the system
//! allocator instead.

#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Gives the memory freed since the last large piece of work back to the
/// system before the next one. Allocators keep freed pages for reuse, per
/// thread or arena, and which thread frees what differs from one review to
/// the next: without this, a process reviewing large files one after another
/// (the MCP server, the benchmark) holds more after each of them (measured
/// with glibc: 38 MB after the first review of the 2 MB benchmark file, 48 MB
/// after the fifth; with jemalloc: 41 MB and up to 52 MB).
pub fn release_freed() {
    #[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
    {
        // MALLCTL_ARENAS_ALL: every arena's unused dirty pages.
        const PURGE_ALL: &std::ffi::CStr = c"arena.4096.purge";
        // SAFETY: a NUL-terminated control name that takes no old or new value.
        unsafe {
            tikv_jemalloc_sys::mallctl(
                PURGE_ALL.as_ptr(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0,
            );
        }
    }
    #[cfg(all(
        not(all(feature = "jemalloc", not(target_env = "msvc"))),
        target_os = "linux",
        target_env = "gnu"
    ))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: malloc_trim takes no pointer and only returns free pages.
        unsafe {
            malloc_trim(0);
        }
    }
}

#[cfg(test)]
mod tests {
    /// The purge is a real control of the allocator in use: jemalloc answers
    /// `arena.4096.purge` with success, and a wrong name with an error (so a
    /// misspelt control would not pass silently).
    #[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
    #[test]
    fn purge_is_a_control_jemalloc_knows() {
        let call = |name: &std::ffi::CStr| unsafe {
            tikv_jemalloc_sys::mallctl(
                name.as_ptr(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0,
            )
        };
        assert_eq!(call(c"arena.4096.purge"), 0);
        assert_ne!(call(c"arena.4096.no_such_control"), 0);
    }
}
