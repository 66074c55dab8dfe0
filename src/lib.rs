//! schemashift: plans zero-downtime schema changes (expand, dual-write,
//! backfill, cutover, contract), reviews migrations for lock and compatibility
//! hazards, and proves its plans on a real PostgreSQL.
//!
//! The library holds all the knowledge; the CLI (`main.rs`) and the MCP
//! adapter ([`mcp`]) only parse, call it and format.

pub mod change;
pub mod classify;
pub mod cluster;
pub mod context;
pub mod detect;
pub mod emit;
pub mod engine;
pub mod ident;
pub mod limits;
pub mod mcp;
pub mod mcp_schema;
pub mod mcp_stdio;
pub mod memory;
pub mod pattern;
pub mod plan;
pub mod references;
pub mod rehearse;
pub mod render;
pub mod report;
pub mod review;
pub mod schema;
pub mod sqldepth;
pub mod sqltext;
