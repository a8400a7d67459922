//! Differential checks against redis-server.
