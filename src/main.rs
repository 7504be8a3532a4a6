//! The `redhive` binary: parse arguments, set up logging, run a subcommand, map failure to an
//! exit code.

use clap::Parser;
use redhive::cli::{Cli, Command, TenantCommand};
use std::process::ExitCode;

/// sysexits: configuration errors are EX_CONFIG, everything else a plain failure.
const EX_CONFIG: u8 = 78;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let settings = match cli.settings() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("redhive: {error}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("redhive: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Serve(_) => redhive::app::serve(settings).await,
            Command::Tenant(TenantCommand::Add { name }) => {
                let uri = redhive::app::tenant_add(settings, name).await?;
                println!("created tenant {name}: database {name}, user {name} (readWrite on {name} only)");
                println!("{uri}");
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("redhive: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr, filtered by REDHIVE_LOG (tracing's env-filter syntax; default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("REDHIVE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}
