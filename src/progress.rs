//! indicatif progress on stderr for the library's `Progress` events (binary only).
//!
//! Shows compressed bytes read, files, rows and an ETA; draws nothing when stderr is not a terminal
//! (cron, CI, pipes) or with `--quiet`. Also carries the stop request of the SIGINT/SIGTERM handler
//! to the library.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use flowlake::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar, or nothing.
pub struct Bar {
    bar: ProgressBar,
    files: AtomicU64,
    total_files: AtomicU64,
    rows: AtomicU64,
    stop: Arc<AtomicBool>,
}

impl Bar {
    /// A bar, and the handler of SIGINT and SIGTERM: they ask the run to stop at the next file or
    /// partition boundary (nothing half-done is published).
    pub fn new(quiet: bool) -> Result<Bar, ctrlc::Error> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))?;
        let target = if quiet || !std::io::stderr().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}) {msg} ETA {eta}",
        ) {
            bar.set_style(style);
        }
        Ok(Bar {
            bar,
            files: AtomicU64::new(0),
            total_files: AtomicU64::new(0),
            rows: AtomicU64::new(0),
            stop,
        })
    }
}

impl Progress for Bar {
    fn start(&self, files: u64, bytes: u64) {
        self.total_files.store(files, Ordering::Relaxed);
        self.bar.set_length(bytes);
    }

    fn file_done(&self, bytes: u64, rows: u64) {
        let files = self.files.fetch_add(1, Ordering::Relaxed) + 1;
        let rows = self.rows.fetch_add(rows, Ordering::Relaxed) + rows;
        let total = self.total_files.load(Ordering::Relaxed);
        self.bar
            .set_message(format!("{files}/{total} files, {rows} rows"));
        self.bar.inc(bytes);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }

    fn should_stop(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}
