//! `flowlake ddl`: the SQL that makes a lake a table, for Athena (Hive DDL with partition projection)
//! and for DuckDB (a view over `read_parquet`).
//!
//! Everything is read from the lake as written, not assumed: the columns and their types come from the
//! Parquet footers (INT32 is `int`, INT64 `bigint`: AWS's own DDL declares `protocol bigint` over INT32
//! data, which Parquet readers that check types refuse), and the partition keys from the folder names
//! (`aws-account-id=/aws-service=/aws-region=/year=/month=/day=[/hour=]` or `year=/month=/day=[/hour=]`).
//! Partition keys are strings, as in AWS's DDL, so `month = '03'` means the same in every engine.
//!
//! Athena projects the partitions instead of listing them: `year`, `month`, `day` and `hour` are
//! zero-padded integer ranges, Security Lake's `eventDay` (an OCSF lake) a `yyyyMMdd` date range from
//! the first day found to today, every other key an enum of the values found, and
//! `storage.location.template` spells the folder path, so new days need no `MSCK REPAIR TABLE`.
//! Partition columns are named in lower case (Hive and Glue keep no other), the template keeps the
//! folders' own spelling (`accountId=${accountid}`).
//!
//! Every value from outside (paths, names, folder keys and values, column names) goes into the text
//! through [`sqltext`], which quotes it as one inert token or refuses it.

pub mod sqltext;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use arrow::datatypes::{DataType, Field};

use crate::error::{Error, Result};
use crate::lake::dataset::Dataset;
use crate::lake::ledger::Manifest;
use crate::lake::schema::{OutputSchema, RecordKind};
use crate::storage::{self, S3Settings};

use sqltext::{Refused, Source};

/// Default table name.
pub const DEFAULT_TABLE: &str = "vpc_flow_logs";
/// Default table name of a Transit Gateway flow log lake.
pub const DEFAULT_TGW_TABLE: &str = "tgw_flow_logs";
/// Default table name of an OCSF lake (`convert --schema ocsf`).
pub const DEFAULT_OCSF_TABLE: &str = "ocsf_vpc_flow";
/// Years projected past the later of the lake's last year and this year, so that a table created
/// once keeps seeing new deliveries without being recreated every January.
pub const PROJECTED_YEARS_AHEAD: i32 = 5;

/// Which statement to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// `CREATE EXTERNAL TABLE` with partition projection (Athena; Hive DDL).
    #[default]
    Athena,
    /// `CREATE OR REPLACE VIEW ... read_parquet(...)`, the partition keys read from each file's path.
    DuckDb,
}

/// Settings of a `ddl` run.
#[derive(Debug, Clone)]
pub struct DdlConfig {
    pub lake: PathBuf,
    /// Where engines find the lake (`s3://bucket/prefix/`); the lake's own path or URL when `None`.
    pub location: Option<String>,
    /// Endpoint of an S3-compatible store for an `s3://` lake.
    pub endpoint: Option<String>,
    /// Table (view) name; [`DEFAULT_TABLE`], or [`DEFAULT_TGW_TABLE`] for a Transit Gateway lake,
    /// when `None`.
    pub table: Option<String>,
    pub database: Option<String>,
    pub engine: Engine,
}

impl DdlConfig {
    /// The table (view) name the statements create.
    pub fn table_name(&self) -> &str {
        self.table.as_deref().unwrap_or(DEFAULT_TABLE)
    }

    pub fn new(lake: PathBuf) -> Self {
        DdlConfig {
            lake,
            location: None,
            endpoint: None,
            table: None,
            database: None,
            engine: Engine::Athena,
        }
    }
}

/// One Hive partition key and the values found in the lake's folders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionKeyValues {
    pub name: String,
    pub values: BTreeSet<String>,
}

