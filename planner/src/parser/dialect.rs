//! `TsqDialect`: the sqlparser dialect of the tsq language. It is the generic
//! dialect (identifiers, `'strings'`, `"quoted identifiers"`) plus what tsq
//! needs on top: `~` / `!~` regex tag tests and `name => value` arguments of
//! `rate(...)`. Durations such as `1h` are glued into one number token
//! before parsing (see [`super::tokens`]), so `now() - 1h` is an ordinary
//! binary expression.

use sqlparser::dialect::Dialect;

/// The dialect handed to sqlparser's tokenizer and parser.
#[derive(Debug, Default, Clone, Copy)]
pub struct TsqDialect;

impl Dialect for TsqDialect {
    fn is_identifier_start(&self, ch: char) -> bool {
        ch.is_alphabetic() || ch == '_'
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        ch.is_alphanumeric() || ch == '_'
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '"'
    }

    fn supports_named_fn_args_with_rarrow_operator(&self) -> bool {
        true
    }

    fn supports_numeric_prefix(&self) -> bool {
        false
    }
}
