//! dump commands (filled in by their family's work).

use super::CommandDef;

pub static COMMANDS: &[CommandDef] = &[];
