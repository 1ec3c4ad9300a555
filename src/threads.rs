//! The worker pool of a run (`--threads`), shared by every engine.

use crate::error::{Error, Result};

/// Most worker threads a run accepts (`--threads`). Work is split per core; far more threads than
/// cores only cost start-up time and memory (thousands take many seconds just to start).
pub const MAX_THREADS: usize = 256;

/// Checks a worker thread count (`--threads`; 0 = one per core) against [`MAX_THREADS`].
pub fn validate(threads: usize) -> Result<()> {
    if threads > MAX_THREADS {
        return Err(Error::Config(format!(
            "--threads {threads} is above the limit of {MAX_THREADS} (0 = one per core)"
        )));
    }
    Ok(())
}

/// The worker pool of a run: `threads` threads, or one per core for 0.
pub fn pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::Config(format!("cannot start {threads} threads: {e}")))
}
