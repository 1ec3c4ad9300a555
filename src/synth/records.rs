//! The records of one generated file held in memory, for the deliveries that regroup them by network
//! interface (one CloudWatch Logs log stream per interface): Firehose envelopes and exports.

use std::collections::HashMap;
use std::io;
use std::ops::Range;

use super::render::push_id;

/// The CloudWatch Logs log stream of interface `eni`: `eni-<17 hex digits>-all`.
pub(super) fn log_stream(eni: u64) -> String {
    let mut stream = Vec::with_capacity(32);
    push_id(&mut stream, b"eni-", eni);
    stream.extend_from_slice(b"-all");
    String::from_utf8_lossy(&stream).into_owned()
}

/// One record.
struct Entry {
    /// The record's interface (its log stream).
    eni: u64,
    /// The record's `start` (Unix seconds).
    start: i64,
    /// Its line in [`Records::text`], without newline.
    line: Range<usize>,
}

/// The records of one file as lines, in the order the traffic drew them.
#[derive(Default)]
pub(super) struct Records {
    text: Vec<u8>,
    entries: Vec<Entry>,
}

impl Records {
    /// Room for `records` records (up to 65 536; more grow as they come).
    pub(super) fn with_capacity(records: usize) -> Self {
        let records = records.min(1 << 16);
        Records {
            text: Vec::with_capacity(records * 160),
            entries: Vec::with_capacity(records),
        }
    }

    /// Appends one record of interface `eni` starting at `start`: `write` appends its line (a final
    /// newline is dropped).
    pub(super) fn push(&mut self, eni: u64, start: i64, write: impl FnOnce(&mut Vec<u8>)) {
        let from = self.text.len();
        write(&mut self.text);
        if self.text.last() == Some(&b'\n') {
            self.text.pop();
        }
        self.entries.push(Entry {
            eni,
            start,
            line: from..self.text.len(),
        });
    }

    /// Number of records.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The lines' text (index it with [`Records::line`]).
    pub(super) fn text(&self) -> io::Result<&str> {
        std::str::from_utf8(&self.text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Where record `i`'s line is in [`Records::text`].
    pub(super) fn line(&self, i: usize) -> Range<usize> {
        self.entries[i].line.clone()
    }

    /// Record `i`'s interface id.
    pub(super) fn eni(&self, i: usize) -> u64 {
        self.entries[i].eni
    }

    /// Record `i`'s `start` (Unix seconds).
    pub(super) fn start(&self, i: usize) -> i64 {
        self.entries[i].start
    }

    /// Record indices by interface, in the order each interface first appears, each interface's
    /// records in their own order.
    pub(super) fn by_interface(&self) -> Vec<Vec<usize>> {
        let mut group_of: HashMap<u64, usize> = HashMap::new();
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            let g = *group_of.entry(e.eni).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[g].push(i);
        }
        groups
    }
}

#[cfg(test)]
impl Records {
    /// One record per entry of `enis`, of that interface: record `i` is `line {i} of {eni}`, starting
    /// at 1 700 000 000 + i.
    pub(super) fn of_interfaces(enis: &[u64]) -> Records {
        let mut r = Records::default();
        for (i, &eni) in enis.iter().enumerate() {
            r.push(eni, 1_700_000_000 + i as i64, |buf| {
                buf.extend_from_slice(format!("line {i} of {eni}\n").as_bytes())
            });
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_group_by_interface_in_first_appearance_order() {
        let r = Records::of_interfaces(&[7, 3, 7, 9, 3, 7]);
        assert_eq!(r.by_interface(), vec![vec![0, 2, 5], vec![1, 4], vec![3]]);
        assert_eq!(r.len(), 6);
        assert_eq!(&r.text().unwrap()[r.line(1)], "line 1 of 3");
        assert_eq!((r.eni(3), r.start(3)), (9, 1_700_000_003));
        let stream = log_stream(0x1234);
        assert!(
            stream.starts_with("eni-") && stream.ends_with("-all"),
            "{stream}"
        );
        assert_eq!(stream.len(), 4 + 17 + 4);
    }
}
