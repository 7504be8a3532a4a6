//! The `redhive` binary: parse arguments, set up logging, run a subcommand, map failure to an
//! exit code.

use anyhow::Context;
use clap::Parser;
use redhive::cli::{Cli, Command, TenantCommand};
use redhive::control::{EditorSpec, Request};
use std::io::Read;
use std::path::Path;
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
        let request = match cli.command {
            Command::Serve(_) => return redhive::app::serve(settings).await,
            Command::Tenant(TenantCommand::Add {
                name,
                user,
                password_file,
            }) => {
                let editor = match (user, password_file) {
                    (Some(username), Some(file)) => Some(EditorSpec {
                        username,
                        password: read_password(&file)?,
                    }),
                    _ => None,
                };
                Request::TenantAdd { name, editor }
            }
            Command::Tenant(TenantCommand::Env { name }) => Request::TenantEnv { name },
            Command::Tenant(TenantCommand::Start { name }) => Request::TenantStart { name },
            Command::Tenant(TenantCommand::Stop { name }) => Request::TenantStop { name },
            Command::Tenant(TenantCommand::Restart { name }) => Request::TenantRestart { name },
            Command::Tenant(TenantCommand::Remove { name }) => Request::TenantRemove { name },
            Command::Tenant(TenantCommand::Status { name, json }) => {
                Request::TenantStatus { name, json }
            }
            Command::Tenant(TenantCommand::Logs { name, tail, follow }) => {
                Request::TenantLogs { name, tail, follow }
            }
            Command::Tenant(TenantCommand::Limits {
                name,
                memory,
                cpus,
                pids,
            }) => Request::TenantLimits {
                name,
                memory_bytes: memory,
                cpus,
                pids,
            },
            Command::FactoryReset => Request::FactoryReset,
            Command::Prepare => return redhive::app::prepare(&settings).await,
            Command::Doctor { json } => {
                for line in redhive::doctor::report(&settings, json).await {
                    println!("{line}");
                }
                return Ok(());
            }
        };
        redhive::app::control(settings, request, |line| println!("{line}")).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("redhive: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// A password from a file (`-` = stdin), without its trailing newline.
fn read_password(path: &Path) -> anyhow::Result<String> {
    let mut text = String::new();
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the password from standard input")?;
    } else {
        text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the password file {}", path.display()))?;
    }
    Ok(text.trim_end_matches(['\r', '\n']).to_string())
}

/// Logs go to stderr, filtered by REDHIVE_LOG (tracing's env-filter syntax; default `info`);
/// under systemd (stderr connected to the journal) straight to journald instead, with every
/// field a journal field: `journalctl -u redhive TENANT=r1`.
fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_env("REDHIVE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let journal = std::env::var_os("JOURNAL_STREAM")
        .and_then(|_| tracing_journald::layer().ok())
        // No "F_" prefix (the crate's default): fields keep their names, TENANT=r1.
        .map(|layer| {
            layer
                .with_syslog_identifier("redhive".into())
                .with_field_prefix(None)
        });
    let stderr = journal.is_none().then(|| {
        tracing_subscriber::fmt::layer()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(journal)
        .with(stderr)
        .init();
}
