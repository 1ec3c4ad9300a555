//! What the `flowlake` command prints: each command's report for people (a summary and its notable
//! lines on stderr) and, with `--json`, for programs (one JSON object on stdout).
//!
//! One function per report. The library never prints; `main.rs` runs a command and hands its report
//! here. Lists that can grow with the input (failed files, warnings, vanished inputs, verify's
//! problems) are cut to their first entries on the terminal; the JSON report has them all.

use std::error::Error;
use std::io::Write;
use std::path::Path;

use flowlake::compact::CompactReport;
use flowlake::convert::report::human_bytes;
use flowlake::convert::{InflateReport, ShardPlanReport};
use flowlake::ddl::{DdlConfig, Engine};
use flowlake::synth::GenerateReport;
use flowlake::verify::VerifyReport;
use flowlake::Report;

/// Failed files, warnings and vanished inputs listed on the terminal (the JSON report has them all).
const CONVERT_LISTED: usize = 20;
/// Problems listed on the terminal by `verify`.
const VERIFY_LISTED: usize = 50;

/// What printing can fail with: writing to stdout (a closed pipe), or encoding the JSON.
pub type Printed = Result<(), Box<dyn Error>>;

/// `convert`: the JSON report with `json`; unless `quiet`, the summary line and what needs a look
/// (failed files, partitions not published or not rebuilt, warnings, vanished inputs, the rejects
/// sidecar).
pub fn convert(report: &Report, json: bool, quiet: bool) -> Printed {
    if json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, report)?;
        writeln!(out)?;
    }
    if quiet {
        return Ok(());
    }
    eprintln!("{}", report.summary_line());
    if let Some(e) = &report.enrichment {
        let data: Vec<String> = e.data.iter().map(|d| d.describe()).collect();
        eprintln!(
            "  enriched with {}{}: {} lookups for {} addresses",
            e.enrich.describe(),
            if data.is_empty() {
                String::new()
            } else {
                format!(" ({})", data.join(", "))
            },
            e.count.lookups,
            e.count.addresses
        );
    }
    let sections = std::iter::once(report).chain(report.transit_gateway.as_deref());
    for report in sections {
        print_details(report);
    }
    Ok(())
}

/// What of one lake's report needs a look.
fn print_details(report: &Report) {
    print_failed(&report.failed);
    let skipped = report.skipped.iter().filter(|s| s.flow_log);
    for s in skipped.take(CONVERT_LISTED) {
        eprintln!("  skipped: {}: {}", s.path.display(), s.reason);
    }
    for a in &report.aborted {
        eprintln!(
            "  NOT PUBLISHED: {}: {} ({} of {} lines rejected)",
            a.path, a.reason, a.rejected, a.lines
        );
    }
    for h in &report.held {
        eprintln!("  NOT REBUILT: {}: {}", h.path, h.reason);
    }
    for w in report.warnings.iter().take(CONVERT_LISTED) {
        eprintln!("  warning: {}: {}", w.path.display(), w.message);
    }
    for v in report.vanished.iter().take(CONVERT_LISTED) {
        let rows = if v.kept {
            "its rows stay in the lake"
        } else {
            "its rows were removed: --mirror-deletions"
        };
        eprintln!("  vanished: {} ({}; {rows})", v.path.display(), v.partition);
    }
    if let Some(path) = &report.rejects_file {
        eprintln!(
            "  {} rejected lines listed in {}",
            report.rejected,
            path.display()
        );
    }
}

/// `plan`: the JSON report with `json`, else the plan's id alone on stdout (for scripts); unless
/// `quiet`, the summary line, each shard's work and what needs a look on stderr.
pub fn plan(report: &ShardPlanReport, json: bool, quiet: bool) -> Printed {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer(&mut out, report)?;
        writeln!(out)?;
    } else {
        writeln!(out, "{}", report.id)?;
    }
    if quiet {
        return Ok(());
    }
    eprintln!("{}", report.summary_line());
    for s in &report.shards {
        eprintln!(
            "  shard {}/{}: {} partitions, {} files, {}",
            s.shard,
            report.shard_count,
            s.partitions,
            s.files,
            human_bytes(s.bytes)
        );
    }
    print_failed(&report.failed);
    for h in &report.held {
        eprintln!("  NOT REBUILT: {}: {}", h.path, h.reason);
    }
    for w in report.warnings.iter().take(CONVERT_LISTED) {
        eprintln!("  warning: {}: {}", w.path.display(), w.message);
    }
    eprintln!(
        "  run shard K of {}: flowlake convert --out {} --plan {} --shard K/{}",
        report.shard_count,
        report.lake.display(),
        report.id,
        report.shard_count
    );
    Ok(())
}