/// Why `flowlake ddl` printed nothing.
#[derive(Debug, thiserror::Error)]
pub enum DdlError {
    /// The lake cannot be read or described as one table.
    #[error(transparent)]
    Lake(#[from] Error),
    /// A value cannot be written into the statement safely.
    #[error("refused: {0}")]
    Refused(#[from] Refused),
}

/// A lake as engines see it: data columns (from the Parquet footers) and partition keys (from folders).
#[derive(Debug, Clone)]
pub struct LakeTable {
    /// Column name and Hive type (`int`, `bigint`, `string`, `map<string,string>`, ...), in file order.
    pub columns: Vec<(String, String)>,
    /// Partition keys in folder order.
    pub partition_keys: Vec<PartitionKeyValues>,
    /// Parquet files read.
    pub files: usize,
}

/// Reads the schema and partition layout of the lake at `root`.
///
/// Every file's footer is read: files with different column sets are merged by name (AWS's native
/// deliveries may hold a subset of fields), a column whose type differs between files is an error
/// naming both files, and so are folders that are not `key=value` or differ in their keys.
pub fn describe(dataset: &Dataset) -> Result<LakeTable> {
    let bad = |path: &Path, message: String| Error::Lake {
        path: path.to_path_buf(),
        message,
    };
    let root = &dataset.file("", "");
    let partitions = dataset.partitions(None, None)?;
    if partitions.is_empty() {
        return Err(bad(root, why_empty(dataset)));
    }
    let mut keys: Option<(String, Vec<String>)> = None;
    let mut values: Vec<BTreeSet<String>> = Vec::new();
    let mut columns: Vec<(String, String, PathBuf)> = Vec::new();
    let mut files = 0;
    for (dir, parts) in &partitions {
        let pairs = hive_pairs(dir).ok_or_else(|| {
            bad(
                &dataset.file(dir, ""),
                "is not a Hive partition folder (every folder level must be key=value); \
                 flowlake ddl describes Hive-partitioned lakes such as convert's output"
                    .into(),
            )
        })?;
        let names: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
        match &keys {
            None => {
                values = vec![BTreeSet::new(); names.len()];
                keys = Some((dir.clone(), names));
            }
            Some((first, expected)) if *expected != names => {
                return Err(bad(
                    root,
                    format!(
                        "mixes partition layouts: `{first}` has keys {} but `{dir}` has {}",
                        expected.join("/"),
                        names.join("/")
                    ),
                ));
            }
            Some(_) => {}
        }
        for (set, (_, value)) in values.iter_mut().zip(pairs) {
            set.insert(value);
        }
        for part in parts {
            let path = dataset.file(dir, &part.name);
            let schema = dataset
                .schema(dir, part)
                .map_err(|e| bad(&path, e.to_string()))?;
            for field in schema.fields().iter().map(|f| f.as_ref().clone()) {
                let ty = hive_type(&field).map_err(|e| bad(&path, e.to_string()))?;
                match columns.iter().find(|(n, _, _)| n == field.name()) {
                    None => columns.push((field.name().clone(), ty, path.clone())),
                    Some((name, seen, first)) if *seen != ty => {
                        return Err(bad(
                            &path,
                            format!(
                                "column `{name}` is {ty} here but {seen} in {}; run `flowlake compact` to give every file the lake schema",
                                first.display()
                            ),
                        ));
                    }
                    Some(_) => {}
                }
            }
            files += 1;
        }
    }
    let names = keys.map(|(_, names)| names).unwrap_or_default();
    for (name, _, first) in &columns {
        if names.iter().any(|k| k.eq_ignore_ascii_case(name)) {
            return Err(bad(
                first,
                format!("column `{name}` has the name of a partition key"),
            ));
        }
    }
    Ok(LakeTable {
        columns: columns.into_iter().map(|(n, t, _)| (n, t)).collect(),
        partition_keys: names
            .into_iter()
            .zip(values)
            .map(|(name, values)| PartitionKeyValues { name, values })
            .collect(),
        files,
    })
}

/// Why a lake holds no Parquet files: its filters dropped every record its conversions read (the
/// manifest counts them), or nothing was converted yet.
fn why_empty(dataset: &Dataset) -> String {
    let manifest = Manifest::of_lake(dataset.store().clone(), dataset.root());
    // Only a reason to print: a manifest that cannot be read leaves the plain message.
    let filters = manifest.settings().ok().flatten().map(|s| s.filters);
    let entries = manifest.all().unwrap_or_default();
    let (lines, rows, filtered, rejected) =
        entries.values().fold((0, 0, 0, 0), |(l, w, f, r), e| {
            (l + e.lines, w + e.rows, f + e.filtered, r + e.rejected)
        });
    match filters {
        Some(filters) if filtered > 0 && rows == 0 => {
            let mut why = format!(
                "holds no Parquet files: no rows kept by the filters: {filtered} lines filtered \
                 of {lines} lines read in {} partitions (filters: {})",
                entries.len(),
                filters.describe()
            );
            if rejected > 0 {
                why.push_str(&format!(", {rejected} rejected"));
            }
            why.push_str(
                "; a lake keeps the filters it was first written with: convert into a new lake \
                 with other --action / --drop-log-status to keep these records",
            );
            why
        }
        _ => "holds no Parquet files yet (run `flowlake convert` first)".into(),
    }
}

/// True when neither the lake nor the `--location` given is in an object store: Athena cannot read
/// the lake where the statement says it is.
pub fn location_is_local(cfg: &DdlConfig) -> bool {
    storage::is_local(&cfg.lake)
        && cfg
            .location
            .as_deref()
            .is_none_or(|l| storage::is_local(Path::new(l)))
}

/// The statement `cfg.engine` asks for.
pub fn ddl(cfg: &DdlConfig) -> std::result::Result<String, DdlError> {
    let store = storage::open(
        &[&cfg.lake],
        &S3Settings {
            endpoint: cfg.endpoint.clone(),
        },
    )?;
    let dataset = Dataset::open(store, &cfg.lake)?;
    let table = describe(&dataset)?;
    let settings = Manifest::of_lake(dataset.store().clone(), dataset.root()).settings()?;
    // A lake written with filters holds only some traffic: the statement says so.
    let filters = settings
        .as_ref()
        .map(|s| s.filters.clone())
        .filter(|f| !f.keeps_all());
    let mut cfg = cfg.clone();
    if cfg.table.is_none() {
        match settings {
            Some(s) if s.schema == OutputSchema::Ocsf => {
                cfg.table = Some(DEFAULT_OCSF_TABLE.into())
            }
            Some(s) if s.record_kind == RecordKind::TransitGateway => {
                cfg.table = Some(DEFAULT_TGW_TABLE.into())
            }
            _ => {}
        }
    }
    let cfg = &cfg;
    // The location is named by a string literal, so it must be text: a path that is not UTF-8 is
    // refused rather than named lossily (the statement would point at another folder).
    let location = match &cfg.location {
        Some(l) => l.clone(),
        None if !storage::is_local(&cfg.lake) => {
            sqltext::utf8_path(&cfg.lake, Source::Lake)?.to_string()
        }
        None => {
            let abs = std::fs::canonicalize(&cfg.lake).map_err(|source| Error::Input {
                path: cfg.lake.clone(),
                source,
            })?;
            let abs = sqltext::utf8_path(&abs, Source::Lake)?;
            match cfg.engine {
                // Hive DDL wants a URI; DuckDB reads a path.
                Engine::Athena => format!("file://{abs}"),
                Engine::DuckDb => abs.to_string(),
            }
        }
    };
    let statement = match cfg.engine {
        Engine::Athena => athena(&table, cfg, &location, this_year())?,
        Engine::DuckDb => duckdb(&table, cfg, &location)?,
    };
    Ok(match filters {
        Some(f) => format!(
            "-- This lake keeps {} (flowlake convert --action / --drop-log-status): totals over it are\n\
             -- not totals of all traffic.\n{statement}",
            f.describe()
        ),
        None => statement,
    })
}

/// Athena's `CREATE EXTERNAL TABLE` with partition projection; `this_year` bounds the year range.
///
/// Refuses (see [`sqltext`]) a location, name, key or value that Hive DDL cannot carry safely.
pub fn athena(
    table: &LakeTable,
    cfg: &DdlConfig,
    location: &str,
    this_year: i32,
) -> std::result::Result<String, Refused> {
    let what = location_source(cfg);
    let location = with_slash(location);
    let location_literal = sqltext::hive_string(&location, what)?;
    let name = match &cfg.database {
        Some(db) => format!(
            "{}.{}",
            sqltext::hive_ident(db, Source::Database)?,
            sqltext::hive_ident(cfg.table_name(), Source::Table)?
        ),
        None => sqltext::hive_ident(cfg.table_name(), Source::Table)?,
    };
    let mut out = format!(
        "-- Athena table over the flowlake lake at {} ({} Parquet files read).\n\
         -- Partitions are projected: new days need no MSCK REPAIR TABLE or Glue crawler.\n\
         CREATE EXTERNAL TABLE IF NOT EXISTS {name} (\n",
        sqltext::escaped(location.as_bytes()),
        table.files
    );
    out.push_str(&column_list(&table.columns)?);
    out.push_str(")\n");
    if !table.partition_keys.is_empty() {
        out.push_str("PARTITIONED BY (\n");
        // Hive and Glue keep column names in lower case, and Athena finds a key's projection by
        // its column's name: a folder key such as Security Lake's `accountId` is the column
        // `accountid`, and the location template spells the folder's own key.
        let keys: Vec<(String, String)> = table
            .partition_keys
            .iter()
            .map(|k| {
                Ok((
                    sqltext::partition_key(&k.name)?.to_ascii_lowercase(),
                    "string".into(),
                ))
            })
            .collect::<std::result::Result<_, Refused>>()?;
        out.push_str(&column_list(&keys)?);
        out.push_str(")\n");
    }
    out.push_str(&format!("STORED AS PARQUET\nLOCATION {location_literal}"));
    if table.partition_keys.is_empty() {
        out.push_str(";\n");
        return Ok(out);
    }
    let mut props: Vec<(String, String)> = vec![("projection.enabled".into(), "true".into())];
    let mut template = location.clone();
    for key in &table.partition_keys {
        props.extend(projection(key, this_year)?);
        let name = sqltext::partition_key(&key.name)?;
        template.push_str(&format!("{name}=${{{}}}/", name.to_ascii_lowercase()));
    }
    let mut props: Vec<String> = props
        .iter()
        .map(|(k, v)| {
            Ok(format!(
                "  {} = {}",
                sqltext::hive_string(k, Source::PartitionKey)?,
                sqltext::hive_string(v, what)?
            ))
        })
        .collect::<std::result::Result<_, Refused>>()?;
    // Its `${key}` placeholders are meant, so it is not checked as a whole: the location (checked
    // above: no `${`, quote, backslash or unprintable character) and the keys (ASCII letters,
    // digits, `_` and `-`) it is made of are safe in quotes.
    props.push(format!("  'storage.location.template' = '{template}'"));
    out.push_str(&format!("\nTBLPROPERTIES (\n{}\n);\n", props.join(",\n")));
    Ok(out)
}

/// Whether the location was given (`--location`) or is the lake's own path.
fn location_source(cfg: &DdlConfig) -> Source {
    if cfg.location.is_some() {
        Source::Location
    } else {
        Source::Lake
    }
}

/// DuckDB's view: `read_parquet` over exactly the partition folders (never `_flowlake/`), with the
/// partition keys typed as in the Athena table (strings).
///
/// The keys are read from each file's own path, the folders right above it (a pattern anchored at the
/// file name), never by DuckDB's `hive_partitioning`: that reads every `k=v` folder of the path, so a
/// lake stored under `.../year=2019/...` or `.../env=prod/...` would get a wrong `year` or an extra
/// column. DuckDB prunes files by the pattern as it would by hive keys.
///
/// The location may hold any character but `\` (it is spelled with `chr()` where it must, and its glob
/// characters match only themselves); names and partition keys that cannot be written safely are
/// refused (see [`sqltext`]).
pub fn duckdb(
    table: &LakeTable,
    cfg: &DdlConfig,
    location: &str,
) -> std::result::Result<String, Refused> {
    let mut glob = sqltext::duckdb_glob_prefix(&with_slash(location), location_source(cfg))?;
    let mut keys = Vec::with_capacity(table.partition_keys.len());
    for key in &table.partition_keys {
        let key = sqltext::partition_key(&key.name)?;
        glob.push_str(&format!("{key}=*/"));
        keys.push(key);
    }
    glob.push_str("*.parquet");
    // The column `read_parquet` adds with each file's path: a name no column of the lake has.
    let file_column = (0..)
        .map(|i| match i {
            0 => "flowlake_file".to_string(),
            i => format!("flowlake_file_{i}"),
        })
        .find(|name| table.columns.iter().all(|(c, _)| c != name))
        .unwrap_or_default();
    let mut out = format!(
        "-- DuckDB view over the flowlake lake at {} ({} Parquet files read).\n",
        sqltext::escaped(with_slash(location).as_bytes()),
        table.files
    );
    let name = match &cfg.database {
        Some(db) => {
            let db = sqltext::duckdb_ident(db, Source::Database)?;
            out.push_str(&format!("CREATE SCHEMA IF NOT EXISTS {db};\n"));
            format!(
                "{db}.{}",
                sqltext::duckdb_ident(cfg.table_name(), Source::Table)?
            )
        }
        None => sqltext::duckdb_ident(cfg.table_name(), Source::Table)?,
    };
    out.push_str(&format!("CREATE OR REPLACE VIEW {name} AS\nSELECT "));
    if keys.is_empty() {
        out.push('*');
    } else {
        out.push_str(&format!("* EXCLUDE ({file_column})"));
        for (i, key) in table.partition_keys.iter().enumerate() {
            // The folders right above the file name, this key's value the one group (any number of
            // keys: DuckDB numbers groups up to 9 only).
            let pattern: String = keys
                .iter()
                .enumerate()
                .map(|(j, k)| {
                    if i == j {
                        format!("/{k}=([^/]*)")
                    } else {
                        format!("/{k}=[^/]*")
                    }
                })
                .chain(["/[^/]*$".to_string()])
                .collect();
            out.push_str(&format!(
                ",\n  regexp_extract({file_column}, {}, 1) AS {}",
                sqltext::duckdb_string(&pattern),
                sqltext::duckdb_ident(&key.name, Source::PartitionKey)?
            ));
        }
    }
    out.push_str(&format!(
        "\nFROM read_parquet(\n  {},\n  hive_partitioning = false",
        sqltext::duckdb_string(&glob)
    ));
    if !keys.is_empty() {
        out.push_str(&format!(",\n  filename = '{file_column}'"));
    }
    out.push_str("\n);\n");
    Ok(out)
}

/// `  `name` type,` lines.
fn column_list(columns: &[(String, String)]) -> std::result::Result<String, Refused> {
    let lines: Vec<String> = columns
        .iter()
        .map(|(n, t)| Ok(format!("  {} {t}", sqltext::hive_ident(n, Source::Column)?)))
        .collect::<std::result::Result<_, Refused>>()?;
    Ok(lines.join(",\n") + "\n")
}

/// Projection properties of one key: zero-padded integer ranges for the date keys, enums otherwise.
fn projection(
    key: &PartitionKeyValues,
    this_year: i32,
) -> std::result::Result<Vec<(String, String)>, Refused> {
    let prop = |p: &str, v: String| {
        (
            format!("projection.{}.{p}", key.name.to_ascii_lowercase()),
            v,
        )
    };
    let numbers: Option<Vec<i32>> = key.values.iter().map(|v| v.parse().ok()).collect();
    let width = |w: usize| key.values.iter().all(|v| v.len() == w);
    if key.name == "eventDay"
        && !key.values.is_empty()
        && key
            .values
            .iter()
            .all(|v| v.len() == 8 && v.bytes().all(|b| b.is_ascii_digit()))
    {
        // Security Lake's day key (an OCSF lake): a date range from the first day found on.
        let first = key.values.iter().min().cloned().unwrap_or_default();
        return Ok(vec![
            prop("type", "date".into()),
            prop("format", "yyyyMMdd".into()),
            prop("range", format!("{first},NOW")),
            prop("interval", "1".into()),
            prop("interval.unit", "DAYS".into()),
        ]);
    }
    let range = match (key.name.as_str(), numbers) {
        ("year", Some(years)) if width(4) => {
            let first = years.iter().copied().min().unwrap_or(this_year);
            let last = years
                .iter()
                .copied()
                .max()
                .unwrap_or(this_year)
                .max(this_year);
            Some((format!("{first},{}", last + PROJECTED_YEARS_AHEAD), 4))
        }
        ("month", Some(_)) if width(2) => Some(("1,12".to_string(), 2)),
        ("day", Some(_)) if width(2) => Some(("1,31".to_string(), 2)),
        ("hour", Some(_)) if width(2) => Some(("0,23".to_string(), 2)),
        _ => None,
    };
    Ok(match range {
        Some((range, digits)) => vec![
            prop("type", "integer".into()),
            prop("range", range),
            prop("digits", digits.to_string()),
        ],
        None => vec![
            prop("type", "enum".into()),
            prop(
                "values",
                key.values
                    .iter()
                    .map(|v| sqltext::enum_value(v))
                    .collect::<std::result::Result<Vec<_>, Refused>>()?
                    .join(","),
            ),
        ],
    })
}

/// Folder path `a=1/b=2` as `[(a, 1), (b, 2)]`; `None` if a level is not `key=value`.
fn hive_pairs(dir: &str) -> Option<Vec<(String, String)>> {
    if dir.is_empty() {
        return Some(Vec::new());
    }
    dir.split(['/', '\\'])
        .map(|level| {
            let (k, v) = level.split_once('=')?;
            (!k.is_empty() && !v.is_empty()).then(|| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// A column type that a Hive table cannot declare.
#[derive(Debug, thiserror::Error)]
pub enum HiveTypeError {
    #[error("column `{column}` is a map of {entries}")]
    MapOf { column: String, entries: DataType },
    #[error("column `{column}` has type {ty}, which has no Hive equivalent")]
    NoEquivalent { column: String, ty: DataType },
    /// A struct field whose name Hive DDL cannot carry.
    #[error("{0}")]
    Name(#[from] Refused),
}

/// The Hive (Athena, Spark) type of an Arrow field read from Parquet.
pub fn hive_type(field: &Field) -> std::result::Result<String, HiveTypeError> {
    Ok(match field.data_type() {
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 => "smallint".into(),
        DataType::Int32 => "int".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "binary".into(),
        DataType::Date32 => "date".into(),
        DataType::Timestamp(_, _) => "timestamp".into(),
        DataType::Decimal128(p, s) => format!("decimal({p},{s})"),
        DataType::List(item) | DataType::LargeList(item) => {
            format!("array<{}>", hive_type(item)?)
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                format!("map<{},{}>", hive_type(&kv[0])?, hive_type(&kv[1])?)
            }
            other => {
                return Err(HiveTypeError::MapOf {
                    column: field.name().clone(),
                    entries: other.clone(),
                })
            }
        },
        DataType::Struct(fields) => {
            let inner: std::result::Result<Vec<String>, HiveTypeError> = fields
                .iter()
                .map(|f| {
                    Ok(format!(
                        "{}:{}",
                        sqltext::hive_ident(f.name(), Source::Column)?,
                        hive_type(f)?
                    ))
                })
                .collect();
            format!("struct<{}>", inner?.join(","))
        }
        other => {
            return Err(HiveTypeError::NoEquivalent {
                column: field.name().clone(),
                ty: other.clone(),
            })
        }
    })
}

fn with_slash(location: &str) -> String {
    if location.ends_with('/') {
        location.to_string()
    } else {
        format!("{location}/")
    }
}

fn this_year() -> i32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    crate::date::civil_from_days(secs.div_euclid(crate::date::SECS_PER_DAY)).0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, values: &[&str]) -> PartitionKeyValues {
        PartitionKeyValues {
            name: name.into(),
            values: values.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn aws_table() -> LakeTable {
        LakeTable {
            columns: vec![
                ("protocol".into(), "int".into()),
                ("end".into(), "bigint".into()),
                ("unknown_fields".into(), "map<string,string>".into()),
            ],
            partition_keys: vec![
                key("aws-account-id", &["111111111111", "222222222222"]),
                key("aws-service", &["vpcflowlogs"]),
                key("aws-region", &["eu-west-1"]),
                key("year", &["2023", "2024"]),
                key("month", &["03"]),
                key("day", &["09", "10"]),
            ],
            files: 4,
        }
    }

    #[test]
    fn athena_projects_dates_as_padded_integers_and_other_keys_as_enums() {
        let mut cfg = DdlConfig::new("lake".into());
        cfg.database = Some("logs".into());
        let sql = athena(&aws_table(), &cfg, "s3://b/p", 2026).unwrap();
        assert!(sql.contains("CREATE EXTERNAL TABLE IF NOT EXISTS `logs`.`vpc_flow_logs` ("));
        assert!(sql.contains(
            "  `protocol` int,\n  `end` bigint,\n  `unknown_fields` map<string,string>\n)"
        ));
        assert!(sql.contains("PARTITIONED BY (\n  `aws-account-id` string,"));
        assert!(sql.contains("LOCATION 's3://b/p/'"));
        assert!(sql.contains("'projection.aws-account-id.values' = '111111111111,222222222222'"));
        assert!(sql.contains("'projection.year.range' = '2023,2031'"));
        assert!(
            sql.contains("'projection.month.range' = '1,12',\n  'projection.month.digits' = '2'")
        );
        assert!(sql.contains("'storage.location.template' = 's3://b/p/aws-account-id=${aws-account-id}/aws-service=${aws-service}/aws-region=${aws-region}/year=${year}/month=${month}/day=${day}/'"));
        assert!(sql.ends_with(");\n"));
    }

    #[test]
    fn duckdb_reads_exactly_the_partition_folders() {
        let sql = duckdb(&aws_table(), &DdlConfig::new("lake".into()), "/data/lake").unwrap();
        assert!(sql.contains("CREATE OR REPLACE VIEW \"vpc_flow_logs\" AS"));
        assert!(sql.contains("'/data/lake/aws-account-id=*/aws-service=*/aws-region=*/year=*/month=*/day=*/*.parquet'"));
        assert!(sql.contains("SELECT * EXCLUDE (flowlake_file),\n  regexp_extract(flowlake_file, '/aws-account-id=([^/]*)/aws-service=[^/]*/aws-region=[^/]*/year=[^/]*/month=[^/]*/day=[^/]*/[^/]*$', 1) AS \"aws-account-id\","));
        assert!(sql.contains("regexp_extract(flowlake_file, '/aws-account-id=[^/]*/aws-service=[^/]*/aws-region=[^/]*/year=[^/]*/month=[^/]*/day=([^/]*)/[^/]*$', 1) AS \"day\"\nFROM read_parquet("));
        assert!(sql.contains("hive_partitioning = false,\n  filename = 'flowlake_file'\n);"));
        // A lake with a column of that name gets another one.
        let mut table = aws_table();
        table
            .columns
            .push(("flowlake_file".into(), "string".into()));
        let sql = duckdb(&table, &DdlConfig::new("lake".into()), "/data/lake").unwrap();
        assert!(sql.contains("EXCLUDE (flowlake_file_1)"));
        assert!(sql.contains("filename = 'flowlake_file_1'"));
    }

    #[test]
    fn odd_values_fall_back_to_enums_and_folders_must_be_hive() {
        let p = projection(&key("month", &["3", "12"]), 2026).unwrap();
        assert_eq!(p[0].1, "enum");
        assert_eq!(p[1].1, "12,3");
        assert_eq!(hive_pairs("year=2024/month=03").map(|v| v.len()), Some(2));
        assert_eq!(hive_pairs("2024/03"), None);
        assert_eq!(hive_pairs("year=/month=03"), None);
        assert_eq!(hive_pairs(""), Some(vec![]));
    }
}
