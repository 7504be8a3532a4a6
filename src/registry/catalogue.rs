//! The palette catalogue of the private registry: the packages with the `node-red` keyword, in
//! the format Node-RED's palette manager reads (`{name, updated_at, modules: [...]}`), built
//! from Verdaccio's search API and each package's metadata (packument), rebuilt on request, and
//! served to palettes.

use super::{Registry, State};
use crate::appliance::ApplianceSettings;
use crate::platform;
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The keyword that puts a package in the catalogue.
pub const KEYWORD: &str = "node-red";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalogue {
    pub name: String,
    pub updated_at: String,
    pub modules: Vec<Module>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Module {
    pub id: String,
    pub version: String,
    pub description: String,
    pub keywords: Vec<String>,
    pub updated_at: String,
    pub url: String,
    /// The node types the module provides (the keys of its `node-red.nodes`).
    pub types: Vec<String>,
}

/// A package left out of the catalogue, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub package: String,
    pub problem: String,
}

/// Package names in a `/-/v1/search` answer.
pub fn search_names(answer: &Value) -> Vec<String> {
    answer["objects"]
        .as_array()
        .map(|objects| {
            objects
                .iter()
                .filter_map(|o| o["package"]["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The catalogue entry of a package from its packument: None when it is not a Node-RED
/// package (no keyword), a problem when it says it is one but cannot be used.
pub fn module(packument: &Value, details_url: &str) -> Result<Option<Module>, String> {
    let name = packument["name"]
        .as_str()
        .ok_or("the metadata has no name")?;
    let latest = packument["dist-tags"]["latest"]
        .as_str()
        .ok_or("no latest version")?;
    let manifest = &packument["versions"][latest];
    if !manifest.is_object() {
        return Err(format!("version {latest} is missing from the metadata"));
    }
    let keywords: Vec<String> = match &manifest["keywords"] {
        Value::Array(words) => words
            .iter()
            .filter_map(|w| w.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    if !keywords.iter().any(|k| k == KEYWORD) {
        return Ok(None);
    }
    let types: Vec<String> = match &manifest["node-red"]["nodes"] {
        Value::Object(nodes) if !nodes.is_empty() => nodes.keys().cloned().collect(),
        Value::Object(_) => return Err("its package.json `node-red.nodes` lists no nodes".into()),
        Value::Null => {
            return Err(
                "its package.json has the `node-red` keyword but no `node-red.nodes` section"
                    .into(),
            )
        }
        _ => return Err("its package.json `node-red.nodes` is not an object of node files".into()),
    };
    let updated_at = packument["time"][latest]
        .as_str()
        .or_else(|| packument["time"]["modified"].as_str())
        .unwrap_or_default()
        .to_string();
    Ok(Some(Module {
        id: name.to_string(),
        version: latest.to_string(),
        description: manifest["description"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        keywords,
        updated_at,
        url: format!("{details_url}{name}"),
        types,
    }))
}

// === building it from the registry ===

/// Publishes arriving together are one rebuild.
const REBUILD_SETTLE: Duration = Duration::from_millis(300);
const SEARCH_PAGE: usize = 250;

impl Registry {
    /// The catalogue now, rebuilt from the registry.
    pub async fn rebuild_now(&self) -> Result<(), String> {
        let title = catalogue_title(&self.appliance.borrow());
        let base = format!("http://{}", crate::tenants::client_addr(self.listen));
        let mut names = Vec::new();
        for from in (0..).step_by(SEARCH_PAGE) {
            let page = self
                .get_json(&format!(
                    "{base}/-/v1/search?text=&size={SEARCH_PAGE}&from={from}"
                ))
                .await?;
            let found = search_names(&page);
            let done = found.len() < SEARCH_PAGE;
            names.extend(found);
            if done {
                break;
            }
        }
        names.sort();
        names.dedup();
        let details = format!("http://{}/-/web/detail/", self.public_host());
        let (mut modules, mut problems) = (Vec::new(), Vec::new());
        for name in names {
            let packument = match self
                .get_json(&format!("{base}/{}", name.replace('/', "%2f")))
                .await
            {
                Ok(doc) => doc,
                Err(problem) => {
                    problems.push(Problem {
                        package: name,
                        problem,
                    });
                    continue;
                }
            };
            match module(&packument, &details) {
                Ok(Some(module)) => modules.push(module),
                Ok(None) => {}
                Err(problem) => {
                    tracing::warn!(package = %name, %problem, "package left out of the catalogue");
                    problems.push(Problem {
                        package: name,
                        problem,
                    });
                }
            }
        }
        let built = Catalogue {
            name: title,
            updated_at: now(),
            modules,
        };
        tracing::info!(
            modules = built.modules.len(),
            problems = problems.len(),
            "catalogue rebuilt"
        );
        let json = serde_json::to_vec_pretty(&built).expect("plain fields serialize");
        if let Err(error) = platform::write_private(&self.dir.join("catalogue.json"), &json) {
            tracing::warn!(%error, "cannot save the catalogue");
        }
        *self.catalogue.lock().unwrap_or_else(|e| e.into_inner()) = (Arc::new(built), problems);
        Ok(())
    }

    pub(super) async fn get_json(&self, url: &str) -> Result<serde_json::Value, String> {
        let uri: hyper::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        let response = tokio::time::timeout(Duration::from_secs(20), self.http.get(uri))
            .await
            .map_err(|_| "the registry did not answer in 20 s".to_string())?
            .map_err(|e| format!("the registry did not answer: {e}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if !status.is_success() {
            return Err(format!("the registry answered {status}"));
        }
        serde_json::from_slice(&body).map_err(|e| format!("the registry's answer is not JSON: {e}"))
    }

    pub(super) async fn rebuild_on_request(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.rebuild.notified() => {}
            }
            tokio::time::sleep(REBUILD_SETTLE).await;
            if self.status.borrow().state != State::Running {
                continue;
            }
            if let Err(error) = self.rebuild_now().await {
                tracing::warn!(%error, "cannot rebuild the catalogue");
            }
        }
    }
}

/// The catalogue as Node-RED's palette manager fetches it, from any origin.
pub fn catalogue_response(registry: Option<&Registry>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let headers = [
        (axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        (axum::http::header::CACHE_CONTROL, "no-cache"),
    ];
    match registry {
        Some(registry) => (headers, axum::Json(&*registry.catalogue())).into_response(),
        None => (
            axum::http::StatusCode::NOT_FOUND,
            headers,
            axum::Json(serde_json::json!({"error": "the private registry is off"})),
        )
            .into_response(),
    }
}

pub(super) fn catalogue_title(settings: &ApplianceSettings) -> String {
    format!("{} private nodes", settings.name)
}

pub(super) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn packument(node_red: Value, keywords: Value) -> Value {
        json!({
            "name": "@private/node-red-contrib-x",
            "dist-tags": {"latest": "1.1.0"},
            "time": {"1.1.0": "2026-11-27T10:00:00.000Z", "modified": "2026-11-27T11:00:00.000Z"},
            "versions": {"1.1.0": {
                "name": "@private/node-red-contrib-x", "version": "1.1.0",
                "description": "X", "keywords": keywords, "node-red": node_red,
            }},
        })
    }

    #[test]
    fn node_red_packages_become_modules_with_their_types() {
        let doc = packument(
            json!({"nodes": {"x-in": "in.js", "x-out": "out.js"}}),
            json!(["node-red", "x"]),
        );
        let module = module(&doc, "http://hive:4873/-/web/detail/")
            .unwrap()
            .unwrap();
        assert_eq!(module.version, "1.1.0");
        assert_eq!(module.types, vec!["x-in", "x-out"]);
        assert_eq!(module.updated_at, "2026-11-27T10:00:00.000Z");
        assert_eq!(
            module.url,
            "http://hive:4873/-/web/detail/@private/node-red-contrib-x"
        );
    }

    #[test]
    fn other_packages_are_skipped_and_broken_ones_reported() {
        let plain = packument(json!(null), json!(["util"]));
        assert_eq!(module(&plain, "").unwrap(), None);
        for broken in [json!(null), json!({"nodes": "x.js"}), json!({"nodes": {}})] {
            let doc = packument(broken, json!(["node-red"]));
            assert!(module(&doc, "").is_err());
        }
        assert!(module(&json!({"name": "x"}), "").is_err());
    }

    #[test]
    fn search_answers_give_names() {
        let answer =
            json!({"objects": [{"package": {"name": "a"}}, {"package": {"name": "@s/b"}}]});
        assert_eq!(search_names(&answer), vec!["a", "@s/b"]);
        assert!(search_names(&json!({})).is_empty());
    }
}
