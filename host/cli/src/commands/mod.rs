//! One file per command group, each a thin layer over the library.

pub mod connection;
pub mod connector;
pub mod platform;
pub mod serve;
