use super::*;
use std::collections::HashMap;

fn load(overrides: &Overrides, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::load_with(overrides, |name| env.get(name).cloned())
}

#[test]
fn defaults_suit_a_laptop() {
    let dir = tempfile::tempdir().unwrap();
    let overrides = Overrides {
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let s = load(&overrides, &[]).unwrap();
    assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(s.mongo.listen.to_string(), "127.0.0.1:27017");
    assert!(!s.mongo.listen_is_explicit);
    assert!(s.mongo.auth);
}

#[test]
fn flags_beat_env_beat_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("redhive.toml"),
        "listen = \"127.0.0.1:1000\"\n[mongo]\nlisten = \"127.0.0.1:2000\"\nauth = false\n",
    )
    .unwrap();
    let mut overrides = Overrides {
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let s = load(&overrides, &[]).unwrap();
    assert_eq!(s.listen.port(), 1000);
    assert_eq!(s.mongo.listen.port(), 2000);
    assert!(!s.mongo.auth);

    let env = [("REDHIVE_LISTEN", "127.0.0.1:3000")];
    assert_eq!(load(&overrides, &env).unwrap().listen.port(), 3000);

    overrides.listen = Some("127.0.0.1:4000".into());
    assert_eq!(load(&overrides, &env).unwrap().listen.port(), 4000);
}

#[test]
fn bad_values_name_their_origin() {
    let err = load(
        &Overrides::default(),
        &[("REDHIVE_MONGO_LISTEN", "localhost")],
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("REDHIVE_MONGO_LISTEN"), "{text}");
    assert!(text.contains("localhost"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("redhive.toml"), "lissen = 1\n").unwrap();
    let overrides = Overrides {
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let text = load(&overrides, &[]).unwrap_err().to_string();
    assert!(text.contains("lissen"), "{text}");
}

#[test]
fn runtime_settings_layer_and_validate() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("redhive.toml"),
        "[runtime]\nkind = \"process\"\nmemory_budget = \"2G\"\n[runtime.tenant_defaults]\nmemory = \"128M\"\ncpus = 0.5\n",
    )
    .unwrap();
    let overrides = Overrides {
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let s = load(&overrides, &[]).unwrap();
    assert_eq!(s.runtime.choice, RuntimeChoice::Process);
    assert_eq!(s.runtime.memory_budget, Some(2 << 30));
    assert_eq!(s.runtime.tenant_defaults.memory_bytes, 128 << 20);
    assert_eq!(s.runtime.tenant_defaults.cpus, 0.5);
    assert_eq!(s.runtime.node_home, dir.path().join("runtime"));

    let s = load(&overrides, &[("REDHIVE_RUNTIME", "docker")]).unwrap();
    assert_eq!(s.runtime.choice, RuntimeChoice::Docker);
    for (key, value) in [
        ("REDHIVE_RUNTIME", "kubernetes"),
        ("REDHIVE_MEMORY_BUDGET", "lots"),
        ("REDHIVE_TENANT_MEMORY", "1M"),
        ("REDHIVE_CGROUP_PARENT", "../etc"),
    ] {
        let text = load(&overrides, &[(key, value)]).unwrap_err().to_string();
        assert!(
            text.contains(key) || text.contains("tenant_defaults"),
            "{key}: {text}"
        );
    }
}

#[test]
fn the_front_follows_where_it_listens() {
    let dir = tempfile::tempdir().unwrap();
    let overrides = Overrides {
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    // On loopback: no mDNS, no tenant ports, no HTTPS.
    let laptop = load(&overrides, &[]).unwrap();
    assert!(!laptop.front.mdns_enabled(laptop.listen));
    assert_eq!(laptop.front.tenant_ports, None);
    assert_eq!(laptop.front.https_listen, None);
    // On the LAN: both on by default.
    let lan = load(&overrides, &[("REDHIVE_LISTEN", "0.0.0.0:80")]).unwrap();
    assert!(lan.front.mdns_enabled(lan.listen));
    assert_eq!(lan.front.tenant_port(3), Some(DEFAULT_TENANT_PORT_BASE + 3));

    std::fs::write(
        dir.path().join("redhive.toml"),
        "listen = \"0.0.0.0:80\"\n[front]\nmdns = \"off\"\ntenant_ports = 9000\nhttps_listen = \"0.0.0.0:443\"\n",
    )
    .unwrap();
    let file = load(&overrides, &[]).unwrap();
    assert!(!file.front.mdns_enabled(file.listen));
    assert_eq!(file.front.tenant_ports, Some(9000));
    assert_eq!(file.front.https_listen.unwrap().port(), 443);
    let env = load(&overrides, &[("REDHIVE_TENANT_PORTS", "off")]).unwrap();
    assert_eq!(env.front.tenant_ports, None);

    for (name, value) in [
        ("REDHIVE_MDNS", "sometimes"),
        ("REDHIVE_TENANT_PORTS", "70000"),
        ("REDHIVE_HTTPS_LISTEN", "443"),
    ] {
        let text = load(&overrides, &[(name, value)]).unwrap_err().to_string();
        assert!(text.contains(name) && text.contains(value), "{text}");
    }
}

#[test]
fn the_registry_follows_the_web_ui() {
    let dir = tempfile::tempdir().unwrap();
    let overrides = Overrides {
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let laptop = load(&overrides, &[]).unwrap();
    assert!(!laptop.registry.enabled);
    assert_eq!(laptop.registry.listen.to_string(), "127.0.0.1:4873");
    let lan = load(&overrides, &[("REDHIVE_LISTEN", "0.0.0.0:80")]).unwrap();
    assert!(lan.registry.enabled);
    assert_eq!(lan.registry.listen.to_string(), "0.0.0.0:4873");
    let chosen = load(
        &overrides,
        &[
            ("REDHIVE_REGISTRY", "on"),
            ("REDHIVE_REGISTRY_LISTEN", "127.0.0.1:5000"),
        ],
    )
    .unwrap();
    assert!(chosen.registry.enabled);
    assert_eq!(chosen.registry.listen.port(), 5000);
    let text = load(&overrides, &[("REDHIVE_REGISTRY", "maybe")])
        .unwrap_err()
        .to_string();
    assert!(text.contains("REDHIVE_REGISTRY"), "{text}");
}
