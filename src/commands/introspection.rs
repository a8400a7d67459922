//! Introspection commands: CLIENT, COMMAND, MONITOR, SLOWLOG, LATENCY, MEMORY, OBJECT helpers.

use super::CommandDef;

pub static COMMANDS: &[CommandDef] = &[];

/// Redis allows client names of printable ASCII without spaces (`clientSetName`).
pub fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}
