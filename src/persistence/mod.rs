//! Persistence formats: the RDB encoding of values (DUMP/RESTORE) and of whole snapshots.
pub mod aof;
pub mod listpack;
pub mod rdb;
pub mod save;
pub mod snapshot;
