//! The `flowlake` command: parse the flags, run the command, print its report (`render.rs`), and exit
//! with a code that says how it went.

mod cli;
mod progress;
mod render;

use std::error::Error;
use std::process::ExitCode;

use clap::Parser;
use flowlake::ddl::DdlError;

use cli::{Cli, Command, UsageError};

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

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("flowlake: error: {err:#}");
            if err.is::<UsageError>() {
                ExitCode::from(EXIT_USAGE)
            } else if let Some(flowlake::Error::Interrupted) = err.downcast_ref() {
                ExitCode::from(EXIT_INTERRUPTED)
            } else {
                ExitCode::from(EXIT_FATAL)
            }
        }
    }
}

/// Runs one command and prints its report; the exit code says whether everything went through.
fn run(cli: Cli) -> Result<ExitCode, Box<dyn Error>> {
    Ok(match cli.command {
        Command::Convert(args) => {
            let (json, quiet) = (args.json, args.quiet);
            let config = args.into_config()?;
            let report =
                flowlake::convert(&config, &progress::Bar::new(quiet)?).map_err(usage_if_data)?;
            render::convert(&report, json, quiet)?;
            if !report.has_aborted() {
                clean_or_rejects(report.is_clean())
            } else {
                ExitCode::from(EXIT_ABORTED_PARTITIONS)
            }
        }
        Command::Plan(args) => {
            let (json, quiet) = (args.json, args.quiet);
            let (config, shards) = args.into_config()?;
            let report = flowlake::convert::plan_shards(&config, shards).map_err(usage_if_data)?;
            render::plan(&report, json, quiet)?;
            clean_or_rejects(report.is_clean())
        }
        Command::Verify(args) => {
            let report = flowlake::verify::verify_at(&args.lake, args.endpoint.as_deref())?;
            render::verify(&report, args.json)?;
            clean_or_rejects(report.is_ok())
        }
        Command::Compact(args) => {
            let (json, quiet) = (args.json, args.quiet);
            let report = flowlake::compact::compact(&args.into_config()?)?;
            render::compact(&report, json, quiet)?;
            clean_or_rejects(report.failed.is_empty())
        }
        Command::Ddl(args) => {
            let config = args.into_config();
            let sql = flowlake::ddl::ddl(&config).map_err(|err| -> Box<dyn Error> {
                match err {
                    DdlError::Refused(e) if e.what().is_argument() => UsageError::Refused(e).into(),
                    err => err.into(),
                }
            })?;
            render::ddl(&sql, &config);
            ExitCode::SUCCESS
        }
        Command::Inflate(args) => {
            let mut config = flowlake::ConvertConfig::new(args.inputs, "-".into());
            config.threads = args.threads;
            flowlake::threads::validate(config.threads).map_err(UsageError::Settings)?;
            render::inflate(&flowlake::convert::decompress_only(&config)?)?;
            ExitCode::SUCCESS
        }
        Command::Generate(args) => {
            let json = args.json;
            let config = args.into_config()?;
            render::generate(&flowlake::synth::generate(&config)?, &config.out, json)?;
            ExitCode::SUCCESS
        }
    })
}

/// Success when `clean`, else [`EXIT_WITH_REJECTS`].
/// A data file that cannot serve its setting is a usage error; other errors are what they are.
fn usage_if_data(e: flowlake::Error) -> Box<dyn Error> {
    match e {
        flowlake::Error::DataFile(_) => UsageError::Settings(e).into(),
        e => e.into(),
    }
}

fn clean_or_rejects(clean: bool) -> ExitCode {
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_WITH_REJECTS)
    }
}
