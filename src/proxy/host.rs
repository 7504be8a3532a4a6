//! Which site a Host header names: a tenant (`<tenant>.<domain>` or the mDNS form
//! `<tenant>-<name>.local`) or the manager (anything else: the bare domain, `<name>.local`,
//! an IP address).

use crate::appliance::ApplianceSettings;

#[derive(Debug, PartialEq, Eq)]
pub enum Site {
    Manager,
    /// A tenant name, not yet checked to exist.
    Tenant(String),
    /// Under the tenants' domain but not a possible tenant name (`a.b.localhost`).
    Nowhere(String),
}

/// The site of `host`, already `normalize`d.
pub fn site(host: &str, settings: &ApplianceSettings) -> Site {
    if let Some(label) = host
        .strip_suffix(settings.domain.as_str())
        .and_then(|rest| rest.strip_suffix('.'))
    {
        return tenant(label);
    }
    if let Some(label) = host
        .strip_suffix(".local")
        .and_then(|rest| rest.strip_suffix(settings.name.as_str()))
        .and_then(|rest| rest.strip_suffix('-'))
    {
        return tenant(label);
    }
    Site::Manager
}

/// Lower case, without port and trailing dot.
pub fn normalize(host: &str) -> String {
    strip_port(host).trim_end_matches('.').to_ascii_lowercase()
}

fn tenant(label: &str) -> Site {
    if label.is_empty() || label.contains('.') {
        Site::Nowhere(label.to_string())
    } else {
        Site::Tenant(label.to_string())
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        // IPv6 literal: the manager in any case.
        return host;
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::limits::Limits;

    /// A Host header as sent, the way the proxy reads it.
    fn sent(host: &str, settings: &ApplianceSettings) -> Site {
        site(&normalize(host), settings)
    }

    fn settings(name: &str, domain: &str) -> ApplianceSettings {
        ApplianceSettings {
            name: name.into(),
            domain: domain.into(),
            ..ApplianceSettings::defaults(Limits::default())
        }
    }

    #[test]
    fn tenants_by_domain_and_by_mdns_name() {
        let s = settings("hive", "localhost");
        assert_eq!(sent("r1.localhost:8080", &s), Site::Tenant("r1".into()));
        assert_eq!(sent("R1.LocalHost.", &s), Site::Tenant("r1".into()));
        assert_eq!(sent("r1-hive.local", &s), Site::Tenant("r1".into()));
        assert_eq!(
            sent("team-a-hive.local:80", &s),
            Site::Tenant("team-a".into())
        );
        assert_eq!(sent("a.b.localhost", &s), Site::Nowhere("a.b".into()));
    }

    #[test]
    fn everything_else_is_the_manager() {
        let s = settings("hive", "lab.example.org");
        for host in [
            "localhost",
            "hive.local",
            "192.168.1.5:8080",
            "[::1]:8080",
            "evil.com",
            "lab.example.org",
            "xlab.example.org",
            "r1.localhost",
            "-hive.local",
        ] {
            let expected = if host == "-hive.local" {
                Site::Nowhere(String::new())
            } else {
                Site::Manager
            };
            assert_eq!(sent(host, &s), expected, "{host}");
        }
        assert_eq!(sent("r1.lab.example.org", &s), Site::Tenant("r1".into()));
    }
}
