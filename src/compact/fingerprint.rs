//! The check that a rewrite lost nothing: a per-column fingerprint of a set of rows, taken of the
//! input and again of the staged output read back from disk.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Int32Type, Int64Type, SchemaRef, TimeUnit, TimestampMillisecondType,
};

/// Per-column fingerprint of a set of rows, independent of their order and of how they are split in
/// batches and files: non-NULL count, and the sum of the values (integers) or of their lengths and
/// 64-bit FNV-1a hashes (strings; the map column's keys and values; a list column's lengths and
/// elements).
pub(super) struct Fingerprint {
    names: Vec<String>,
    rows: u64,
    columns: Vec<ColumnSums>,
}

#[derive(Default, Clone, PartialEq, Eq)]
struct ColumnSums {
    non_null: u64,
    sum: i128,
    lengths: u64,
    hashes: u64,
}

impl Fingerprint {
    pub(super) fn new(schema: &SchemaRef) -> Self {
        Fingerprint {
            names: schema.fields().iter().map(|f| f.name().clone()).collect(),
            rows: 0,
            columns: vec![ColumnSums::default(); schema.fields().len()],
        }
    }

    pub(super) fn add(&mut self, batch: &RecordBatch) {
        self.rows += batch.num_rows() as u64;
        for (sums, array) in self.columns.iter_mut().zip(batch.columns()) {
            sums.non_null += (array.len() - array.null_count()) as u64;
            add_values(sums, array.as_ref());
        }
    }

    /// The first column whose fingerprint differs, if any ("row count" for the row count).
    pub(super) fn differs(&self, other: &Fingerprint) -> Option<String> {
        if self.rows != other.rows {
            return Some("row count".into());
        }
        self.columns
            .iter()
            .zip(&other.columns)
            .zip(&self.names)
            .find(|((a, b), _)| a != b)
            .map(|(_, name)| name.clone())
    }
}

fn add_values(sums: &mut ColumnSums, array: &dyn Array) {
    match array.data_type() {
        DataType::Int32 => {
            let a = array.as_primitive::<Int32Type>();
            sums.sum += a.iter().flatten().map(i128::from).sum::<i128>();
        }
        DataType::Int64 => {
            let a = array.as_primitive::<Int64Type>();
            sums.sum += a.iter().flatten().map(i128::from).sum::<i128>();
        }
        DataType::Utf8 => {
            for v in array.as_string::<i32>().iter().flatten() {
                sums.lengths += v.len() as u64;
                sums.hashes = sums.hashes.wrapping_add(crate::hash::fnv1a(v.as_bytes()));
            }
        }
        DataType::Map(_, _) => {
            let map = array.as_map();
            let entries = map.entries();
            for child in entries.columns() {
                sums.sum += (child.len() - child.null_count()) as i128;
                add_values(sums, child.as_ref());
            }
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            let a = array.as_primitive::<TimestampMillisecondType>();
            sums.sum += a.iter().flatten().map(i128::from).sum::<i128>();
        }
        DataType::Struct(_) => {
            // Each child's values where the struct is valid (an OCSF lake's objects).
            let object = array.as_struct();
            for child in object.columns() {
                let child = match object.nulls() {
                    Some(nulls) if nulls.null_count() > 0 => {
                        let valid = arrow::array::BooleanArray::new(nulls.inner().clone(), None);
                        match arrow::compute::filter(child, &valid) {
                            Ok(kept) => kept,
                            Err(_) => child.clone(),
                        }
                    }
                    _ => child.clone(),
                };
                sums.sum += (child.len() - child.null_count()) as i128;
                add_values(sums, child.as_ref());
            }
        }
        DataType::List(_) => {
            // Each list's length and elements (by list: the child of a sliced array holds more).
            let list = array.as_list::<i32>();
            for i in (0..list.len()).filter(|&i| list.is_valid(i)) {
                let elements = list.value(i);
                sums.sum += elements.len() as i128;
                add_values(sums, elements.as_ref());
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("bytes", DataType::Int64, true),
            Field::new("action", DataType::Utf8, true),
        ]))
    }

    fn batch(bytes: Vec<Option<i64>>, action: Vec<Option<&str>>) -> RecordBatch {
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int64Array::from(bytes)),
                Arc::new(StringArray::from(action)),
            ],
        )
        .expect("a batch of the test schema")
    }

    fn of(batches: &[RecordBatch]) -> Fingerprint {
        let mut f = Fingerprint::new(&schema());
        for b in batches {
            f.add(b);
        }
        f
    }

    #[test]
    fn the_same_rows_in_another_order_and_split_have_the_same_fingerprint() {
        let a = of(&[batch(
            vec![Some(1), None, Some(3)],
            vec![Some("ACCEPT"), Some("REJECT"), None],
        )]);
        let b = of(&[
            batch(vec![Some(3)], vec![None]),
            batch(vec![None, Some(1)], vec![Some("REJECT"), Some("ACCEPT")]),
        ]);
        assert_eq!(a.differs(&b), None);
    }

    #[test]
    fn the_first_column_that_differs_is_named() {
        let a = of(&[batch(vec![Some(1), Some(2)], vec![Some("ACCEPT"), None])]);
        let values = of(&[batch(vec![Some(1), Some(2)], vec![Some("REJECT"), None])]);
        assert_eq!(a.differs(&values).as_deref(), Some("action"));
        let nulls = of(&[batch(vec![Some(1), None], vec![Some("ACCEPT"), None])]);
        assert_eq!(a.differs(&nulls).as_deref(), Some("bytes"));
        let rows = of(&[batch(vec![Some(1)], vec![Some("ACCEPT")])]);
        assert_eq!(a.differs(&rows).as_deref(), Some("row count"));
    }
}
