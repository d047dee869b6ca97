//! glibc's allocator tuned for libtorch on the CPU. Every tensor operation allocates its output, and glibc serves
//! large blocks with `mmap` and gives them back on free (or trims the heap once 128 KiB-32 MiB lies free at its
//! top), so the next operation touches fresh pages: on `embed` with int8 or bf16 weights, more time went to page
//! faults than to some of the matrix products (docs/benchmarks.md, allocator). Here large blocks come from the heap
//! and up to 256 MiB of freed memory is kept for reuse; peak memory is unchanged (measured). Numbers are unchanged:
//! only where the memory comes from changes. `MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_` in the
//! environment (glibc's own knobs) take precedence.

/// Sets glibc's mmap and trim thresholds, unless the user set either. No effect on other C libraries.
pub(crate) fn reuse_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some() || std::env::var_os("MALLOC_TRIM_THRESHOLD_").is_some()
        {
            return;
        }
        // SAFETY: mallopt only changes allocator parameters; it is called before any thread is started.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
        }
    }
}
