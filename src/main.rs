//! The `flowlake` command: parse flags, run the library, print the report, map it to an exit code.

mod cli;
mod progress;

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Parser;

use cli::{Cli, Command};

/// Exit code: the run completed, but some lines were rejected or some files could not be read.
pub const EXIT_WITH_REJECTS: u8 = 3;
/// Exit code: some partitions were not published (reject ratio above `--max-reject-ratio`).
pub const EXIT_ABORTED_PARTITIONS: u8 = 4;
/// Exit code: a fatal error (I/O on the lake, invalid settings, ...).
pub const EXIT_FATAL: u8 = 1;
/// Exit code: stopped by SIGINT or SIGTERM (128 + SIGINT, the shell convention).
pub const EXIT_INTERRUPTED: u8 = 130;
/// Exit code: invalid flags or settings (the same code clap uses).
pub const EXIT_USAGE: u8 = 2;

fn usage_error(message: &str) -> ExitCode {
    eprintln!("flowlake: error: {message}");
    ExitCode::from(EXIT_USAGE)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("flowlake: error: {err:#}");
            match err.downcast_ref::<flowlake::Error>() {
                Some(flowlake::Error::Interrupted) => ExitCode::from(EXIT_INTERRUPTED),
                _ => ExitCode::from(EXIT_FATAL),
            }
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match cli.command {
        Command::Convert(args) => {
            let json = args.json;
            let quiet = args.quiet;
            let config = match args.into_config() {
                Ok(c) => c,
                Err(e) => return Ok(usage_error(&e)),
            };
            let stop = Arc::new(AtomicBool::new(false));
            let flag = stop.clone();
            // SIGINT/SIGTERM: stop at the next file or partition boundary; nothing half-done is published.
            ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))?;
            let bar = progress::Bar::new(quiet, stop);
            let report = flowlake::convert(&config, &bar)?;
            if json {
                let mut out = std::io::stdout().lock();
                serde_json::to_writer(&mut out, &report)?;
                writeln!(out)?;
            }
            if !quiet {
                eprintln!("{}", report.summary_line());
                for f in report.failed.iter().take(20) {
                    eprintln!(
                        "  failed: {} ({:?}): {}",
                        f.path.display(),
                        f.kind,
                        f.message
                    );
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
                for w in report.warnings.iter().take(20) {
                    eprintln!("  warning: {}: {}", w.path.display(), w.message);
                }
                for v in report.vanished.iter().take(20) {
                    eprintln!(
                        "  vanished: {} ({}; {})",
                        v.path.display(),
                        v.partition,
                        if v.kept {
                            "its rows stay in the lake"
                        } else {
                            "its rows were removed: --mirror-deletions"
                        }
                    );
                }
                if let Some(path) = &report.rejects_file {
                    eprintln!(
                        "  {} rejected lines listed in {}",
                        report.rejected,
                        path.display()
                    );
                }
            }
            Ok(if !report.aborted.is_empty() {
                ExitCode::from(EXIT_ABORTED_PARTITIONS)
            } else if report.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_WITH_REJECTS)
            })
        }
        Command::Verify(args) => {
            let report = flowlake::verify::verify_at(&args.lake, args.endpoint.as_deref())?;
            if args.json {
                println!("{}", serde_json::to_string(&report)?);
            }
            eprintln!(
                "{} partitions, {} files, {} rows checked; {} problems",
                report.partitions,
                report.files,
                report.rows,
                report.problems.len()
            );
            for p in report.problems.iter().take(50) {
                eprintln!("  {:?}: {}: {}", p.kind, p.path.display(), p.message);
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
            Ok(if report.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_WITH_REJECTS)
            })
        }
        Command::Compact(args) => {
            let (json, quiet) = (args.json, args.quiet);
            let config = match args.into_config() {
                Ok(c) => c,
                Err(e) => return Ok(usage_error(&e)),
            };
            let report = flowlake::compact::compact(&config)?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else if config.dry_run {
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
            if !quiet {
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
            }
            Ok(if report.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_WITH_REJECTS)
            })
        }
        Command::Ddl(args) => {
            let config = args.into_config();
            let sql = match flowlake::ddl::ddl(&config) {
                Ok(sql) => sql,
                Err(flowlake::ddl::DdlError::Refused(e)) if e.what().is_argument() => {
                    return Ok(usage_error(&format!("refused: {e}")))
                }
                Err(e) => return Err(e.into()),
            };
            print!("{sql}");
            if config.engine == flowlake::ddl::Engine::Athena
                && flowlake::ddl::location_is_local(&config)
            {
                eprintln!("note: Athena reads s3:// locations; pass --location s3://<bucket>/<prefix>/ where the lake is uploaded");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Inflate(args) => {
            let mut config =
                flowlake::ConvertConfig::new(args.inputs, std::path::PathBuf::from("-"));
            config.threads = args.threads;
            if let Err(e) = flowlake::threads::validate(config.threads) {
                return Ok(usage_error(&e.to_string()));
            }
            let report = flowlake::convert::decompress_only(&config)?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate(args) => {
            let json = args.json;
            let config = match args.into_config() {
                Ok(c) => c,
                Err(e) => return Ok(usage_error(&e)),
            };
            let report = flowlake::synth::generate(&config)?;
            let line = format!(
                "generated {} files, {} lines, {} bytes of text, {} bytes gzipped under {}",
                report.files,
                report.lines,
                report.text_bytes,
                report.gzip_bytes,
                config.out.display()
            );
            if json {
                println!(
                    "{}",
                    serde_json::json!({"files": report.files, "lines": report.lines,
                        "text_bytes": report.text_bytes, "gzip_bytes": report.gzip_bytes,
                        "control_messages": report.control_messages})
                );
            }
            eprintln!("{line}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
