//! What the process runtime runs: Node.js 22, Node-RED and redhive's own plugins, in one
//! directory (`runtime.node_home`, default `<data-dir>/runtime`):
//!
//! ```text
//! node/bin/node                          Node.js (npm package node-linux-<arch>)
//! node-red/node_modules/node-red/red.js  Node-RED
//! node-red/redhive/settings.js, ...      custom-node-red/, embedded in this binary
//! ```
//!
//! `node-red/` has the layout of `/usr/src/node-red` in the tenant image, so the process
//! runtime's jail mounts it there and both runtimes run the same `image/entrypoint.sh`.
//!
//! ```text
//! .installed                             what was installed, to notice an upgrade
//! ```
//!
//! Missing pieces are installed with npm on first use (the only network access redhive makes).

use super::RuntimeError;
use std::path::{Path, PathBuf};
use tokio::process::Command;

pub const NODE_VERSION: &str = "22.23.3";
pub const NODE_RED_VERSION: &str = "5.0.7";
pub const VERDACCIO_VERSION: &str = "6.8.0";

/// custom-node-red/ without tests and installed modules: settings.js and the plugins.
#[derive(rust_embed::Embed)]
#[folder = "custom-node-red/"]
#[include = "package.json"]
#[include = "package-lock.json"]
#[include = "settings.js"]
#[include = "lib/*.js"]
#[include = "storage/*"]
#[include = "auth/*"]
#[include = "image/entrypoint.sh"]
#[exclude = "*/node_modules/*"]
struct Plugins;

#[derive(Debug, Clone)]
pub struct NodeHome {
    root: PathBuf,
}

impl NodeHome {
    pub fn new(root: PathBuf) -> NodeHome {
        NodeHome { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Directory with `bin/node`.
    pub fn node_dir(&self) -> PathBuf {
        self.root.join("node")
    }

    /// Directory with `node_modules/node-red`.
    pub fn node_red_dir(&self) -> PathBuf {
        self.root.join("node-red")
    }

    /// Directory with settings.js, the plugins and the entrypoint.
    pub fn redhive_dir(&self) -> PathBuf {
        self.node_red_dir().join("redhive")
    }

    /// Verdaccio's command (the private registry), once installed.
    pub fn verdaccio_main(&self) -> PathBuf {
        self.root
            .join("verdaccio/node_modules/verdaccio/bin/verdaccio")
    }

    /// `bin/` of Node.js, npm beside it.
    pub fn node_bin(&self) -> PathBuf {
        self.node_dir().join("bin")
    }

    /// Node.js (see `ensure`) and Verdaccio, installed with npm when missing.
    pub async fn ensure_verdaccio(&self, progress: impl Fn(&str)) -> Result<(), RuntimeError> {
        self.ensure(&progress).await?;
        if self.verdaccio_main().exists() {
            return Ok(());
        }
        progress(&format!(
            "installing Verdaccio {VERDACCIO_VERSION} with npm"
        ));
        let dir = self.root.join("verdaccio");
        std::fs::create_dir_all(&dir)?;
        // Verdaccio 6.8.0 is known to install and run with node-fetch pinned to 2.7.0.
        let manifest = serde_json::json!({
            "private": true,
            "dependencies": {"verdaccio": VERDACCIO_VERSION},
            "overrides": {"node-fetch": "2.7.0"},
        });
        std::fs::write(dir.join("package.json"), manifest.to_string())?;
        npm(&dir, &["install"], Some(&self.node_bin())).await
    }

    fn marker(&self) -> PathBuf {
        self.root.join(".installed")
    }

    /// What a complete install of this binary's versions writes into `.installed`.
    fn wanted_marker() -> String {
        let mut hasher = sha2::Sha256::default();
        let mut names: Vec<_> = Plugins::iter().collect();
        names.sort();
        for name in names {
            if let Some(file) = Plugins::get(&name) {
                sha2::Digest::update(&mut hasher, name.as_bytes());
                sha2::Digest::update(&mut hasher, &file.data);
            }
        }
        let digest = sha2::Digest::finalize(hasher);
        format!(
            "node {NODE_VERSION}\nnode-red {NODE_RED_VERSION}\nplugins {}\n",
            hex(&digest[..8])
        )
    }

    /// Every piece present. A home without `.installed` was prepared by hand and is used
    /// as it is; one written by an older redhive is brought up to date.
    pub fn is_ready(&self) -> bool {
        let present = self.node_dir().join("bin/node").exists()
            && self
                .node_red_dir()
                .join("node_modules/node-red/red.js")
                .exists()
            && self.redhive_dir().join("image/entrypoint.sh").exists();
        let current = match std::fs::read_to_string(self.marker()) {
            Ok(marker) => marker == Self::wanted_marker(),
            Err(_) => true,
        };
        present && current
    }

    /// Install what is missing; `progress` hears each step. Concurrent callers (two servers
    /// sharing a home) take turns on a lock file.
    pub async fn ensure(&self, progress: impl Fn(&str)) -> Result<(), RuntimeError> {
        if self.is_ready() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.root)?;
        let lock_path = self.root.join(".install.lock");
        let lock = tokio::task::spawn_blocking(move || {
            let file = std::fs::File::create(&lock_path)?;
            file.lock()?;
            Ok::<_, std::io::Error>(file)
        })
        .await
        .map_err(|e| RuntimeError::NodeHome(e.to_string()))??;
        let result = if self.is_ready() {
            Ok(())
        } else {
            self.install(&progress).await
        };
        drop(lock);
        result
    }

    async fn install(&self, progress: &impl Fn(&str)) -> Result<(), RuntimeError> {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "x64",
            "aarch64" => "arm64",
            other => {
                return Err(RuntimeError::NodeHome(format!(
                    "no Node.js package for {other}"
                )))
            }
        };
        let node_package = format!("node-linux-{arch}");
        if !self.node_dir().join("bin/node").exists() {
            progress(&format!("installing Node.js {NODE_VERSION} with npm"));
            let staging = self.root.join("node-package");
            // npm runs on the host's Node.js, of another architecture when an image is built
            // for the Pi: its platform check would refuse the package redhive chose.
            npm_install(
                &staging,
                &[(&node_package, NODE_VERSION)],
                None,
                &["--force"],
            )
            .await?;
            // Relative, so the home can be built in one place and copied to another (the
            // appliance image).
            replace_symlink(
                &Path::new("node-package/node_modules").join(&node_package),
                &self.node_dir(),
            )?;
        }
        let node_bin = self.node_dir().join("bin");
        if !self
            .node_red_dir()
            .join("node_modules/node-red/red.js")
            .exists()
        {
            progress(&format!("installing Node-RED {NODE_RED_VERSION} with npm"));
            npm_install(
                &self.node_red_dir(),
                &[("node-red", NODE_RED_VERSION)],
                Some(&node_bin),
                &[],
            )
            .await?;
        }
        progress("installing redhive's Node-RED plugins");
        let redhive = self.redhive_dir();
        if redhive.exists() {
            std::fs::remove_dir_all(&redhive)?;
        }
        for name in Plugins::iter() {
            let Some(file) = Plugins::get(&name) else {
                continue;
            };
            let path = redhive.join(name.as_ref());
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, &file.data)?;
        }
        npm(&redhive, &["ci"], Some(&node_bin)).await?;
        std::fs::write(self.marker(), Self::wanted_marker())?;
        progress("Node-RED is installed");
        Ok(())
    }
}

