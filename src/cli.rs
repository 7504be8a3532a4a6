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
    /// Check what tenant runtimes and their limits need, and say how to fix what is missing.
    Doctor {
        /// One JSON object instead of text
        #[arg(long)]
        json: bool,
    },
    /// Install Node.js, Node-RED, redhive's plugins and Verdaccio into the node home now, with
    /// npm (the appliance image is built this way; elsewhere they come on first use).
    Prepare,
    /// Forget the admin accounts and sessions so the setup wizard runs again (tenants, their
    /// flows and the appliance settings are kept).
    FactoryReset,
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
    /// Start the tenant's Node-RED and wait until its editor answers.
    Start { name: String },
    /// Stop the tenant's Node-RED.
    Stop { name: String },
    /// Restart the tenant (also leaves safe mode).
    Restart { name: String },
    /// Delete the tenant: its runtime, files, database and users.
    Remove { name: String },
    /// State, limits, usage and editor URL of one tenant or all.
    Status {
        name: Option<String>,
        /// JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Node-RED's output.
    Logs {
        name: String,
        /// How many recent lines
        #[arg(long, default_value_t = 100)]
        tail: usize,
        /// Keep printing new lines
        #[arg(long, short)]
        follow: bool,
    },
    /// Change the tenant's limits; a running tenant restarts to take them.
    Limits {
        name: String,
        /// Memory, e.g. 256M or 1G (no swap on top)
        #[arg(long, value_parser = parse_memory)]
        memory: Option<u64>,
        /// CPU cores, e.g. 0.5
        #[arg(long, value_parser = parse_cpus)]
        cpus: Option<f64>,
        /// Most processes and threads
        #[arg(long)]
        pids: Option<u32>,
    },
}

fn parse_memory(text: &str) -> Result<u64, String> {
    crate::runtime::limits::parse_bytes(text).map_err(|e| e.to_string())
}

fn parse_cpus(text: &str) -> Result<f64, String> {
    crate::runtime::limits::parse_cpus(text).map_err(|e| e.to_string())
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
