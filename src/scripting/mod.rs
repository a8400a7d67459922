//! Lua scripting (EVAL, FUNCTION): the Lua 5.1 state and the libraries Redis preloads into it.

pub mod libs;
