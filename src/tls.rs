//! Optional HTTPS (off until `front.https_listen` is set). Certificates come from an uploaded
//! certificate and key, or else from the appliance's own CA: a root generated once (its
//! certificate is offered for download, to be trusted on each device) that signs a
//! certificate for each name a browser asks for (SNI), made on first use.

mod ca;
pub mod listener;

use crate::appliance::ApplianceSettings;
use crate::platform;
use ca::Authority;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::collections::HashMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    File(#[from] platform::FileError),
    #[error(transparent)]
    Platform(#[from] platform::PlatformError),
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("TLS setup failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Marks requests that came over HTTPS (cookies get `Secure`, tenants see `https`).
#[derive(Debug, Clone, Copy)]
pub struct Https;

/// Where certificates come from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    ApplianceCa,
    Uploaded,
}

/// The certificate for each connection.
pub struct Certificates {
    dir: PathBuf,
    provider: Arc<CryptoProvider>,
    authority: Authority,
    uploaded: RwLock<Option<Arc<CertifiedKey>>>,
    /// Issued by the appliance CA, by server name.
    issued: Mutex<HashMap<String, Arc<CertifiedKey>>>,
    appliance: watch::Receiver<ApplianceSettings>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates")
            .field("dir", &self.dir)
            .finish()
    }
}

impl Certificates {
    /// Load (or create, the first time) the CA and any uploaded certificate under `dir`.
    pub fn open(
        dir: &Path,
        appliance: watch::Receiver<ApplianceSettings>,
    ) -> Result<Arc<Certificates>, TlsError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(platform::file_error("create", dir))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let authority = Authority::open(dir)?;
        let uploaded = match (
            read(&dir.join(UPLOADED_CERT))?,
            read(&dir.join(UPLOADED_KEY))?,
        ) {
            (Some(cert), Some(key)) => Some(Arc::new(certified(&cert, &key, &provider)?)),
            _ => None,
        };
        Ok(Arc::new(Certificates {
            dir: dir.to_path_buf(),
            provider,
            authority,
            uploaded: RwLock::new(uploaded),
            issued: Mutex::default(),
            appliance,
        }))
    }

    pub fn source(&self) -> Source {
        match *self.uploaded.read().unwrap_or_else(|e| e.into_inner()) {
            Some(_) => Source::Uploaded,
            None => Source::ApplianceCa,
        }
    }

    /// The root certificate devices trust to accept the appliance's certificates.
    pub fn ca_pem(&self) -> &str {
        self.authority.certificate_pem()
    }

    /// Use this certificate (PEM chain) and key (PEM) for every name from now on.
    pub fn upload(&self, cert_pem: &str, key_pem: &str) -> Result<(), TlsError> {
        let key = certified(cert_pem.as_bytes(), key_pem.as_bytes(), &self.provider)?;
        platform::write_private(&self.dir.join(UPLOADED_CERT), cert_pem.as_bytes())?;
        platform::write_private(&self.dir.join(UPLOADED_KEY), key_pem.as_bytes())?;
        *self.uploaded.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(key));
        Ok(())
    }

    /// Back to certificates from the appliance CA.
    pub fn remove_upload(&self) -> Result<(), TlsError> {
        for file in [UPLOADED_CERT, UPLOADED_KEY] {
            let path = self.dir.join(file);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(platform::file_error("remove", &path)(source).into()),
            }
        }
        *self.uploaded.write().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(())
    }

    pub fn server_config(self: &Arc<Self>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        // HTTP/1.1 only: the editor's websockets need it.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// The CA's certificate for `name` (None: a client without SNI, e.g. dialling an IP).
    fn issue(&self, name: Option<&str>) -> Result<Arc<CertifiedKey>, TlsError> {
        let settings = self.appliance.borrow().clone();
        let key = name.unwrap_or("").to_string();
        if let Some(found) = self
            .issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(found.clone());
        }
        let names = match name {
            Some(name) => vec![name.to_string()],
            None => {
                let mut names = vec![format!("{}.local", settings.name), settings.domain.clone()];
                names.extend(platform::lan_addresses().iter().map(ToString::to_string));
                names.push("127.0.0.1".into());
                names
            }
        };
        let (cert, private_key) = self.authority.issue(&names)?;
        let signing = self
            .provider
            .key_provider
            .load_private_key(PrivateKeyDer::from(private_key))?;
        let certified = Arc::new(CertifiedKey::new(
            vec![cert, self.authority.certificate_der().clone()],
            signing,
        ));
        self.issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, certified.clone());
        Ok(certified)
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(uploaded) = &*self.uploaded.read().unwrap_or_else(|e| e.into_inner()) {
            return Some(uploaded.clone());
        }
        let name = hello.server_name().map(str::to_ascii_lowercase);
        // Only names this appliance answers to get a certificate of their own.
        let name = name.filter(|n| self.serves(n));
        match self.issue(name.as_deref()) {
            Ok(key) => Some(key),
            Err(error) => {
                tracing::error!(%error, "cannot issue a certificate");
                None
            }
        }
    }
}

impl Certificates {
    fn serves(&self, name: &str) -> bool {
        let settings = self.appliance.borrow();
        name == settings.domain
            || name.ends_with(&format!(".{}", settings.domain))
            || name.ends_with(".local")
    }
}

const UPLOADED_CERT: &str = "uploaded.pem";
const UPLOADED_KEY: &str = "uploaded.key";

/// A certificate chain and key that belong together, or why not.
fn certified(
    cert_pem: &[u8],
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Invalid(format!("the certificate is not PEM: {e}")))?;
    if chain.is_empty() {
        return Err(TlsError::Invalid(
            "no certificate found: paste the PEM text starting with -----BEGIN CERTIFICATE-----"
                .into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| TlsError::Invalid(format!("the private key is not PEM: {e}")))?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| {
        TlsError::Invalid(format!(
            "the key does not fit the certificate (or is of an unsupported type): {e}"
        ))
    })
}

fn read(path: &Path) -> Result<Option<Vec<u8>>, TlsError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(platform::file_error("read", path)(source).into()),
    }
}
