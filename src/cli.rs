//! Command-line interface.

use crate::config::{Overrides, Settings};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "redhive",
    version,
    about = "A multi-tenant Node-RED appliance in one binary"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Settings file (TOML). Default: <data-dir>/redhive.toml when it exists [env: REDHIVE_CONFIG]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory [default: ./redhive-data] [env: REDHIVE_DATA_DIR]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the appliance: HTTP front and the MongoDB wire-protocol shim.
    Serve(ServeArgs),
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// HTTP address [default: 127.0.0.1:8080] [env: REDHIVE_LISTEN]
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// MongoDB shim address [default: 127.0.0.1:27017, or the next free port up to 27027]
    /// [env: REDHIVE_MONGO_LISTEN]
    #[arg(long, value_name = "ADDR:PORT")]
    pub mongo_listen: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant: its database, database user and optionally its first editor user.
    /// Prints the tenant's MongoDB connection string as the last line.
    Add {
        /// Tenant name: a DNS label (a-z, 0-9, '-'; starts with a letter)
        name: String,
        /// Also create this Node-RED editor user (permission `*`)
        #[arg(long, requires = "password_file")]
        user: Option<String>,
        /// File holding the editor user's password (`-` = standard input)
        #[arg(long, value_name = "FILE", requires = "user")]
        password_file: Option<PathBuf>,
    },
    /// Print the environment a runtime of this tenant gets, one KEY=VALUE per line.
    Env { name: String },
}

// === impl Cli ===

impl Cli {
    /// Settings for this invocation: file, environment, then flags.
    pub fn settings(&self) -> Result<Settings, crate::config::ConfigError> {
        let mut overrides = Overrides {
            config_file: self.global.config.clone(),
            data_dir: self.global.data_dir.clone(),
            ..Default::default()
        };
        if let Command::Serve(serve) = &self.command {
            overrides.listen = serve.listen.clone();
            overrides.mongo_listen = serve.mongo_listen.clone();
        }
        Settings::load(&overrides)
    }
}