/// `verify`: the JSON report with `json`; always the counts, the problems, the runs writing the lake
/// and the partitions being published or left unfinished.
pub fn verify(report: &VerifyReport, json: bool) -> Printed {
    if json {
        println!("{}", serde_json::to_string(report)?);
    }
    eprintln!(
        "{} partitions, {} files, {} rows checked; {} problems",
        report.partitions,
        report.files,
        report.rows,
        report.problems.len()
    );
    for p in report.problems.iter().take(VERIFY_LISTED) {
        eprintln!("  {:?}: {}: {}", p.kind, p.path.display(), p.message);
    }
    if !report.enrich.is_empty() {
        eprintln!("  enriched with {}", report.enrich.describe());
    }
    for e in &report.enriched_with {
        eprintln!(
            "  {} {}: {} partitions",
            e.data.data.flag().trim_start_matches('-'),
            e.data.describe(),
            e.partitions
        );
    }
    for w in &report.writers {
        eprintln!("  a run is writing the lake: {w}");
    }
    if !report.in_progress.is_empty() {
        eprintln!(
            "  partitions being published while verify ran (differences there are not \
             problems): {}",
            report.in_progress.join(", ")
        );
    }
    if !report.interrupted.is_empty() {
        eprintln!(
            "  a stopped run left the publish of {} partitions unfinished (journal marks; \
             the next convert, or compact, repairs them): {}",
            report.interrupted.len(),
            report.interrupted.join(", ")
        );
    }
    Ok(())
}

/// `compact`: the JSON report with `json`, else a dry run's plan as a tab-separated table on stdout;
/// unless `quiet`, warnings, repaired partitions, the summary line and the failures.
pub fn compact(report: &CompactReport, json: bool, quiet: bool) -> Printed {
    if json {
        println!("{}", serde_json::to_string(report)?);
    } else if report.dry_run {
        let mut out = std::io::stdout().lock();
        writeln!(out, "partition\tfiles_in\tbytes_in\trows\tfiles_out")?;
        for p in &report.compacted {
            writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}",
                p.path, p.files_in, p.bytes_in, p.rows, p.files_out
            )?;
        }
    }
    if quiet {
        return Ok(());
    }
    for w in &report.warnings {
        eprintln!("  warning: {w}");
    }
    for p in &report.repaired {
        eprintln!("  recorded the files of {p} (its compaction had been interrupted)");
    }
    eprintln!("{}", report.summary_line());
    for f in &report.failed {
        eprintln!("  FAILED: {}: {}", f.path, f.message);
    }
    Ok(())
}

/// `ddl`: the statement on stdout, and a note when an Athena table would point at a local folder.
pub fn ddl(sql: &str, config: &DdlConfig) {
    print!("{sql}");
    if config.engine == Engine::Athena && flowlake::ddl::location_is_local(config) {
        eprintln!("note: Athena reads s3:// locations; pass --location s3://<bucket>/<prefix>/ where the lake is uploaded");
    }
}

/// `inflate` (the benchmark floor): always the JSON report.
pub fn inflate(report: &InflateReport) -> Printed {
    println!("{}", serde_json::to_string(report)?);
    Ok(())
}

/// `generate`: the counts as JSON with `json`; always a line with the counts and where the files are.
pub fn generate(report: &GenerateReport, out: &Path, json: bool) -> Printed {
    if json {
        println!(
            "{}",
            serde_json::json!({"files": report.files, "lines": report.lines,
                "text_bytes": report.text_bytes, "gzip_bytes": report.gzip_bytes,
                "control_messages": report.control_messages})
        );
    }
    eprintln!(
        "generated {} files, {} lines, {} bytes of text, {} bytes gzipped under {}",
        report.files,
        report.lines,
        report.text_bytes,
        report.gzip_bytes,
        out.display()
    );
    Ok(())
}

/// The first failed files of a convert or plan report, one line each.
fn print_failed(failed: &[flowlake::convert::report::FailedFile]) {
    for f in failed.iter().take(CONVERT_LISTED) {
        eprintln!(
            "  failed: {} ({:?}): {}",
            f.path.display(),
            f.kind,
            f.message
        );
    }
}
