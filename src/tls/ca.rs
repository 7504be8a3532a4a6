//! The appliance's certificate authority: an ECDSA P-256 root made on first use and kept in
//! the secrets directory, which signs short-lived certificates for the appliance's names.

use super::TlsError;
use crate::platform;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use std::path::Path;
use std::time::{Duration, SystemTime};

const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca.key";
const CA_YEARS: u32 = 20;
/// Below the 398 days browsers accept for a server certificate.
const SERVER_DAYS: u32 = 390;
const DAY: Duration = Duration::from_secs(24 * 3600);

pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
    certificate_pem: String,
    certificate_der: CertificateDer<'static>,
}

impl Authority {
    /// The CA under `dir`, created the first time.
    pub fn open(dir: &Path) -> Result<Authority, TlsError> {
        let (cert_path, key_path) = (dir.join(CA_CERT), dir.join(CA_KEY));
        let (certificate_pem, key) = match (
            std::fs::read_to_string(&cert_path),
            std::fs::read_to_string(&key_path),
        ) {
            (Ok(cert), Ok(key)) => (cert, KeyPair::from_pem(&key)?),
            _ => {
                let key = KeyPair::generate()?;
                let certificate = root_params().self_signed(&key)?;
                platform::write_private(&key_path, key.serialize_pem().as_bytes())?;
                platform::write_private(&cert_path, certificate.pem().as_bytes())?;
                tracing::info!(path = %cert_path.display(), "created the appliance CA");
                (certificate.pem(), key)
            }
        };
        let certificate_der = CertificateDer::from_pem_slice(certificate_pem.as_bytes())
            .map_err(|e| TlsError::Invalid(format!("{}: {e}", cert_path.display())))?;
        // The stored root's subject and key: what issued certificates must name.
        let issuer = Issuer::new(root_params(), key);
        Ok(Authority {
            issuer,
            certificate_pem,
            certificate_der,
        })
    }

    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    pub fn certificate_der(&self) -> &CertificateDer<'static> {
        &self.certificate_der
    }

    /// A server certificate for `names` (host names or IP addresses) and its PKCS#8 key.
    pub fn issue(
        &self,
        names: &[String],
    ) -> Result<(CertificateDer<'static>, PrivatePkcs8KeyDer<'static>), TlsError> {
        let mut params = CertificateParams::default();
        params.subject_alt_names = names
            .iter()
            .map(|name| match name.parse() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => Ok(SanType::DnsName(name.as_str().try_into()?)),
            })
            .collect::<Result<_, rcgen::Error>>()?;
        let mut subject = DistinguishedName::new();
        subject.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        params.distinguished_name = subject;
        let now = SystemTime::now();
        params.not_before = (now - DAY).into();
        params.not_after = (now + DAY * SERVER_DAYS).into();
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let certificate = params.signed_by(&key, &self.issuer)?;
        Ok((
            certificate.der().clone(),
            PrivatePkcs8KeyDer::from(key.serialize_der()),
        ))
    }
}

fn root_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, "redhive appliance CA");
    subject.push(DnType::OrganizationName, "redhive");
    params.distinguished_name = subject;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = SystemTime::now();
    params.not_before = (now - DAY).into();
    params.not_after = (now + DAY * 365 * CA_YEARS).into();
    params
}
