//! redhive: a multi-tenant Node-RED appliance in one binary.
//!
//! See README.md for the architecture; each module's doc says what it owns.

pub mod api;
pub mod app;
pub mod appliance;
pub mod cli;
pub mod config;
pub mod control;
pub mod doctor;
pub mod http;
pub mod mdns;
pub mod mongo;
pub mod platform;
pub mod proxy;
pub mod query;
pub mod registry;
pub mod runtime;
pub mod signal;
pub mod store;
pub mod supervisor;
pub mod systemd;
pub mod tenants;
pub mod tls;
pub mod web;
