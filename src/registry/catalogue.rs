//! The palette catalogue of the private registry: the packages with the `node-red` keyword, in
//! the format Node-RED's palette manager reads (`{name, updated_at, modules: [...]}`), built
//! from Verdaccio's search API and each package's metadata (packument).

use serde::{Deserialize, Serialize};
use serde_json::Value;

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
