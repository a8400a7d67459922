//! Small helpers shared by many commands.
pub mod allocator;
pub mod clock;
pub mod digest;
pub mod glob;
pub mod num;
pub mod text;