/// `npm install` of exact versions into `dir` (which gets a package.json of its own).
async fn npm_install(
    dir: &Path,
    packages: &[(&str, &str)],
    node_bin: Option<&Path>,
    flags: &[&str],
) -> Result<(), RuntimeError> {
    std::fs::create_dir_all(dir)?;
    let dependencies: serde_json::Map<String, serde_json::Value> = packages
        .iter()
        .map(|(name, version)| (name.to_string(), serde_json::Value::from(*version)))
        .collect();
    let manifest = serde_json::json!({"private": true, "dependencies": dependencies});
    std::fs::write(dir.join("package.json"), manifest.to_string())?;
    let args: Vec<&str> = std::iter::once("install")
        .chain(flags.iter().copied())
        .collect();
    npm(dir, &args, node_bin).await
}

/// Run npm in `dir`, with `node_bin` first on PATH so engines checks and native modules see
/// the Node.js that will run them.
async fn npm(dir: &Path, args: &[&str], node_bin: Option<&Path>) -> Result<(), RuntimeError> {
    let mut command = Command::new("npm");
    command
        .args(args)
        .args(["--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .kill_on_drop(true);
    if let Some(bin) = node_bin {
        let path = std::env::var("PATH").unwrap_or_default();
        command.env("PATH", format!("{}:{path}", bin.display()));
    }
    let output = command.output().await.map_err(|e| {
        RuntimeError::NodeHome(format!(
            "cannot run npm ({e}): install npm, or prepare runtime.node_home by hand"
        ))
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
        return Err(RuntimeError::NodeHome(format!(
            "`npm {}` in {} failed ({}): {}",
            args.join(" "),
            dir.display(),
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        )));
    }
    Ok(())
}

fn replace_symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    if link.symlink_metadata().is_ok() {
        std::fs::remove_file(link)?;
    }
    std::os::unix::fs::symlink(target, link)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plugins_are_embedded_without_their_modules() {
        let names: Vec<String> = Plugins::iter().map(|n| n.to_string()).collect();
        for wanted in [
            "settings.js",
            "lib/build-settings.js",
            "storage/index.js",
            "auth/index.js",
            "package-lock.json",
            "image/entrypoint.sh",
        ] {
            assert!(names.iter().any(|n| n == wanted), "{wanted} in {names:?}");
        }
        assert!(names
            .iter()
            .all(|n| !n.contains("node_modules") && !n.starts_with("test")));
    }

    #[test]
    fn a_hand_made_home_is_ready_once_complete() {
        let dir = tempfile::tempdir().unwrap();
        let home = NodeHome::new(dir.path().to_path_buf());
        assert!(!home.is_ready());
        for file in [
            "node/bin/node",
            "node-red/node_modules/node-red/red.js",
            "node-red/redhive/image/entrypoint.sh",
        ] {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        assert!(home.is_ready());
        std::fs::write(dir.path().join(".installed"), "node 1\n").unwrap();
        assert!(!home.is_ready(), "an old install is refreshed");
    }
}
