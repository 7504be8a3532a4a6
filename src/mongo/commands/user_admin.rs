//! createUser, updateUser, dropUser, usersInfo (root only).

use super::{args, Invocation, Reply};
use crate::mongo::error::{CommandError, ErrorCode};
use crate::mongo::users;
use crate::store::UserRecord;
use bson::{doc, Bson, Document};

pub async fn create(inv: Invocation<'_>) -> Reply {
    let user = user_name(&inv.body, "createUser")?;
    let password = args::string(&inv.body, "pwd")?
        .filter(|p| !p.is_empty())
        .ok_or_else(|| CommandError::bad_value("createUser needs a non-empty 'pwd'"))?
        .to_string();
    let roles = roles(&inv.body, &inv.db)?
        .ok_or_else(|| CommandError::bad_value("createUser needs 'roles'"))?;
    let record = derive(inv.db.clone(), user.clone(), password, roles).await?;
    inv.server
        .store
        .run(move |txn| {
            if txn.user(&record.db, &record.user)?.is_some() {
                return Ok(Err(CommandError::new(
                    ErrorCode::Other(51003, "Location51003"),
                    format!("User \"{}@{}\" already exists", record.user, record.db),
                )));
            }
            txn.save_user(&record)?;
            Ok(Ok(doc! {"ok": 1.0}))
        })
        .await?
}

pub async fn update(inv: Invocation<'_>) -> Reply {
    let user = user_name(&inv.body, "updateUser")?;
    let roles = roles(&inv.body, &inv.db)?;
    let credentials = match args::string(&inv.body, "pwd")? {
        Some(password) => {
            let (user, password) = (user.clone(), password.to_string());
            Some(
                tokio::task::spawn_blocking(move || users::credentials(&user, &password))
                    .await
                    .map_err(|e| CommandError::internal(e.to_string()))?
                    .map_err(|e| CommandError::bad_value(e.to_string()))?,
            )
        }
        None => None,
    };
    let db = inv.db.clone();
    inv.server
        .store
        .run(move |txn| {
            let Some(mut record) = txn.user(&db, &user)? else {
                return Ok(Err(user_not_found(&user, &db)));
            };
            if let Some(roles) = roles {
                record.roles = roles;
            }
            if let Some(credentials) = credentials {
                record.credentials = credentials;
            }
            txn.save_user(&record)?;
            Ok(Ok(doc! {"ok": 1.0}))
        })
        .await?
}

pub async fn drop(inv: Invocation<'_>) -> Reply {
    let user = user_name(&inv.body, "dropUser")?;
    let db = inv.db.clone();
    inv.server
        .store
        .run(move |txn| {
            if txn.user(&db, &user)?.is_none() {
                return Ok(Err(user_not_found(&user, &db)));
            }
            txn.delete_user(&db, &user);
            Ok(Ok(doc! {"ok": 1.0}))
        })
        .await?
}

pub async fn info(inv: Invocation<'_>) -> Reply {
    let wanted = selection(&inv.body, &inv.db)?;
    let db = inv.db.clone();
    let all_dbs = matches!(&wanted, Selection::AllDatabases);
    let records = inv
        .server
        .store
        .run(move |txn| txn.users((!all_dbs).then_some(db.as_str())))
        .await?;
    let users: Vec<Document> = records
        .iter()
        .filter(|r| wanted.includes(r))
        .map(describe)
        .collect();
    Ok(doc! {"users": users, "ok": 1.0})
}

enum Selection {
    AllDatabases,
    AllOfDatabase,
    Named(Vec<(String, String)>),
}

impl Selection {
    fn includes(&self, record: &UserRecord) -> bool {
        match self {
            Selection::AllDatabases | Selection::AllOfDatabase => true,
            Selection::Named(names) => names
                .iter()
                .any(|(user, db)| *user == record.user && *db == record.db),
        }
    }
}

