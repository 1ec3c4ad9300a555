//! Rows of any flow log Parquet file (flowlake's, or AWS's native Parquet deliveries, which may hold a
//! subset of the fields with other integer types) as rows of the lake schema, by column name and
//! without loss: what `compact` rewrites and what convert carries over from published files.

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::error::ArrowError;

/// Why a batch does not fit the lake schema.
#[derive(Debug, thiserror::Error)]
pub enum ConformError {
    #[error("column `{column}` is not a flow log field; the partition is left as it is")]
    NotAFlowLogField { column: String },
    #[error("column `{column}` ({from}) does not fit the lake's {to}: {source}")]
    DoesNotFit {
        column: String,
        from: DataType,
        to: DataType,
        #[source]
        source: ArrowError,
    },
    #[error("column `{column}` is {from}, which the lake's {to} cannot hold without loss")]
    Lossy {
        column: String,
        from: DataType,
        to: DataType,
    },
    #[error(transparent)]
    Arrow(#[from] ArrowError),
}

/// Maps a batch read from any flow log Parquet file onto the lake schema, by column name.
pub fn to_lake_batch(batch: &RecordBatch, lake: &SchemaRef) -> Result<RecordBatch, ConformError> {
    let input = batch.schema();
    for field in input.fields() {
        if lake.field_with_name(field.name()).is_err() {
            return Err(ConformError::NotAFlowLogField {
                column: field.name().clone(),
            });
        }
    }
    let options = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(lake.fields().len());
    for field in lake.fields() {
        let column = match input.index_of(field.name()) {
            Err(_) => arrow::array::new_null_array(field.data_type(), batch.num_rows()),
            Ok(i) => {
                let array = batch.column(i);
                if array.data_type() == field.data_type() {
                    array.clone()
                } else if castable(array.data_type(), field.data_type()) {
                    cast_with_options(array, field.data_type(), &options).map_err(|source| {
                        ConformError::DoesNotFit {
                            column: field.name().clone(),
                            from: array.data_type().clone(),
                            to: field.data_type().clone(),
                            source,
                        }
                    })?
                } else {
                    return Err(ConformError::Lossy {
                        column: field.name().clone(),
                        from: array.data_type().clone(),
                        to: field.data_type().clone(),
                    });
                }
            }
        };
        columns.push(column);
    }
    Ok(RecordBatch::try_new(lake.clone(), columns)?)
}

/// Input types that convert exactly into a lake type (a value that does not fit fails the cast).
fn castable(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    let integer = |t: &DataType| {
        matches!(
            t,
            Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64
        )
    };
    let string = |t: &DataType| matches!(t, Utf8 | LargeUtf8 | Utf8View);
    match (from, to) {
        (f, Int32 | Int64) if integer(f) => true,
        (f, Utf8) if string(f) => true,
        (Dictionary(_, v), Utf8) => string(v),
        (Dictionary(_, v), Int32 | Int64) => integer(v),
        _ => false,
    }
}
