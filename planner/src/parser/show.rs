//! Metadata statements, parsed by hand from the token stream:
//!
//! ```text
//! SHOW MEASUREMENTS
//! SHOW TAG KEYS [FROM m]
//! SHOW TAG VALUES [FROM m] WITH KEY = k [WHERE <tag tests>]
//! SHOW FIELD KEYS [FROM m]
//! SHOW SERIES [FROM m] [WHERE <tag tests>] [LIMIT n]
//! ```
//!
//! `WHERE` is parsed by sqlparser and converted like a query's (see
//! [`super::filter`]); that it holds only tag tests is checked where the
//! statement runs (`crate::show`).

use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan};

use super::cursor::{unexpected, Cursor};
use super::dialect::TsqDialect;
use super::tokens::{is_keyword, is_word};
use crate::ast::{Name, Show, ShowKind};
use crate::error::{Pos, Result, TsqError};

/// True when the statement's first token is `SHOW`.
pub(super) fn is_show(tokens: &[TokenWithSpan]) -> bool {
    tokens.first().is_some_and(|t| is_keyword(t, Keyword::SHOW))
}

/// Parses a `SHOW` statement from its tokens (no blanks).
pub(super) fn parse(tokens: &[TokenWithSpan], end: Pos, now: i64) -> Result<Show> {
    let mut c = Cursor::new(tokens, end, "statement");
    let pos = c.pos();
    c.i += 1; // SHOW
    let what = kind(&mut c)?;
    let from = if c.eat_keyword(Keyword::FROM) {
        Some(c.name("a measurement name after FROM")?)
    } else {
        None
    };
    let what = match what {
        ShowKind::TagValues(_) => {
            c.expect_keyword(Keyword::WITH, "WITH KEY = <tag key>")?;
            c.expect_keyword(Keyword::KEY, "KEY after WITH")?;
            let t = c.next("= after WITH KEY")?;
            if t.token != Token::Eq {
                return Err(unexpected(t, "= after WITH KEY"));
            }
            ShowKind::TagValues(c.name("a tag key after WITH KEY =")?)
        }
        other => other,
    };
    let filter = match c.peek() {
        Some(t) if is_keyword(t, Keyword::WHERE) => {
            if !matches!(what, ShowKind::TagValues(_) | ShowKind::Series) {
                return Err(TsqError::parse(
                    c.pos(),
                    "WHERE is taken by SHOW TAG VALUES and SHOW SERIES only",
                ));
            }
            c.i += 1;
            Some(where_clause(&mut c, now)?)
        }
        _ => None,
    };
    let limit = match c.peek() {
        Some(t) if is_keyword(t, Keyword::LIMIT) => {
            if what != ShowKind::Series {
                return Err(TsqError::parse(
                    c.pos(),
                    "LIMIT is taken by SHOW SERIES only",
                ));
            }
            c.i += 1;
            let t = c.next("a row count after LIMIT")?;
            match &t.token {
                Token::Number(n, _) => Some(n.parse().map_err(|_| unexpected(t, "a row count"))?),
                _ => return Err(unexpected(t, "a row count after LIMIT")),
            }
        }
        _ => None,
    };
    if let Some(t) = c.peek() {
        return Err(unexpected(t, "the end of the SHOW statement"));
    }
    Ok(Show {
        what,
        from,
        filter,
        limit,
        pos,
    })
}

const SHOW_HELP: &str = "MEASUREMENTS, TAG KEYS, TAG VALUES, FIELD KEYS or SERIES after SHOW";

fn kind(c: &mut Cursor<'_>) -> Result<ShowKind> {
    let t = c.next(SHOW_HELP)?;
    if is_word(t, "measurements") {
        return Ok(ShowKind::Measurements);
    }
    if is_word(t, "series") {
        return Ok(ShowKind::Series);
    }
    let two = |c: &mut Cursor<'_>, word: &str| -> Result<()> {
        let u = c.next(word)?;
        if is_word(u, word) {
            Ok(())
        } else {
            Err(unexpected(
                u,
                &format!("{} after {}", word.to_uppercase(), t.token),
            ))
        }
    };
    if is_word(t, "field") {
        two(c, "keys")?;
        return Ok(ShowKind::FieldKeys);
    }
    if is_word(t, "tag") {
        let u = c.next("KEYS or VALUES after TAG")?;
        if is_word(u, "keys") {
            return Ok(ShowKind::TagKeys);
        }
        if is_word(u, "values") {
            // the key follows WITH KEY =, after FROM
            return Ok(ShowKind::TagValues(Name {
                value: String::new(),
                pos: u.span.start.into(),
            }));
        }
        return Err(unexpected(u, "KEYS or VALUES after TAG"));
    }
    Err(unexpected(t, SHOW_HELP))
}

/// The tokens up to `LIMIT` (or the end) as a `WHERE` expression.
fn where_clause(c: &mut Cursor<'_>, now: i64) -> Result<crate::ast::Filter> {
    let start = c.pos();
    let mut depth = 0i32;
    let mut stop = c.tokens.len();
    for (k, t) in c.tokens.iter().enumerate().skip(c.i) {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            _ if depth == 0 && is_keyword(t, Keyword::LIMIT) => {
                stop = k;
                break;
            }
            _ => {}
        }
    }
    let tokens = c.tokens[c.i..stop].to_vec();
    c.i = stop;
    if tokens.is_empty() {
        return Err(TsqError::parse(start, "expected a condition after WHERE"));
    }
    let mut parser = Parser::new(&TsqDialect).with_tokens_with_locations(tokens);
    let expr = parser
        .parse_expr()
        .map_err(|e| super::parser_error(e, start, c.end))?;
    let next = parser.peek_token();
    let converted = if next.token != Token::EOF {
        Err(TsqError::parse(
            next.span.start.into(),
            format!("unexpected '{}'", next.token),
        ))
    } else {
        super::filter::convert(&expr, start, now)
    };
    super::filter::drop_expr(expr);
    converted
}
