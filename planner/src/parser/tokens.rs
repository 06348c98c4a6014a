//! Token-level work done before sqlparser sees a statement: tokenizing the
//! whole script once (so every position is a position in the script),
//! gluing `1` `h` into the duration token `1h`, splitting on `;`, peeling off
//! `EXPLAIN [ANALYZE]`, and cutting the trailing non-SQL clauses
//! (`SAMPLE BY`, `FILL`, `ORDER BY`, `LIMIT`) from the SQL head.

use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use super::dialect::TsqDialect;
use crate::ast::ExplainMode;
use crate::error::{Pos, Result, TsqError};

/// The tokens of one statement, split into the part sqlparser parses and the
/// tail tsq parses itself.
#[derive(Debug, Clone)]
pub(crate) struct StatementTokens {
    /// `EXPLAIN [ANALYZE]` prefix.
    pub explain: Option<ExplainMode>,
    /// `SELECT ... [GROUP BY ...]`.
    pub head: Vec<TokenWithSpan>,
    /// `[SAMPLE BY ...] [FILL(...)] [ORDER BY ...] [LIMIT n]`, no whitespace.
    pub tail: Vec<TokenWithSpan>,
    /// Position of `*` in a trailing `GROUP BY *` (removed from `head`:
    /// sqlparser does not accept it).
    pub group_all: Option<Pos>,
    /// Position of the first token.
    pub start: Pos,
    /// Position just after the last token (for "unexpected end" errors).
    pub end: Pos,
}

/// Tokenizes `script`, mapping tokenizer errors to parse errors.
pub(crate) fn tokenize(script: &str) -> Result<Vec<TokenWithSpan>> {
    let tokens = Tokenizer::new(&TsqDialect, script)
        .tokenize_with_location()
        .map_err(|e| TsqError::parse(Pos::new(e.location.line, e.location.column), e.message))?;
    Ok(glue_durations(tokens))
}

/// `Number("1")` immediately followed by `Word("h")` becomes `Number("1h")`.
fn glue_durations(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    for t in tokens {
        if let (Some(prev), Token::Word(w)) = (out.last_mut(), &t.token) {
            if let Token::Number(n, long) = &prev.token {
                let adjacent = prev.span.end == t.span.start;
                let integer = n.bytes().all(|b| b.is_ascii_digit());
                if adjacent && integer && w.quote_style.is_none() {
                    prev.token = Token::Number(format!("{n}{}", w.value), *long);
                    prev.span.end = t.span.end;
                    continue;
                }
            }
        }
        out.push(t);
    }
    out
}

/// True for tokens that carry no meaning (spaces, comments).
pub(crate) fn is_blank(t: &TokenWithSpan) -> bool {
    matches!(t.token, Token::Whitespace(_))
}

/// True when `t` is the unquoted keyword `kw`.
pub(crate) fn is_keyword(t: &TokenWithSpan, kw: Keyword) -> bool {
    matches!(&t.token, Token::Word(w) if w.keyword == kw && w.quote_style.is_none())
}

/// True when `t` is the unquoted word `word` (case-insensitive), keyword or not.
pub(crate) fn is_word(t: &TokenWithSpan, word: &str) -> bool {
    matches!(&t.token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

/// Splits a tokenized script on `;` into statements, skipping empty ones.
pub(crate) fn split_statements(tokens: Vec<TokenWithSpan>) -> Vec<StatementTokens> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    for t in tokens {
        match t.token {
            Token::SemiColon => out.extend(statement(std::mem::take(&mut current))),
            Token::EOF => {}
            _ => current.push(t),
        }
    }
    out.extend(statement(current));
    out
}

/// Builds one statement from its tokens; `None` when it holds only blanks.
fn statement(tokens: Vec<TokenWithSpan>) -> Option<StatementTokens> {
    let mut tokens: Vec<TokenWithSpan> = tokens.into_iter().skip_while(is_blank).collect();
    while tokens.last().is_some_and(is_blank) {
        tokens.pop();
    }
    let start = Pos::from(tokens.first()?.span.start);
    let end = Pos::from(tokens.last()?.span.end);
    let explain = take_explain(&mut tokens);
    let cut = tail_start(&tokens);
    let tail = tokens
        .split_off(cut)
        .into_iter()
        .filter(|t| !is_blank(t))
        .collect();
    let group_all = take_group_all(&mut tokens);
    Some(StatementTokens {
        explain,
        group_all,
        head: tokens,
        tail,
        start,
        end,
    })
}

/// Removes a leading `EXPLAIN [ANALYZE]`.
fn take_explain(tokens: &mut Vec<TokenWithSpan>) -> Option<ExplainMode> {
    if !tokens
        .first()
        .is_some_and(|t| is_keyword(t, Keyword::EXPLAIN))
    {
        return None;
    }
    let mut rest = tokens
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(_, t)| !is_blank(t));
    let (mode, skip) = match rest.next() {
        Some((i, t)) if is_keyword(t, Keyword::ANALYZE) => (ExplainMode::Analyze, i + 1),
        _ => (ExplainMode::Plan, 1),
    };
    tokens.drain(..skip);
    Some(mode)
}

