//! The tenant image shipped as a `docker save` archive (`runtime.image_archive`; the
//! appliance image carries one, since nothing can be pulled on first boot). When the engine
//! lacks the image, the archive is loaded in the background: the web UI is up meanwhile and
//! shows how far the load got, and tenant starts wait for it.

use super::RuntimeError;
use bollard::query_parameters::{ImportImageOptions, TagImageOptions};
use bollard::Docker;
use futures_util::StreamExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::io::ReaderStream;

#[derive(Debug, Clone)]
pub enum LoadState {
    Loading {
        read: u64,
        total: u64,
        since: Instant,
    },
    Done,
    Failed(String),
}

/// How long the load may take. Not the engine's usual answer timeout: a slow CPU and an SD
/// card take minutes to unpack the image (over two minutes under emulation in the tests).
const LOAD_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// The load this process started: one engine per process, and the doctor report (API and
/// wizard) reads it from here.
static LOAD: OnceLock<(PathBuf, watch::Receiver<LoadState>)> = OnceLock::new();

/// The archive being (or last) loaded by this process, and how that went.
pub fn state() -> Option<(&'static Path, LoadState)> {
    LOAD.get()
        .map(|(path, state)| (path.as_path(), state.borrow().clone()))
}

/// Start loading `archive` and tag what it holds as `image`; the receiver tells when done.
pub fn start(docker: Docker, archive: PathBuf, image: String) -> watch::Receiver<LoadState> {
    let total = std::fs::metadata(&archive).map(|m| m.len()).unwrap_or(0);
    let since = Instant::now();
    let (progress, receiver) = watch::channel(LoadState::Loading {
        read: 0,
        total,
        since,
    });
    let _ = LOAD.set((archive.clone(), receiver.clone()));
    let docker = docker.with_timeout(LOAD_TIMEOUT);
    tokio::spawn(async move {
        tracing::info!(archive = %archive.display(), %image, total_bytes = total, "loading the tenant image into Docker");
        let outcome = load(&docker, &archive, &image, &progress).await;
        match outcome {
            Ok(()) => {
                tracing::info!(%image, seconds = since.elapsed().as_secs(), "tenant image loaded");
                progress.send_replace(LoadState::Done);
            }
            Err(error) => {
                tracing::error!(archive = %archive.display(), %error, "cannot load the tenant image");
                progress.send_replace(LoadState::Failed(error.to_string()));
            }
        }
    });
    receiver
}

/// Wait for a load to end; its error, if it failed.
pub async fn finished(mut load: watch::Receiver<LoadState>) -> Result<(), RuntimeError> {
    let state = load
        .wait_for(|s| !matches!(s, LoadState::Loading { .. }))
        .await
        .map(|s| s.clone())
        .unwrap_or(LoadState::Failed("the load was abandoned".into()));
    match state {
        LoadState::Failed(reason) => Err(RuntimeError::ImageLoad(reason)),
        _ => Ok(()),
    }
}

async fn load(
    docker: &Docker,
    archive: &Path,
    image: &str,
    progress: &watch::Sender<LoadState>,
) -> Result<(), RuntimeError> {
    let file = tokio::fs::File::open(archive)
        .await
        .map_err(|e| RuntimeError::ImageLoad(format!("{}: {e}", archive.display())))?;
    let counter = progress.clone();
    let body = ReaderStream::with_capacity(file, 1 << 18).inspect(move |chunk| {
        if let Ok(bytes) = chunk {
            counter.send_modify(|state| {
                if let LoadState::Loading { read, .. } = state {
                    *read += bytes.len() as u64;
                }
            });
        }
    });
    let options = ImportImageOptions {
        quiet: true,
        ..Default::default()
    };
    let mut replies = docker.import_image_stream(options, body, None);
    let mut loaded = Vec::new();
    while let Some(reply) = replies.next().await {
        let reply = reply?;
        if let Some(error) = reply.error_detail.and_then(|d| d.message) {
            return Err(RuntimeError::ImageLoad(error));
        }
        if let Some(name) = reply
            .stream
            .as_deref()
            .and_then(|s| s.trim().strip_prefix("Loaded image: "))
        {
            loaded.push(name.to_string());
        }
    }
    if !loaded.iter().any(|name| name == image) {
        // An archive built for another tag (e.g. per architecture) serves as this one.
        let Some(source) = loaded.first() else {
            return Err(RuntimeError::ImageLoad(format!(
                "{} holds no tagged image",
                archive.display()
            )));
        };
        let (repo, tag) = match image.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, tag),
            _ => (image, "latest"),
        };
        let options = TagImageOptions {
            repo: Some(repo.to_string()),
            tag: Some(tag.to_string()),
        };
        docker.tag_image(source, Some(options)).await?;
        tracing::info!(%source, %image, "tagged the loaded image");
    }
    Ok(())
}

/// A sentence about a load in progress, for the doctor report.
pub fn describe(archive: &Path, state: &LoadState) -> String {
    match state {
        LoadState::Loading { read, total, since } => format!(
            "loading {} into Docker (first start): {}% after {} s",
            archive.display(),
            (read * 100).checked_div(*total).unwrap_or(0),
            since.elapsed().as_secs()
        ),
        LoadState::Done => format!("loaded from {}", archive.display()),
        LoadState::Failed(reason) => format!("loading {} failed: {reason}", archive.display()),
    }
}
