//! Names on the LAN without DNS (mdns-sd): the manager at `<name>.local`, each tenant at
//! `<tenant>-<name>.local` — one label before `.local`, because nss-mdns's default setup
//! (and so most Linux desktops) refuses multi-label names like `r1.<name>.local` — each with
//! an `_http._tcp` service. Names follow tenants as they come and go; removed names are
//! withdrawn with goodbye packets so caches forget them.

use crate::appliance::ApplianceSettings;
use crate::platform;
use crate::supervisor::Supervisor;
use mdns_sd::{DaemonEvent, IfKind, RRType, ServiceDaemon, ServiceInfo};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const SERVICE_TYPE: &str = "_http._tcp.local.";
/// Addresses can change under us (DHCP, Wi-Fi joining late on first boot).
const ADDRESS_CHECK: Duration = Duration::from_secs(30);

/// The mDNS host name of tenant `tenant` on appliance `appliance`.
pub fn tenant_host(tenant: &str, appliance: &str) -> String {
    format!("{tenant}-{appliance}.local")
}

/// Names the responder had to change because another device on the network had them first
/// (`hive.local` → `hive-2.local`): shown to people, and routed by the proxy.
#[derive(Debug, Default)]
pub struct Renames(Mutex<HashMap<String, String>>);

impl Renames {
    /// The host name in use for `wanted` (both without the trailing dot).
    pub fn in_use(&self, wanted: &str) -> String {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(wanted)
            .cloned()
            .unwrap_or_else(|| wanted.to_string())
    }

    /// The name `host` stands for, when it is a renamed one.
    pub fn original(&self, host: &str) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(_, renamed)| renamed.as_str() == host)
            .map(|(original, _)| original.clone())
    }

    fn set(&self, original: &str, renamed: &str) {
        let (original, renamed) = (
            original.trim_end_matches('.'),
            renamed.trim_end_matches('.'),
        );
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(original.to_string(), renamed.to_string());
    }

    fn forget(&self, original: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(original.trim_end_matches('.'));
    }
}

/// One advertised name: its service instance and host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Name {
    instance: String,
    host: String,
}

