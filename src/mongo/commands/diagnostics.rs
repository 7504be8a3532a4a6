//! Commands tools and test harnesses ask about the server itself.

use super::{Invocation, Reply};
use crate::mongo::error::{CommandError, ErrorCode};
use bson::{doc, Bson};

/// The MongoDB version we answer like; the wire behaviour matches 7.0.
const COMPATIBLE_VERSION: &str = "7.0.0";

pub async fn build_info(_inv: Invocation<'_>) -> Reply {
    Ok(doc! {
        "version": COMPATIBLE_VERSION,
        "gitVersion": concat!("redhive-", env!("CARGO_PKG_VERSION")),
        "versionArray": [7, 0, 0, 0],
        "bits": 64,
        "debug": false,
        "maxBsonObjectSize": 16 * 1024 * 1024,
        "modules": [],
        "sysInfo": "deprecated",
        "storageEngines": ["polodb"],
        "ok": 1.0,
    })
}

pub async fn connection_status(inv: Invocation<'_>) -> Reply {
    let (users, roles) = match &inv.session.principal {
        Some(p) if !p.user.is_empty() => (
            vec![Bson::Document(
                doc! {"user": p.user.clone(), "db": p.auth_db.clone()},
            )],
            Vec::<Bson>::new(),
        ),
        _ => (Vec::new(), Vec::new()),
    };
    Ok(doc! {
        "authInfo": {"authenticatedUsers": users, "authenticatedUserRoles": roles},
        "ok": 1.0,
    })
}

pub async fn whats_my_uri(inv: Invocation<'_>) -> Reply {
    Ok(doc! {"you": inv.session.peer.to_string(), "ok": 1.0})
}

/// `{getParameter: "*"}` lists everything; otherwise the named parameters.
pub async fn get_parameter(inv: Invocation<'_>) -> Reply {
    let all = doc! {
        "authenticationMechanisms": ["SCRAM-SHA-1", "SCRAM-SHA-256"],
        // pymongo's test harness requires this key to exist.
        "enableTestCommands": false,
        "featureCompatibilityVersion": {"version": "7.0"},
        "maxBSONDepth": 100,
    };
    if matches!(inv.body.get("getParameter"), Some(Bson::String(s)) if s == "*") {
        let mut reply = all;
        reply.insert("ok", 1.0);
        return Ok(reply);
    }
    let mut reply = bson::Document::new();
    for key in inv.body.keys().skip(1).filter(|k| !k.starts_with('$')) {
        if let Some(value) = all.get(key) {
            reply.insert(key.clone(), value.clone());
        }
    }
    if reply.is_empty() {
        return Err(CommandError::new(
            ErrorCode::Other(72, "InvalidOptions"),
            "no option found to get",
        ));
    }
    reply.insert("ok", 1.0);
    Ok(reply)
}

pub async fn list_commands(_inv: Invocation<'_>) -> Reply {
    let mut commands = bson::Document::new();
    for name in super::names() {
        commands.insert(name, doc! {"help": ""});
    }
    Ok(doc! {"commands": commands, "ok": 1.0})
}

pub async fn get_cmd_line_opts(_inv: Invocation<'_>) -> Reply {
    Ok(doc! {"argv": ["redhive"], "parsed": {}, "ok": 1.0})
}

pub async fn server_status(inv: Invocation<'_>) -> Reply {
    let uptime = inv.server.started.elapsed();
    Ok(doc! {
        "host": "redhive",
        "version": COMPATIBLE_VERSION,
        "process": "mongod",
        "pid": Bson::Int64(i64::from(std::process::id())),
        "uptime": uptime.as_secs_f64(),
        "uptimeMillis": Bson::Int64(i64::try_from(uptime.as_millis()).unwrap_or(i64::MAX)),
        "localTime": bson::DateTime::now(),
        "ok": 1.0,
    })
}

pub async fn host_info(_inv: Invocation<'_>) -> Reply {
    Ok(doc! {
        "system": {"currentTime": bson::DateTime::now(), "numCores": num_cores()},
        "os": {"type": std::env::consts::OS},
        "extra": {},
        "ok": 1.0,
    })
}

pub async fn get_log(_inv: Invocation<'_>) -> Reply {
    Ok(doc! {"totalLinesWritten": 0, "log": [], "ok": 1.0})
}

fn num_cores() -> i32 {
    std::thread::available_parallelism()
        .map(|n| i32::try_from(n.get()).unwrap_or(1))
        .unwrap_or(1)
}
