//! The clauses after the SQL head, parsed by hand from the token stream:
//!
//! ```text
//! [SAMPLE BY (<duration> | ALL) [<ds_agg>] [FILL(<policy> [, <max gap>])]]
//! [ORDER BY <column> [ASC|DESC], ...]
//! [LIMIT <n>]
//! ```
//!
//! `FILL` written without `SAMPLE BY` is recorded (not rejected here) so the
//! planner can report it as a plan error at its position.

use std::str::FromStr;

use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, TokenWithSpan};
use tsq_engine::{Aggregator, FillPolicy, Interval};

use super::cursor::{unexpected, Cursor};
use super::literal::{parse_duration, DURATION_HELP};
use super::tokens::{is_keyword, is_word};
use crate::ast::{Name, OrderItem, Query, SampleBy};
use crate::error::{Pos, Result, TsqError};

/// Parses the tail into `query`.
pub(super) fn parse(tokens: &[TokenWithSpan], end: Pos, query: &mut Query) -> Result<()> {
    let mut c = Cursor::new(tokens, end, "query");
    if c.peek().is_some_and(|t| is_word(t, "sample")) {
        query.sample_by = Some(sample_by(&mut c)?);
    }
    if c.peek().is_some_and(|t| is_word(t, "fill")) {
        let pos = c.pos();
        fill(&mut c)?;
        query.orphan_fill = Some(pos);
    }
    if c.eat(|t| is_keyword(t, Keyword::ORDER)) {
        c.expect(|t| is_keyword(t, Keyword::BY), "BY after ORDER")?;
        query.order_by = order_by(&mut c)?;
    }
    if c.eat(|t| is_keyword(t, Keyword::LIMIT)) {
        let t = c.next("a row count after LIMIT")?;
        query.limit = match &t.token {
            Token::Number(n, _) => Some(n.parse().map_err(|_| unexpected(t, "a row count"))?),
            _ => return Err(unexpected(t, "a row count after LIMIT")),
        };
    }
    match c.peek() {
        None => Ok(()),
        Some(t) => Err(TsqError::parse(
            t.span.start.into(),
            format!(
                "unexpected '{}' (clauses go in the order SAMPLE BY, FILL, ORDER BY, LIMIT)",
                t.token
            ),
        )),
    }
}

fn sample_by(c: &mut Cursor<'_>) -> Result<SampleBy> {
    let pos = c.pos();
    c.next("SAMPLE")?;
    c.expect(|t| is_keyword(t, Keyword::BY), "BY after SAMPLE")?;
    let t = c.next("a duration or ALL after SAMPLE BY")?;
    let interval = match &t.token {
        Token::Word(_) if is_keyword(t, Keyword::ALL) => Interval::All,
        Token::Number(n, _) | Token::SingleQuotedString(n) => {
            Interval::Every(parse_duration(n).ok_or_else(|| {
                TsqError::parse(
                    t.span.start.into(),
                    format!("bad duration '{n}': {DURATION_HELP}"),
                )
            })?)
        }
        _ => return Err(unexpected(t, "a duration or ALL after SAMPLE BY")),
    };
    let mut agg = Aggregator::Avg;
    if let Some(t) = c.peek() {
        if let Token::Word(w) = &t.token {
            let clause = is_word(t, "fill")
                || is_keyword(t, Keyword::ORDER)
                || is_keyword(t, Keyword::LIMIT);
            if !clause {
                agg = Aggregator::from_str(&w.value).map_err(|_| {
                    TsqError::plan(
                        t.span.start.into(),
                        format!(
                            "unknown aggregator '{}' (expected one of {})",
                            w.value,
                            Aggregator::NAMES
                        ),
                    )
                })?;
                c.i += 1;
            }
        }
    }
    let mut fill_policy = (FillPolicy::None, None);
    let mut fill_pos = None;
    if c.peek().is_some_and(|t| is_word(t, "fill")) {
        fill_pos = Some(c.pos());
        fill_policy = fill(c)?;
    }
    Ok(SampleBy {
        interval,
        agg,
        fill: fill_policy.0,
        max_gap: fill_policy.1,
        pos,
        fill_pos,
    })
}

const FILL_HELP: &str = "none, null, nan, zero, previous, linear or a number";

/// `FILL(<policy> [, <max gap>])`: the policy and the maximum gap, which
/// only `previous` and `linear` take.
fn fill(c: &mut Cursor<'_>) -> Result<(FillPolicy, Option<i64>)> {
    c.next("FILL")?;
    c.expect(|t| t.token == Token::LParen, "( after FILL")?;
    let negative = c.eat(|t| t.token == Token::Minus);
    let t = c.next(FILL_HELP)?;
    let policy = match &t.token {
        Token::Number(n, _) => {
            let v: f64 = n
                .parse()
                .map_err(|_| unexpected(t, &format!("FILL {FILL_HELP}")))?;
            FillPolicy::Value(if negative { -v } else { v })
        }
        Token::Word(w) if !negative => match w.value.to_ascii_lowercase().as_str() {
            "none" => FillPolicy::None,
            "null" => FillPolicy::Null,
            "nan" => FillPolicy::NaN,
            "zero" => FillPolicy::Value(0.0),
            "previous" => FillPolicy::Previous,
            "linear" => FillPolicy::Linear,
            _ => return Err(unexpected(t, &format!("FILL {FILL_HELP}"))),
        },
        _ => return Err(unexpected(t, &format!("FILL {FILL_HELP}"))),
    };
    let mut max_gap = None;
    if c.eat(|t| t.token == Token::Comma) {
        let t = c.next("a maximum gap (a duration) after FILL(policy,")?;
        if !matches!(policy, FillPolicy::Previous | FillPolicy::Linear) {
            return Err(TsqError::parse(
                t.span.start.into(),
                format!("FILL({policy}) takes no maximum gap; only FILL(previous, <duration>) and FILL(linear, <duration>) do"),
            ));
        }
        max_gap = Some(match &t.token {
            Token::Number(n, _) | Token::SingleQuotedString(n) => {
                parse_duration(n).ok_or_else(|| {
                    TsqError::parse(
                        t.span.start.into(),
                        format!("bad maximum gap '{n}': {DURATION_HELP}"),
                    )
                })?
            }
            _ => return Err(unexpected(t, "a maximum gap such as 5m")),
        });
    }
    c.expect(|t| t.token == Token::RParen, ") after the FILL policy")?;
    Ok((policy, max_gap))
}

fn order_by(c: &mut Cursor<'_>) -> Result<Vec<OrderItem>> {
    let mut items = Vec::new();
    loop {
        let t = c.next("a column after ORDER BY")?;
        let column = match &t.token {
            Token::Word(w) => Name {
                value: w.value.clone(),
                pos: t.span.start.into(),
            },
            _ => return Err(unexpected(t, "a column name (time, a tag or an aggregate)")),
        };
        let descending = if c.eat(|t| is_keyword(t, Keyword::DESC)) {
            true
        } else {
            c.eat(|t| is_keyword(t, Keyword::ASC));
            false
        };
        items.push(OrderItem { column, descending });
        if !c.eat(|t| t.token == Token::Comma) {
            return Ok(items);
        }
    }
}
