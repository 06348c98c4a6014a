//! `tsq serve`: the engine and one TSM store behind the protocols that
//! analytic services and collectors already speak (`docs/server.md`).
//!
//! [`auth`] checks the bearer token that every request carries when the
//! server has one configured; [`http`] (line protocol writes, SQL over
//! HTTP, metrics) and the Arrow Flight SQL side share it, the [`Limits`]
//! and the [`crate::Database`] the server opened once.

pub mod auth;
pub mod flight;
pub mod http;
pub mod limits;

pub use limits::Limits;
