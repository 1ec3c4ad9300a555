//! Parsers reused from file to file: one per thread that is busy at once, shared by the plan step
//! (undated files read for their times) and the build.

use std::sync::Mutex;

use crate::input::parse::FileParser;

/// Reusable parsers, one per thread that is busy at once.
#[derive(Default)]
pub(super) struct ParserPool(Mutex<Vec<FileParser>>);

impl ParserPool {
    /// Runs `work` with a parser of the pool (a new one when all are busy), then returns it.
    pub fn with<T>(&self, work: impl FnOnce(&mut FileParser) -> T) -> T {
        let mut parser = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default();
        let out = work(&mut parser);
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(parser);
        out
    }
}