/// Removes a trailing `GROUP BY *`, returning the position of `*`.
fn take_group_all(tokens: &mut Vec<TokenWithSpan>) -> Option<Pos> {
    let sig: Vec<usize> = (0..tokens.len())
        .filter(|&i| !is_blank(&tokens[i]))
        .collect();
    let [.., g, b, star] = sig.as_slice() else {
        return None;
    };
    let hit = is_keyword(&tokens[*g], Keyword::GROUP)
        && is_keyword(&tokens[*b], Keyword::BY)
        && tokens[*star].token == Token::Mul;
    if !hit {
        return None;
    }
    let pos = tokens[*star].span.start.into();
    tokens.truncate(*g);
    Some(pos)
}

/// Index of the first top-level `SAMPLE`, `FILL`, `ORDER BY` or `LIMIT`.
fn tail_start(tokens: &[TokenWithSpan]) -> usize {
    let mut depth = 0i32;
    let significant: Vec<usize> = (0..tokens.len())
        .filter(|&i| !is_blank(&tokens[i]))
        .collect();
    for (k, &i) in significant.iter().enumerate() {
        let t = &tokens[i];
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            _ if depth != 0 => {}
            _ if is_word(t, "sample") || is_word(t, "fill") || is_keyword(t, Keyword::LIMIT) => {
                return i
            }
            _ if is_keyword(t, Keyword::ORDER)
                && significant
                    .get(k + 1)
                    .is_some_and(|&j| is_keyword(&tokens[j], Keyword::BY)) =>
            {
                return i
            }
            _ => {}
        }
    }
    tokens.len()
}

/// Longest run of tokens allowed between two `AND`s, `OR`s or commas at one
/// level of parentheses (a parenthesized group counts as one token).
pub(crate) const MAX_RUN_TOKENS: usize = 20_000;

/// The longest such run in `head` (see [`MAX_RUN_TOKENS`]). sqlparser
/// builds a run of binary operators (`a + b + c ...`) as a left-deep tree
/// whose depth is the run's length, and walks it recursively (its spans,
/// its display, its drop); `AND` / `OR` chains are walked in loops by our
/// conversion, so they do not count. Errors at the token that makes a run
/// too long.
pub(crate) fn longest_run(head: &[TokenWithSpan]) -> Result<usize> {
    let mut runs = vec![0usize];
    let mut longest = 0;
    for t in head.iter().filter(|t| !is_blank(t)) {
        let separator = matches!(t.token, Token::Comma)
            || is_keyword(t, Keyword::AND)
            || is_keyword(t, Keyword::OR);
        match t.token {
            Token::LParen => {
                runs.push(0);
                continue;
            }
            Token::RParen if runs.len() > 1 => {
                runs.pop();
            }
            _ if separator => {
                if let Some(run) = runs.last_mut() {
                    *run = 0;
                }
                continue;
            }
            _ => {}
        }
        if let Some(run) = runs.last_mut() {
            *run += 1;
            longest = longest.max(*run);
            if *run > MAX_RUN_TOKENS {
                return Err(TsqError::parse(
                    t.span.start.into(),
                    format!(
                        "expression too long: more than {MAX_RUN_TOKENS} tokens without AND, OR \
                         or a comma between them (a chain of operators nests that deep)"
                    ),
                ));
            }
        }
    }
    Ok(longest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(ts: &[TokenWithSpan]) -> Vec<String> {
        ts.iter()
            .filter(|t| !is_blank(t))
            .map(|t| t.token.to_string())
            .collect()
    }

    #[test]
    fn splits_statements_and_cuts_tail() {
        let script = "EXPLAIN ANALYZE SELECT a FROM m SAMPLE BY 1h;\n ; \nSELECT b FROM m ORDER BY time LIMIT 3";
        let st = split_statements(tokenize(script).unwrap());
        assert_eq!(st.len(), 2);
        assert_eq!(st[0].explain, Some(ExplainMode::Analyze));
        assert_eq!(texts(&st[0].head), ["SELECT", "a", "FROM", "m"]);
        assert_eq!(texts(&st[0].tail), ["SAMPLE", "BY", "1h"]);
        assert_eq!(st[1].explain, None);
        assert_eq!(st[1].start, Pos::new(3, 1));
        assert_eq!(texts(&st[1].tail), ["ORDER", "BY", "time", "LIMIT", "3"]);
    }

    #[test]
    fn glues_only_adjacent_units() {
        let t = tokenize("now() - 1h + 500ms - 3 h").unwrap();
        assert_eq!(
            texts(&t),
            ["now", "(", ")", "-", "1h", "+", "500ms", "-", "3", "h"]
        );
    }
}
