//! Persistence formats. For now: the RDB encoding of single values used by DUMP and RESTORE.
pub mod rdb;
