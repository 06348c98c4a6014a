//! Metadata statements as parsed (`docs/query-language.md`, "Metadata
//! statements"); `crate::show` answers them.

use super::{Filter, Name};
use crate::error::Pos;

/// A metadata statement: `SHOW MEASUREMENTS`, `SHOW TAG KEYS [FROM m]`,
/// `SHOW TAG VALUES [FROM m] WITH KEY = k [WHERE ...]`,
/// `SHOW FIELD KEYS [FROM m]`, `SHOW SERIES [FROM m] [WHERE ...] [LIMIT n]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Show {
    /// Which listing.
    pub what: ShowKind,
    /// `FROM <measurement>`; every measurement without it.
    pub from: Option<Name>,
    /// `WHERE` over tags (only `SHOW TAG VALUES` and `SHOW SERIES` take it).
    pub filter: Option<Filter>,
    /// `LIMIT n` (only `SHOW SERIES`).
    pub limit: Option<usize>,
    /// Where `SHOW` is.
    pub pos: Pos,
}

/// The listing a [`Show`] asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum ShowKind {
    /// `SHOW MEASUREMENTS`.
    Measurements,
    /// `SHOW TAG KEYS`.
    TagKeys,
    /// `SHOW TAG VALUES WITH KEY = k`.
    TagValues(Name),
    /// `SHOW FIELD KEYS`.
    FieldKeys,
    /// `SHOW SERIES`.
    Series,
}
