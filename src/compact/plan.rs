//! Which partitions a compact run rewrites, and with what: the small-file rule, the `--sort-by` order
//! the files' footers declare, the rows their footers count, the estimate of a dry run, and whether a
//! partition `convert` built can be rewritten without losing where its rows came from.

use parquet::file::metadata::ParquetMetaData;

use super::{CompactConfig, PartitionError, PartitionPlan};
use crate::error::Error;
use crate::lake::dataset::{Dataset, ParquetFile};
use crate::lake::ledger::{Manifest, RowRunsError};
use crate::lake::sort::SortColumns;

/// A partition chosen for rewriting: its plan, its files (in the order their rows are read) and, for
/// a partition `convert` built, which input each of their rows came from ([`sources_of`]).
#[derive(Debug)]
pub(super) struct Chosen {
    pub plan: PartitionPlan,
    pub files: Vec<ParquetFile>,
    pub sources: Option<Vec<(u32, u64)>>,
}

/// Decides whether the partition at `path` (relative to the lake root) is rewritten: `None` when it is
/// left alone (too few small files, and in the `--sort-by` order already), an error when it should be
/// but cannot be (a footer that cannot be read, a convert run to finish first, files its manifest
/// entry does not list).
pub(super) fn choose(
    cfg: &CompactConfig,
    dataset: &Dataset,
    manifest: &Manifest,
    needs_rebuild: &[String],
    path: &str,
    mut files: Vec<ParquetFile>,
) -> Result<Option<Chosen>, PartitionError> {
    // Few small files: rewritten only when `--sort-by` asks for an order its files lack.
    if !has_small_files(&files, cfg.write.target_file_bytes, cfg.min_files)
        && !out_of_order(dataset, path, &files, &cfg.write.sort_by)?
    {
        return Ok(None);
    }
    if needs_rebuild.iter().any(|p| p == path) {
        return Err(PartitionError::NeedsRebuild);
    }
    let rows = footer_rows(dataset, path, &files)?;
    let plan = estimate(path, &files, rows, cfg.write.target_file_bytes);
    let sources = sources_of(manifest, path, &mut files)?;
    Ok(Some(Chosen {
        plan,
        files,
        sources,
    }))
}

/// True when at least `min_files` (never fewer than 2) of `files` are below half the target size.
fn has_small_files(files: &[ParquetFile], target_file_bytes: u64, min_files: usize) -> bool {
    let small = files
        .iter()
        .filter(|f| f.bytes < target_file_bytes / 2)
        .count();
    small >= min_files.max(2)
}

/// The plan of a partition before it is written: files and bytes in, and the files out estimated at
/// the target size (at least one); no bytes out yet.
fn estimate(path: &str, files: &[ParquetFile], rows: u64, target_file_bytes: u64) -> PartitionPlan {
    let bytes_in: u64 = files.iter().map(|f| f.bytes).sum();
    PartitionPlan {
        path: path.to_string(),
        files_in: files.len(),
        bytes_in,
        rows,
        files_out: bytes_in.div_ceil(target_file_bytes).max(1) as usize,
        bytes_out: 0,
    }
}

/// A file's footer; the error names the file.
fn footer(
    dataset: &Dataset,
    partition: &str,
    file: &ParquetFile,
) -> Result<ParquetMetaData, PartitionError> {
    dataset
        .footer(partition, file)
        .map_err(|source| PartitionError::Footer {
            path: dataset.file(partition, &file.name),
            source,
        })
}

/// The rows of the partition's files, from their footers.
fn footer_rows(
    dataset: &Dataset,
    partition: &str,
    files: &[ParquetFile],
) -> Result<u64, PartitionError> {
    let mut rows = 0u64;
    for f in files {
        rows += footer(dataset, partition, f)?
            .file_metadata()
            .num_rows()
            .max(0) as u64;
    }
    Ok(rows)
}

