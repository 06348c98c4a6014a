//! A cursor over a statement's tokens (blanks removed), shared by the parser
//! of the query tail (`SAMPLE BY`, `FILL`, `ORDER BY`, `LIMIT`) and that of
//! `SHOW` statements. Every error names the token's position, or the end of
//! the input when it ran out.

use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, TokenWithSpan};

use super::tokens::is_keyword;
use crate::ast::Name;
use crate::error::{Pos, Result, TsqError};

/// Tokens and the index of the next one.
pub(super) struct Cursor<'a> {
    pub(super) tokens: &'a [TokenWithSpan],
    pub(super) i: usize,
    /// Where the input ends (the position of "found end of …").
    pub(super) end: Pos,
    /// What the input is called in that error: "query", "statement".
    input: &'static str,
}

impl<'a> Cursor<'a> {
    /// A cursor at the first of `tokens`, an input called `input` that ends
    /// at `end`.
    pub(super) fn new(tokens: &'a [TokenWithSpan], end: Pos, input: &'static str) -> Self {
        Cursor {
            tokens,
            i: 0,
            end,
            input,
        }
    }

    /// The next token, not consumed.
    pub(super) fn peek(&self) -> Option<&'a TokenWithSpan> {
        self.tokens.get(self.i)
    }

    /// The position of the next token, or the end.
    pub(super) fn pos(&self) -> Pos {
        self.peek().map_or(self.end, |t| t.span.start.into())
    }

    /// Consumes the next token; `what` was expected if there is none.
    pub(super) fn next(&mut self, what: &str) -> Result<&'a TokenWithSpan> {
        let t = self.tokens.get(self.i).ok_or_else(|| {
            TsqError::parse(
                self.end,
                format!("expected {what}, found end of {}", self.input),
            )
        })?;
        self.i += 1;
        Ok(t)
    }

    /// Consumes the next token if `pred` holds for it.
    pub(super) fn eat(&mut self, pred: impl Fn(&TokenWithSpan) -> bool) -> bool {
        let hit = self.peek().is_some_and(pred);
        if hit {
            self.i += 1;
        }
        hit
    }

    /// Consumes the next token, which must satisfy `pred` (it is `what`).
    pub(super) fn expect(
        &mut self,
        pred: impl Fn(&TokenWithSpan) -> bool,
        what: &str,
    ) -> Result<()> {
        let t = self.next(what)?;
        if pred(t) {
            Ok(())
        } else {
            Err(unexpected(t, what))
        }
    }

    /// Consumes keyword `kw` if it is next.
    pub(super) fn eat_keyword(&mut self, kw: Keyword) -> bool {
        self.eat(|t| is_keyword(t, kw))
    }

    /// Consumes keyword `kw`, which must be next (it is `what`).
    pub(super) fn expect_keyword(&mut self, kw: Keyword, what: &str) -> Result<()> {
        self.expect(|t| is_keyword(t, kw), what)
    }

    /// A name: an identifier, quoted or not.
    pub(super) fn name(&mut self, what: &str) -> Result<Name> {
        let t = self.next(what)?;
        match &t.token {
            Token::Word(w) => Ok(Name {
                value: w.value.clone(),
                pos: t.span.start.into(),
            }),
            _ => Err(unexpected(t, what)),
        }
    }
}

/// "expected `what`, found …" at token `t`.
pub(super) fn unexpected(t: &TokenWithSpan, what: &str) -> TsqError {
    TsqError::parse(
        t.span.start.into(),
        format!("expected {what}, found '{}'", t.token),
    )
}
