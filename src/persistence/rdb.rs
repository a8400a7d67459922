//! The RDB encoding of single values (DUMP/RESTORE payloads).