/// True when `sort_by` names an order and some row group of the partition's files does not declare
/// it in its `sorting_columns` (see [`declares`]). No order asked: false, without reading a footer.
fn out_of_order(
    dataset: &Dataset,
    partition: &str,
    files: &[ParquetFile],
    sort_by: &SortColumns,
) -> Result<bool, PartitionError> {
    if sort_by.is_none() {
        return Ok(false);
    }
    let wanted = sort_by.names();
    for f in files {
        if !declares(&footer(dataset, partition, f)?, &wanted) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// True when every row group of the footer declares the order `wanted` in its `sorting_columns`
/// (matched by column name, ascending, NULLs first, as flowlake writes them: only after sorting the
/// rows across all of the partition's files).
fn declares(footer: &ParquetMetaData, wanted: &[String]) -> bool {
    let schema = footer.file_metadata().schema_descr();
    footer.row_groups().iter().all(|rg| {
        let declared: Option<Vec<String>> = rg.sorting_columns().and_then(|columns| {
            columns
                .iter()
                .map(|c| {
                    let leaf = usize::try_from(c.column_idx).ok()?;
                    (leaf < schema.num_columns() && !c.descending && c.nulls_first)
                        .then(|| schema.column(leaf).path().string())
                })
                .collect()
        });
        declared.as_deref() == Some(wanted)
    })
}

/// Why a partition built by `convert` cannot be compacted without losing track of its rows.
#[derive(Debug, thiserror::Error)]
pub(super) enum Untracked {
    /// Files its entry does not list (a foreign file merged into flowlake's own would be dropped by
    /// the next rebuild, which replaces those), or listed files missing.
    #[error(
        "its files are not the ones its manifest entry lists ({0}): run convert on its days \
         first, and move files flowlake did not write out of the partition"
    )]
    Files(String),
    /// Its entry does not say where each input's rows are, or its row map cannot be read or
    /// disagrees with the entry or the files.
    #[error("{0}: rebuild it with convert --rebuild first")]
    Rows(#[from] RowRunsError),
    /// Its manifest entry cannot be read.
    #[error(transparent)]
    Lake(#[from] Error),
}

/// Which input each row of the partition's files came from ([`Manifest::row_runs`]), over `files`,
/// which it puts in the entry's order (the order they were written); `None` for a partition no
/// convert run built (AWS's own files, with no entry or one `compact` wrote, without inputs).
fn sources_of(
    manifest: &Manifest,
    partition: &str,
    files: &mut [ParquetFile],
) -> Result<Option<Vec<(u32, u64)>>, Untracked> {
    let Some(entry) = manifest.entry(partition)? else {
        return Ok(None);
    };
    if entry.inputs.is_empty() {
        return Ok(None);
    }
    let found: Vec<(&str, u64)> = files.iter().map(|f| (f.name.as_str(), f.bytes)).collect();
    let listed: Vec<(&str, u64)> = entry
        .outputs
        .iter()
        .map(|o| (o.name.as_str(), o.bytes))
        .collect();
    same_files(found, listed)?;
    let runs = manifest.row_runs(&entry)?;
    // The runs go over the files in the entry's order (the order they were written).
    files.sort_by_key(|f| entry.outputs.iter().position(|o| o.name == f.name));
    Ok(Some(runs))
}

/// Checks that the files `found` in a partition (name, bytes) are the ones its entry has `listed`;
/// the error names the files not listed, or says that some listed ones are missing.
fn same_files(mut found: Vec<(&str, u64)>, mut listed: Vec<(&str, u64)>) -> Result<(), Untracked> {
    found.sort_unstable();
    listed.sort_unstable();
    if found == listed {
        return Ok(());
    }
    let strangers: Vec<&str> = found
        .iter()
        .filter(|f| !listed.contains(f))
        .map(|f| f.0)
        .collect();
    Err(Untracked::Files(if strangers.is_empty() {
        "some are missing".to_string()
    } else {
        format!("not listed: {}", strangers.join(", "))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, bytes: u64) -> ParquetFile {
        ParquetFile {
            name: name.into(),
            bytes,
        }
    }

    #[test]
    fn small_files_are_counted_below_half_the_target_and_never_fewer_than_two() {
        let files = [file("a", 10), file("b", 49), file("c", 50), file("d", 100)];
        assert!(has_small_files(&files, 100, 2));
        assert!(!has_small_files(&files, 100, 3));
        // `--min-files 1` still needs two small files: one alone is not worth a rewrite.
        assert!(!has_small_files(&files[1..], 100, 1));
        assert!(!has_small_files(&[], 100, 0));
    }

    #[test]
    fn the_estimate_is_the_bytes_in_at_the_target_size_and_at_least_one_file() {
        let files = [file("a", 30), file("b", 80)];
        let plan = estimate("year=2024", &files, 7, 50);
        assert_eq!(
            plan,
            PartitionPlan {
                path: "year=2024".into(),
                files_in: 2,
                bytes_in: 110,
                rows: 7,
                files_out: 3,
                bytes_out: 0,
            }
        );
        assert_eq!(estimate("p", &[], 0, 50).files_out, 1);
    }

    #[test]
    fn files_match_their_entry_whatever_their_order() {
        let found = vec![("b", 2), ("a", 1)];
        let listed = vec![("a", 1), ("b", 2)];
        assert!(same_files(found, listed).is_ok());
    }

    #[test]
    fn a_file_the_entry_does_not_list_is_named() {
        let found = vec![("a", 1), ("x.parquet", 9), ("b", 3)];
        let listed = vec![("a", 1), ("b", 2)];
        let message = same_files(found, listed).unwrap_err().to_string();
        assert!(message.contains("(not listed: b, x.parquet)"), "{message}");
    }

    #[test]
    fn a_missing_file_is_reported_as_such() {
        let found = vec![("a", 1)];
        let listed = vec![("a", 1), ("b", 2)];
        let message = same_files(found, listed).unwrap_err().to_string();
        assert!(message.contains("(some are missing)"), "{message}");
    }
}
