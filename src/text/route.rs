//! Which partition a row belongs to: the delivery folder's (default) or its own `start` time.
//!
//! Partitions are *slots*: days (or hours with `--hourly`) numbered from the Unix epoch, so neighbours
//! are `slot - 1` and `slot + 1`. With `--partition-time start` a row goes to the slot of its `start`
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
use crate::lake::partition::PartitionKey;
use crate::lake::schema;

/// Seconds per slot: an hour in an hourly lake, else a day.
pub fn slot_seconds(hourly: bool) -> i64 {
    if hourly {
        date::SECS_PER_HOUR
    } else {
        date::SECS_PER_DAY
    }
}

/// The slot of a partition key.
pub fn slot_of(key: &PartitionKey, hourly: bool) -> i64 {
    let days = date::days_from_civil(
        key.day.year,
        u32::from(key.day.month),
        u32::from(key.day.day),
    );
    if hourly {
        days * 24 + i64::from(key.hour.unwrap_or(0))
    } else {
        days
    }
}

/// The partition key of `slot`, with the account and region of `template`.
pub fn key_at(template: &PartitionKey, slot: i64, hourly: bool) -> PartitionKey {
    let (days, hour) = if hourly {
        (slot.div_euclid(24), Some(slot.rem_euclid(24) as u8))
    } else {
        (slot, None)
    };
    let (y, m, d) = date::civil_from_days(days);
    PartitionKey {
        account: template.account.clone(),
        region: template.region.clone(),
        day: Day::new(y, m, d).unwrap_or(template.day),
        hour,
    }
}

/// Splits a batch of one file delivered in `delivery` into per-slot batches by each row's `start`.
/// Returns `(slot, rows)` pairs, slots ascending; at most two (delivery - 1 and delivery).
pub fn split_by_start(
    batch: &RecordBatch,
    delivery: i64,
    hourly: bool,
) -> Result<Vec<(i64, RecordBatch)>, ArrowError> {
    let Some(start) = batch.column_by_name(schema::START.column) else {
        return Ok(vec![(delivery, batch.clone())]);
    };
    let start = start.as_primitive::<Int64Type>();
    let per = slot_seconds(hourly);
    let early: Vec<bool> = (0..batch.num_rows())
        .map(|i| start.is_valid(i) && start.value(i).div_euclid(per) == delivery - 1)
        .collect();
    let n_early = early.iter().filter(|&&e| e).count();
    if n_early == 0 {
        return Ok(vec![(delivery, batch.clone())]);
    }
    if n_early == batch.num_rows() {
        return Ok(vec![(delivery - 1, batch.clone())]);
    }
    let late_mask = BooleanArray::from(early.iter().map(|e| !e).collect::<Vec<_>>());
    let early_mask = BooleanArray::from(early);
    Ok(vec![
        (delivery - 1, filter_record_batch(batch, &early_mask)?),
        (delivery, filter_record_batch(batch, &late_mask)?),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::batch::BatchBuilder;
    use crate::text::layout::Layout;
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
        let s = slot_of(&k, false);
        assert_eq!(key_at(&k, s - 1, false).day.to_string(), "2024-02-29");
        let h = key("2024-03-01", Some(0));
        let hs = slot_of(&h, true);
        let prev = key_at(&h, hs - 1, true);
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
        let layout = Layout::parse_format("start srcaddr").unwrap();
        let mut b = BatchBuilder::new();
        b.start_layout(&layout);
        let mut spans = Vec::new();
        for line in Lines::new(text.as_bytes()) {
            split_fields(line.text, line.offset, &mut spans);
            b.append(text.as_bytes(), &spans, &layout, false).unwrap();
        }
        let batch = b.finish(text.as_bytes()).unwrap();
        let delivery = slot_of(&key("2024-01-02", None), false);
        let parts = split_by_start(&batch, delivery, false).unwrap();
        let addrs = |b: &RecordBatch| -> Vec<String> {
            let a = b
                .column_by_name("srcaddr")
                .unwrap()
                .as_string::<i32>()
                .clone();
            a.iter().map(|v| v.unwrap().to_string()).collect()
        };
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].0, addrs(&parts[0].1)),
            (delivery - 1, vec!["a".to_string()])
        );
        assert_eq!(
            (parts[1].0, addrs(&parts[1].1)),
            (delivery, vec!["b".into(), "c".into(), "d".into()])
        );
    }
}
