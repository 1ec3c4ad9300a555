//! Which partition a row belongs to: the delivery folder's (default) or its own `start` time.
//!
//! Partitions are [`TimeSlot`]s: days (or hours with `--hourly`) numbered from the Unix epoch, so
//! neighbours are `slot.prev()` and `slot.next()`. With `--partition-time start` a row goes to the slot of its `start`
//! when that is its file's delivery slot or the one before (AWS delivers a record after its interval, so
//! a file in `day=10` holds records that started late on day 9). A row whose `start` is NULL or further
//! away (a clock far off) stays in its delivery slot, so the rule is lossless and every output slot X
//! depends only on the files delivered in X and X + 1: that is what lets an incremental run rebuild
//! exactly the partitions a late file writes into.

use arrow::array::{Array, AsArray, BooleanArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::Int64Type;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::date;
use crate::date::Day;
use crate::lake::partition::{Grain, PartitionKey};
use crate::lake::schema;

/// A partition's time slot: a day or an hour (its [`Grain`]), numbered from the Unix epoch, so
/// neighbours are [`TimeSlot::prev`] and [`TimeSlot::next`]. Slots of one run share its grain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeSlot {
    grain: Grain,
    index: i64,
}

impl TimeSlot {
    /// Slot number `index` (days or hours since 1970-01-01) of `grain`.
    pub fn new(grain: Grain, index: i64) -> TimeSlot {
        TimeSlot { grain, index }
    }

    /// The slot of a partition key.
    pub fn of_key(key: &PartitionKey, grain: Grain) -> TimeSlot {
        let days = date::days_from_civil(
            key.day.year,
            u32::from(key.day.month),
            u32::from(key.day.day),
        );
        let index = match grain {
            Grain::Day => days,
            Grain::Hour => days * 24 + i64::from(key.hour.unwrap_or(0)),
        };
        TimeSlot { grain, index }
    }

    /// The slot holding `secs` (seconds since the epoch).
    pub fn at(secs: i64, grain: Grain) -> TimeSlot {
        TimeSlot {
            grain,
            index: secs.div_euclid(grain.seconds()),
        }
    }

    /// Its number: days or hours since 1970-01-01 (as the manifest records it).
    pub fn index(self) -> i64 {
        self.index
    }

    pub fn grain(self) -> Grain {
        self.grain
    }

    /// Seconds the slot spans.
    pub fn seconds(self) -> i64 {
        self.grain.seconds()
    }

    /// The slot before.
    pub fn prev(self) -> TimeSlot {
        TimeSlot {
            index: self.index - 1,
            ..self
        }
    }

    /// The slot after.
    pub fn next(self) -> TimeSlot {
        TimeSlot {
            index: self.index + 1,
            ..self
        }
    }

    /// True when `secs` (seconds since the epoch) falls in the slot.
    pub fn holds(self, secs: i64) -> bool {
        secs.div_euclid(self.seconds()) == self.index
    }

    /// The slot's partition key, with the account and region of `template`.
    pub fn key(self, template: &PartitionKey) -> PartitionKey {
        let (days, hour) = match self.grain {
            Grain::Day => (self.index, None),
            Grain::Hour => (
                self.index.div_euclid(24),
                Some(self.index.rem_euclid(24) as u8),
            ),
        };
        let (y, m, d) = date::civil_from_days(days);
        PartitionKey {
            account: template.account.clone(),
            region: template.region.clone(),
            day: Day::new(y, m, d).unwrap_or(template.day),
            hour,
        }
    }
}

/// Splits a batch of one file delivered in `delivery` into per-slot batches by each row's `start`.
/// Returns `(slot, rows)` pairs, slots ascending; at most two (the slot before `delivery`, and
/// `delivery`).
pub fn split_by_start(
    batch: &RecordBatch,
    delivery: TimeSlot,
) -> Result<Vec<(TimeSlot, RecordBatch)>, ArrowError> {
    let Some(start) = batch.column_by_name(schema::START.column) else {
        return Ok(vec![(delivery, batch.clone())]);
    };
    let start = start.as_primitive::<Int64Type>();
    let before = delivery.prev();
    let early: Vec<bool> = (0..batch.num_rows())
        .map(|i| start.is_valid(i) && before.holds(start.value(i)))
        .collect();
    let n_early = early.iter().filter(|&&e| e).count();
    if n_early == 0 {
        return Ok(vec![(delivery, batch.clone())]);
    }
    if n_early == batch.num_rows() {
        return Ok(vec![(before, batch.clone())]);
    }
    let late_mask = BooleanArray::from(early.iter().map(|e| !e).collect::<Vec<_>>());
    let early_mask = BooleanArray::from(early);
    Ok(vec![
        (before, filter_record_batch(batch, &early_mask)?),
        (delivery, filter_record_batch(batch, &late_mask)?),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::batch::BatchBuilder;
    use crate::text::layout::FieldLayout;
    use crate::text::tokenize::{split_fields, Lines};

    fn key(day: &str, hour: Option<u8>) -> PartitionKey {
        PartitionKey {
            account: Some("1".into()),
            region: Some("r".into()),
            day: day.parse().unwrap(),
            hour,
        }
    }

    #[test]
    fn slots_round_trip() {
        let k = key("2024-03-01", None);
        let s = TimeSlot::of_key(&k, Grain::Day);
        assert_eq!(s.seconds(), 86_400);
        assert_eq!(s.prev().key(&k).day.to_string(), "2024-02-29");
        assert_eq!(s.key(&k), k);
        let h = key("2024-03-01", Some(0));
        let hs = TimeSlot::of_key(&h, Grain::Hour);
        assert_eq!(hs.seconds(), 3_600);
        assert_eq!(hs.next().prev(), hs);
        let prev = hs.prev().key(&h);
        assert_eq!(
            (prev.day.to_string(), prev.hour),
            ("2024-02-29".to_string(), Some(23))
        );
        assert_eq!(prev.account.as_deref(), Some("1"));
    }

    #[test]
    fn rows_go_to_their_start_day_within_the_window() {
        // Delivered on 2024-01-02 (day 19724): starts on 01-01 23:59, 01-02, NULL, and far in the past.
        let text = "1704153540 a\n1704196800 b\n- c\n1000 d\n";
        let layout = FieldLayout::parse_format("start srcaddr").unwrap();
        let mut b = BatchBuilder::new();
        b.start_layout(&layout);
        let mut spans = Vec::new();
        for line in Lines::new(text.as_bytes()) {
            split_fields(line.text, line.offset, &mut spans);
            b.append(text.as_bytes(), &spans, &layout, false).unwrap();
        }
        let batch = b.finish(text.as_bytes()).unwrap();
        let delivery = TimeSlot::of_key(&key("2024-01-02", None), Grain::Day);
        let parts = split_by_start(&batch, delivery).unwrap();
        let addrs = |b: &RecordBatch| -> Vec<String> {
            let a = arrow::compute::cast(
                b.column_by_name("srcaddr").unwrap(),
                &arrow::datatypes::DataType::Utf8,
            )
            .unwrap()
            .as_string::<i32>()
            .clone();
            a.iter().map(|v| v.unwrap().to_string()).collect()
        };
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].0, addrs(&parts[0].1)),
            (delivery.prev(), vec!["a".to_string()])
        );
        assert_eq!(
            (parts[1].0, addrs(&parts[1].1)),
            (delivery, vec!["b".into(), "c".into(), "d".into()])
        );
    }
}
