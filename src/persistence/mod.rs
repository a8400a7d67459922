//! Persistence formats: the RDB encoding of values (DUMP/RESTORE) and of whole snapshots, the
//! AOF, and the checkers behind `ochre-check-rdb` / `ochre-check-aof`.
pub mod aof;
pub mod check_aof;
pub mod check_rdb;
pub mod listpack;
pub mod rdb;
pub mod rewrite;
pub mod save;
pub mod snapshot;
