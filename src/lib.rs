//! Ochre: a Redis-compatible in-memory data server.
//!
//! The map of the code (see docs/ARCHITECTURE.md for the why):
//! * [`protocol`]: RESP request parsing and reply encoding.
//! * [`server`]: start-up, configuration, connections, dispatch, statistics, cron.
//! * [`keyspace`]: databases, shards, the hash table and values.
//! * [`commands`]: the command table and one file per command family.
//! * [`persistence`]: the RDB value encoding (DUMP/RESTORE now; RDB files later).
//! * [`scripting`]: Lua scripting (EVAL, SCRIPT): the script cache, one Lua VM per worker, and the
//!   libraries Redis preloads (cjson, cmsgpack, bit, struct).
//! * [`util`]: number formatting and glob matching with Redis's exact rules.
//! * [`cli`]: `ochre-cli`, the command-line client and shell.

pub mod cli;
pub mod commands;
pub mod keyspace;
pub mod persistence;
pub mod protocol;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod types;
pub mod util;

/// Ochre's own version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The Redis version Ochre reports (INFO, HELLO), so version-gated clients enable 7.0 features.
pub const REDIS_VERSION: &str = "7.0.15";