/// Advertise until `shutdown`, then say goodbye.
pub async fn advertise(
    supervisor: Arc<Supervisor>,
    mut appliance: watch::Receiver<ApplianceSettings>,
    http: SocketAddr,
    renames: Arc<Renames>,
    shutdown: CancellationToken,
) {
    let daemon = match ServiceDaemon::new() {
        Ok(daemon) => daemon,
        Err(error) => {
            tracing::error!(%error, "cannot start the mDNS responder; .local names are off");
            return;
        }
    };
    watch_events(&daemon, renames.clone());
    let mut roster = supervisor.roster();
    let mut addresses = Vec::new();
    let mut advertised: BTreeMap<Name, String> = BTreeMap::new();
    loop {
        let current = listen_addresses(http);
        if current != addresses {
            tracing::info!(addresses = ?current, "mDNS addresses");
            let _ = daemon.disable_interface(IfKind::All);
            for ip in &current {
                let _ = daemon.enable_interface(IfKind::Addr(*ip));
            }
            // Re-register everything with the new addresses.
            withdraw(&daemon, std::mem::take(&mut advertised)).await;
            addresses = current;
        }
        let wanted = names(&appliance.borrow(), &supervisor.names());
        let gone: BTreeMap<Name, String> = advertised
            .iter()
            .filter(|(name, _)| !wanted.contains(name))
            .map(|(name, full)| (name.clone(), full.clone()))
            .collect();
        for name in gone.keys() {
            advertised.remove(name);
            renames.forget(&name.host);
        }
        withdraw(&daemon, gone).await;
        for name in wanted {
            if advertised.contains_key(&name) || addresses.is_empty() {
                continue;
            }
            match register(&daemon, &name, &addresses, http.port()) {
                Ok(fullname) => {
                    tracing::info!(host = %name.host, "advertising on mDNS");
                    advertised.insert(name, fullname);
                }
                Err(error) => {
                    tracing::warn!(host = %name.host, %error, "cannot advertise on mDNS")
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = appliance.changed() => {}
            _ = roster.changed() => {}
            _ = tokio::time::sleep(ADDRESS_CHECK) => {}
        }
    }
    withdraw(&daemon, advertised).await;
    if let Ok(done) = daemon.shutdown() {
        let _ =
            tokio::task::spawn_blocking(move || done.recv_timeout(Duration::from_secs(2))).await;
    }
}

/// The manager's name and every tenant's.
fn names(settings: &ApplianceSettings, tenants: &[String]) -> Vec<Name> {
    let mut names = vec![Name {
        instance: settings.name.clone(),
        host: format!("{}.local.", settings.name),
    }];
    names.extend(tenants.iter().map(|tenant| Name {
        instance: format!("{tenant} on {}", settings.name),
        host: format!("{}.", tenant_host(tenant, &settings.name)),
    }));
    names
}

/// The addresses to advertise: the listener's own when it is bound to one, else the LAN's.
fn listen_addresses(http: SocketAddr) -> Vec<IpAddr> {
    match http.ip() {
        ip if ip.is_unspecified() => platform::lan_addresses()
            .into_iter()
            .map(IpAddr::V4)
            .collect(),
        ip => vec![ip],
    }
}

fn register(
    daemon: &ServiceDaemon,
    name: &Name,
    addresses: &[IpAddr],
    port: u16,
) -> Result<String, mdns_sd::Error> {
    let info = ServiceInfo::new(
        SERVICE_TYPE,
        &name.instance,
        &name.host,
        addresses,
        port,
        &[("path", "/")][..],
    )?;
    let fullname = info.get_fullname().to_string();
    daemon.register(info)?;
    Ok(fullname)
}

/// Unregister (goodbye packets), waiting briefly for each to go out.
async fn withdraw(daemon: &ServiceDaemon, names: BTreeMap<Name, String>) {
    for (name, fullname) in names {
        tracing::info!(host = %name.host, "withdrawing mDNS name");
        if let Ok(done) = daemon.unregister(&fullname) {
            let _ = tokio::task::spawn_blocking(move || done.recv_timeout(Duration::from_secs(2)))
                .await;
        }
    }
}

/// Follow what the responder reports: a host name taken by another device is renamed (`-2`).
fn watch_events(daemon: &ServiceDaemon, renames: Arc<Renames>) {
    let Ok(events) = daemon.monitor() else {
        return;
    };
    std::thread::spawn(move || {
        while let Ok(event) = events.recv() {
            match event {
                DaemonEvent::NameChange(change) => {
                    tracing::warn!(
                        original = %change.original,
                        new = %change.new_name,
                        interface = %change.intf_name,
                        "mDNS name taken by another device on the network; using the new name"
                    );
                    if matches!(change.rr_type, RRType::A | RRType::AAAA) {
                        renames.set(&change.original, &change.new_name);
                    }
                }
                DaemonEvent::Error(error) => tracing::warn!(%error, "mDNS responder error"),
                _ => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::limits::Limits;

    #[test]
    fn tenant_names_are_single_labels_under_local() {
        let settings = ApplianceSettings {
            name: "hive".into(),
            ..ApplianceSettings::defaults(Limits::default())
        };
        let names = names(&settings, &["r1".into()]);
        assert_eq!(names[0].host, "hive.local.");
        assert_eq!(names[1].host, "r1-hive.local.");
        assert_eq!(names[1].instance, "r1 on hive");
    }

    #[test]
    fn renamed_hosts_map_both_ways() {
        let renames = Renames::default();
        assert_eq!(renames.in_use("hive.local"), "hive.local");
        renames.set("hive.local.", "hive-2.local.");
        assert_eq!(renames.in_use("hive.local"), "hive-2.local");
        assert_eq!(
            renames.original("hive-2.local").as_deref(),
            Some("hive.local")
        );
        renames.forget("hive.local.");
        assert_eq!(renames.original("hive-2.local"), None);
    }
}
