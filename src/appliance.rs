//! The appliance's own state, kept in platform collections of the store: its settings (name,
//! domain, theme and limits for new tenants), its admin accounts and their sessions.
//!
//! Until an admin exists the appliance is not set up: the UI shows only the wizard, and
//! `redhive factory-reset` brings it back to that point without touching tenants.

pub mod admins;
pub mod sessions;

use crate::runtime::limits::Limits;
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};

const SETTINGS: &str = "sys_appliance";
const SETTINGS_KEY: &str = "settings";
/// The name the appliance answers to before the wizard gives it one.
pub const DEFAULT_NAME: &str = "redhive";
pub const DEFAULT_DOMAIN: &str = "localhost";
pub const DEFAULT_IDLE_MINUTES: u32 = 15;
pub const MAX_IDLE_MINUTES: u32 = 24 * 60;

#[derive(Debug, thiserror::Error)]
pub enum ApplianceError {
    #[error("{0}")]
    Invalid(String),
    #[error(
        "setup is already done; sign in instead (`redhive factory-reset` starts the wizard again)"
    )]
    AlreadySetUp,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an admin sets in the wizard and on the settings page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplianceSettings {
    /// Host name on the LAN: `<name>.local`; tenants are `<tenant>-<name>.local`.
    pub name: String,
    /// Tenants answer at `<tenant>.<domain>`.
    pub domain: String,
    /// Editor theme of new tenants.
    #[serde(default)]
    pub theme: Theme,
    /// Limits of new tenants.
    pub limits: Limits,
    /// On-demand tenants stop after this many idle minutes.
    pub idle_minutes: u32,
    /// The private registry's choices.
    #[serde(default)]
    pub registry: RegistryPrefs,
}

/// What the admin chooses for the private registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryPrefs {
    /// Packages not in the registry come from the public one (off: air-gapped).
    pub online: bool,
    /// Published packages' scope, without `@`.
    pub scope: String,
}

impl Default for RegistryPrefs {
    fn default() -> Self {
        RegistryPrefs {
            online: true,
            scope: "private".into(),
        }
    }
}

/// What a tenant's editor looks like (custom-node-red/settings.js applies it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Theme {
    pub title: Option<String>,
    /// http(s) URL or a path inside the tenant's runtime.
    pub logo: Option<String>,
    pub css: Option<String>,
}

// === impl ApplianceSettings ===

impl ApplianceSettings {
    pub fn defaults(limits: Limits) -> ApplianceSettings {
        ApplianceSettings {
            name: DEFAULT_NAME.to_string(),
            domain: DEFAULT_DOMAIN.to_string(),
            theme: Theme::default(),
            limits,
            idle_minutes: DEFAULT_IDLE_MINUTES,
            registry: RegistryPrefs::default(),
        }
    }

    pub fn validate(&self) -> Result<(), ApplianceError> {
        check_label(&self.name, "appliance name")?;
        if self.domain.is_empty()
            || self.domain.len() > 200
            || self
                .domain
                .split('.')
                .any(|label| check_label(label, "domain").is_err())
        {
            return Err(ApplianceError::Invalid(format!(
                "`{}` is not a valid domain: dot-separated labels of lowercase letters, digits and '-'",
                self.domain
            )));
        }
        self.theme.validate()?;
        check_label(&self.registry.scope, "package scope")?;
        self.limits
            .validate()
            .map_err(|e| ApplianceError::Invalid(e.to_string()))?;
        check_idle_minutes(self.idle_minutes)
    }
}

// === impl Theme ===

impl Theme {
    pub fn validate(&self) -> Result<(), ApplianceError> {
        let fields = [
            ("title", &self.title),
            ("logo", &self.logo),
            ("css", &self.css),
        ];
        for (what, value) in fields {
            if let Some(value) = value {
                if value.len() > 500 || value.chars().any(char::is_control) {
                    return Err(ApplianceError::Invalid(format!(
                        "theme {what}: at most 500 printable characters"
                    )));
                }
            }
        }
        for (what, value) in [("logo", &self.logo), ("css", &self.css)] {
            if let Some(url) = value {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(ApplianceError::Invalid(format!(
                        "theme {what}: `{url}` must be an http:// or https:// URL"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// A DNS label: what tenant and appliance names must be, since they become host names.
pub fn check_label(value: &str, what: &str) -> Result<(), ApplianceError> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ApplianceError::Invalid(format!(
            "`{value}` is not a valid {what}: 1 to 63 lowercase letters, digits and '-', not starting or ending with '-'"
        )))
    }
}

pub fn check_idle_minutes(minutes: u32) -> Result<(), ApplianceError> {
    if (1..=MAX_IDLE_MINUTES).contains(&minutes) {
        Ok(())
    } else {
        Err(ApplianceError::Invalid(format!(
            "idle minutes must be between 1 and {MAX_IDLE_MINUTES}, not {minutes}"
        )))
    }
}

/// The saved settings, or the defaults (with `limits` for new tenants) before the wizard.
pub async fn settings(store: &Store, limits: Limits) -> Result<ApplianceSettings, StoreError> {
    let saved = store
        .run(|txn| txn.get(SETTINGS, SETTINGS_KEY))
        .await?
        .and_then(|record| match bson::from_document(record) {
            Ok(settings) => Some(settings),
            Err(error) => {
                tracing::warn!(%error, "unreadable appliance settings; using defaults");
                None
            }
        });
    Ok(saved.unwrap_or_else(|| ApplianceSettings::defaults(limits)))
}

pub async fn save_settings(
    store: &Store,
    settings: &ApplianceSettings,
) -> Result<(), ApplianceError> {
    settings.validate()?;
    let record = bson::to_document(settings).expect("plain fields serialize");
    store
        .run(move |txn| {
            txn.put(SETTINGS, SETTINGS_KEY.to_string(), record);
            Ok(())
        })
        .await?;
    Ok(())
}

/// Back to the wizard: no admins, no sessions. Tenants and settings stay.
pub async fn factory_reset(store: &Store) -> Result<usize, StoreError> {
    store
        .run(|txn| {
            let admins = txn.scan(admins::ADMINS)?.len();
            txn.clear(admins::ADMINS);
            txn.clear(sessions::SESSIONS);
            Ok(admins)
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        let good = ApplianceSettings::defaults(Limits::default());
        assert!(good.validate().is_ok());
        let bad_name = ApplianceSettings {
            name: "Red Hive".into(),
            ..good.clone()
        };
        assert!(bad_name.validate().is_err());
        let bad_domain = ApplianceSettings {
            domain: "lab..example".into(),
            ..good.clone()
        };
        assert!(bad_domain.validate().is_err());
        let lab = ApplianceSettings {
            domain: "lab.example.org".into(),
            ..good.clone()
        };
        assert!(lab.validate().is_ok());
        let bad_logo = ApplianceSettings {
            theme: Theme {
                logo: Some("javascript:alert(1)".into()),
                ..Theme::default()
            },
            ..good.clone()
        };
        assert!(bad_logo.validate().is_err());
        let bad_idle = ApplianceSettings {
            idle_minutes: 0,
            ..good
        };
        assert!(bad_idle.validate().is_err());
    }
}
