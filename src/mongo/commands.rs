//! The command table: every command the shim answers, who may run it, and its handler.
//!
//! Access is decided here, from the table, before any handler runs: handlers never check it
//! themselves. Anything not in the table is CommandNotFound (59).

mod aggregate;
mod args;
mod collections;
mod count;
mod cursors;
mod databases;
mod delete;
mod diagnostics;
mod distinct;
mod find;
mod find_and_modify;
mod handshake;
mod indexes;
mod insert;
mod modify;
mod sasl;
mod update;
mod user_admin;
mod write_errors;

use super::error::{CommandError, ErrorCode};
use super::principal::Principal;
use super::Server;
use bson::{Bson, Document};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

pub type Reply = Result<Document, CommandError>;
type BoxFuture<'a> = Pin<Box<dyn Future<Output = Reply> + Send + 'a>>;
type Handler = for<'a> fn(Invocation<'a>) -> BoxFuture<'a>;

/// Per-connection state.
pub struct Session {
    pub peer: SocketAddr,
    pub connection_id: i32,
    pub principal: Option<Principal>,
    sasl: Option<sasl::Conversation>,
}

/// One command being run.
pub struct Invocation<'a> {
    pub server: &'a Server,
    pub session: &'a mut Session,
    /// The database the command targets (`$db`).
    pub db: String,
    pub body: Document,
}

/// Who may run a command.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Access {
    /// Before authentication too: the handshake and SASL.
    Anyone,
    /// Any authenticated principal; the command reveals nothing about databases.
    Authenticated,
    /// Principals with readWrite on the target database.
    Database,
    /// The platform's root principal only.
    Root,
}

struct Command {
    name: &'static str,
    access: Access,
    handler: Handler,
}

macro_rules! command {
    ($name:literal, $access:ident, $handler:path) => {
        Command {
            name: $name,
            access: Access::$access,
            handler: |inv| Box::pin($handler(inv)),
        }
    };
}

static COMMANDS: &[Command] = &[
    command!("hello", Anyone, handshake::hello),
    command!("isMaster", Anyone, handshake::hello),
    command!("ismaster", Anyone, handshake::hello),
    command!("ping", Anyone, handshake::ping),
    command!("endSessions", Authenticated, handshake::ping),
    command!("saslStart", Anyone, sasl::start),
    command!("saslContinue", Anyone, sasl::continue_),
    command!("logout", Anyone, sasl::logout),
    command!("buildInfo", Anyone, diagnostics::build_info),
    command!("buildinfo", Anyone, diagnostics::build_info),
    command!("connectionStatus", Anyone, diagnostics::connection_status),
    command!("whatsmyuri", Authenticated, diagnostics::whats_my_uri),
    command!("getParameter", Root, diagnostics::get_parameter),
    command!("listCommands", Authenticated, diagnostics::list_commands),
    command!("getCmdLineOpts", Root, diagnostics::get_cmd_line_opts),
    command!("serverStatus", Root, diagnostics::server_status),
    command!("hostInfo", Root, diagnostics::host_info),
    command!("getLog", Root, diagnostics::get_log),
    command!("killAllSessions", Root, handshake::ping),
    command!("listDatabases", Root, databases::list),
    command!("dropDatabase", Root, databases::drop),
    command!("listCollections", Database, collections::list),
    command!("create", Database, collections::create),
    command!("drop", Database, collections::drop),
    command!("createIndexes", Database, indexes::create),
    command!("listIndexes", Database, indexes::list),
    command!("dropIndexes", Database, indexes::drop),
    command!("find", Database, find::run),
    command!("getMore", Database, cursors::get_more),
    command!("killCursors", Database, cursors::kill),
    command!("insert", Database, insert::run),
    command!("update", Database, update::run),
    command!("delete", Database, delete::run),
    command!("findAndModify", Database, find_and_modify::run),
    command!("findandmodify", Database, find_and_modify::run),
    command!("count", Database, count::run),
    command!("distinct", Database, distinct::run),
    command!("aggregate", Database, aggregate::run),
    command!("createUser", Root, user_admin::create),
    command!("updateUser", Root, user_admin::update),
    command!("dropUser", Root, user_admin::drop),
    command!("usersInfo", Root, user_admin::info),
];

// === impl Session ===

impl Session {
    pub fn new(peer: SocketAddr, connection_id: i32, auth_required: bool) -> Session {
        Session {
            peer,
            connection_id,
            principal: (!auth_required).then(Principal::unauthenticated_root),
            sasl: None,
        }
    }

    /// The owner recorded on this session's cursors.
    fn owner(&self) -> String {
        self.principal
            .as_ref()
            .map(Principal::id)
            .unwrap_or_default()
    }
}

/// Run the command in `body` and return the reply document (errors included).
pub async fn run(server: &Server, session: &mut Session, body: Document) -> Document {
    match dispatch(server, session, body).await {
        Ok(mut reply) => {
            if !reply.contains_key("ok") {
                reply.insert("ok", 1.0);
            }
            reply
        }
        Err(error) => error.to_reply(),
    }
}

async fn dispatch(server: &Server, session: &mut Session, body: Document) -> Reply {
    let Some(name) = body.keys().next().cloned() else {
        return Err(CommandError::new(
            ErrorCode::FailedToParse,
            "empty command document",
        ));
    };
    let db = match body.get("$db") {
        Some(Bson::String(db)) => db.clone(),
        _ => {
            return Err(CommandError::new(
                ErrorCode::FailedToParse,
                format!("command {name} is missing the $db field"),
            ))
        }
    };
    args::check_database_name(&db)?;
    let Some(command) = COMMANDS.iter().find(|c| c.name == name) else {
        return Err(CommandError::new(
            ErrorCode::CommandNotFound,
            format!("no such command: '{name}'"),
        ));
    };
    authorize(command, session, &db)?;
    tracing::debug!(peer = %session.peer, command = command.name, db, "mongo command");
    (command.handler)(Invocation {
        server,
        session,
        db,
        body,
    })
    .await
}

fn authorize(command: &Command, session: &Session, db: &str) -> Result<(), CommandError> {
    if command.access == Access::Anyone {
        return Ok(());
    }
    let Some(principal) = &session.principal else {
        return Err(CommandError::unauthorized(format!(
            "command {} requires authentication",
            command.name
        )));
    };
    let allowed = match command.access {
        Access::Anyone | Access::Authenticated => true,
        Access::Database => principal.may_use(db),
        Access::Root => principal.is_root(),
    };
    if allowed {
        Ok(())
    } else {
        Err(CommandError::unauthorized(format!(
            "not authorized on {db} to execute command {}",
            command.name
        )))
    }
}

/// Names of all commands, for listCommands.
fn names() -> impl Iterator<Item = &'static str> {
    COMMANDS.iter().map(|c| c.name)
}