fn selection(body: &Document, db: &str) -> Result<Selection, CommandError> {
    let one = |value: &Bson| -> Result<(String, String), CommandError> {
        match value {
            Bson::String(user) => Ok((user.clone(), db.to_string())),
            Bson::Document(d) => match (d.get_str("user"), d.get_str("db")) {
                (Ok(user), Ok(db)) => Ok((user.to_string(), db.to_string())),
                _ => Err(CommandError::bad_value(
                    "usersInfo entries need 'user' and 'db'",
                )),
            },
            _ => Err(CommandError::bad_value(
                "usersInfo takes 1, a name, {user, db} or a list",
            )),
        }
    };
    match body.get("usersInfo") {
        Some(Bson::Document(d)) if d.get_bool("forAllDBs") == Ok(true) => {
            Ok(Selection::AllDatabases)
        }
        Some(Bson::Array(items)) => Ok(Selection::Named(
            items.iter().map(one).collect::<Result<_, _>>()?,
        )),
        Some(v) if args::as_integer(v) == Some(1) => Ok(Selection::AllOfDatabase),
        Some(v) => Ok(Selection::Named(vec![one(v)?])),
        None => Ok(Selection::AllOfDatabase),
    }
}

fn describe(record: &UserRecord) -> Document {
    let mechanisms: Vec<Bson> = record
        .credentials
        .keys()
        .map(|k| Bson::String(k.clone()))
        .collect();
    doc! {
        "_id": format!("{}.{}", record.db, record.user),
        "user": record.user.clone(),
        "db": record.db.clone(),
        "roles": record.roles.iter().cloned().map(Bson::Document).collect::<Vec<_>>(),
        "mechanisms": mechanisms,
    }
}

fn user_name(body: &Document, command: &str) -> Result<String, CommandError> {
    match body.get(command) {
        Some(Bson::String(user)) if !user.is_empty() => Ok(user.clone()),
        _ => Err(CommandError::bad_value(format!(
            "{command} needs a user name"
        ))),
    }
}

/// Roles as MongoDB accepts them (`"readWrite"` or `{role, db}`), limited to what redhive
/// supports: readWrite on a non-system database, and root on admin.
fn roles(body: &Document, db: &str) -> Result<Option<Vec<Document>>, CommandError> {
    let Some(list) = args::array(body, "roles")? else {
        return Ok(None);
    };
    let mut roles = Vec::new();
    for role in list {
        let (name, role_db) = match role {
            Bson::String(name) => (name.clone(), db.to_string()),
            Bson::Document(d) => match (d.get_str("role"), d.get_str("db")) {
                (Ok(name), Ok(role_db)) => (name.to_string(), role_db.to_string()),
                _ => return Err(CommandError::bad_value("a role needs 'role' and 'db'")),
            },
            _ => return Err(CommandError::bad_value("roles must be names or {role, db}")),
        };
        args::check_database_name(&role_db)?;
        let supported = match name.as_str() {
            "readWrite" => !["admin", "config", "local"].contains(&role_db.as_str()),
            "root" => role_db == "admin",
            _ => false,
        };
        if !supported {
            return Err(CommandError::new(
                ErrorCode::RoleNotFound,
                format!(
                    "role {name}@{role_db} is not supported by redhive: use readWrite on a database, or root@admin"
                ),
            ));
        }
        roles.push(doc! {"role": name, "db": role_db});
    }
    Ok(Some(roles))
}

async fn derive(
    db: String,
    user: String,
    password: String,
    roles: Vec<Document>,
) -> Result<UserRecord, CommandError> {
    tokio::task::spawn_blocking(move || users::new_record(&db, &user, &password, roles))
        .await
        .map_err(|e| CommandError::internal(e.to_string()))?
        .map_err(|e| CommandError::bad_value(e.to_string()))
}

fn user_not_found(user: &str, db: &str) -> CommandError {
    CommandError::new(
        ErrorCode::UserNotFound,
        format!("Could not find user \"{user}@{db}\""),
    )
}
