//! The wire protocol: parsing requests and writing replies.
pub mod parser;
pub mod reply;
