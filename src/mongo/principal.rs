//! Who a connection is, and which databases it may use.
//!
//! Two kinds of principal exist: a tenant user with readWrite on its own database (what every
//! Node-RED runtime gets), and the platform's root. Neither can reach the platform's own data:
//! that lives outside every namespace the wire protocol can name.

use bson::Document;

/// Databases only root may use, as in MongoDB.
const SYSTEM_DATABASES: [&str; 3] = ["admin", "config", "local"];

#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub user: String,
    pub auth_db: String,
    root: bool,
    /// Databases with readWrite.
    databases: Vec<String>,
}

// === impl Principal ===

impl Principal {
    /// A principal from the roles stored with a user.
    pub fn from_roles(user: &str, auth_db: &str, roles: &[Document]) -> Principal {
        let mut principal = Principal {
            user: user.to_string(),
            auth_db: auth_db.to_string(),
            root: false,
            databases: Vec::new(),
        };
        for role in roles {
            match (role.get_str("role"), role.get_str("db")) {
                (Ok("root"), Ok("admin")) => principal.root = true,
                (Ok("readWrite"), Ok(db)) => principal.databases.push(db.to_string()),
                _ => {}
            }
        }
        principal
    }

    /// The principal of every connection when authentication is switched off.
    pub fn unauthenticated_root() -> Principal {
        Principal {
            user: String::new(),
            auth_db: "admin".into(),
            root: true,
            databases: Vec::new(),
        }
    }

    pub fn is_root(&self) -> bool {
        self.root
    }

    /// May this principal read and write `db`?
    pub fn may_use(&self, db: &str) -> bool {
        if self.root {
            return true;
        }
        !SYSTEM_DATABASES.contains(&db) && self.databases.iter().any(|d| d == db)
    }

    /// `user@db`, the owner recorded on cursors.
    pub fn id(&self) -> String {
        format!("{}@{}", self.user, self.auth_db)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn tenants_use_only_their_database() {
        let p = Principal::from_roles("r1", "r1", &[doc! {"role": "readWrite", "db": "r1"}]);
        assert!(p.may_use("r1"));
        assert!(!p.may_use("r2"));
        assert!(!p.may_use("admin"));
        assert!(!p.is_root());
    }

    #[test]
    fn a_tenant_named_admin_still_gets_no_system_database() {
        let p = Principal::from_roles("x", "admin", &[doc! {"role": "readWrite", "db": "admin"}]);
        assert!(!p.may_use("admin"));
    }

    #[test]
    fn root_needs_the_admin_database() {
        let fake = Principal::from_roles("x", "r1", &[doc! {"role": "root", "db": "r1"}]);
        assert!(!fake.is_root());
        let root = Principal::from_roles("root", "admin", &[doc! {"role": "root", "db": "admin"}]);
        assert!(root.may_use("anything"));
    }
}
