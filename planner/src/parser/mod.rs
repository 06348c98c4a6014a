//! The parser: query text → [`Statement`]s.
//!
//! ```text
//!   script ──tokenize (sqlparser Tokenizer, TsqDialect)──▶ tokens
//!          ──split on ';', peel EXPLAIN, cut tail──▶ head | tail
//!   head ──sqlparser Parser::parse_query──▶ sqlparser AST ──select.rs──▶ Query
//!   tail ──tail.rs (SAMPLE BY / FILL / ORDER BY / LIMIT)──▶ Query
//! ```
//!
//! The SQL part (`SELECT ... FROM ... WHERE ... GROUP BY ...`) is parsed by
//! sqlparser through [`TsqDialect`]; the clauses that are not SQL are parsed
//! here from the same token stream, so every error carries the line and
//! column of the script.

mod arith;
mod cursor;
mod dialect;
mod filter;
mod literal;
mod select;
mod show;
mod tail;
mod tokens;

pub use dialect::TsqDialect;

use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

use crate::ast::{Statement, StatementBody};
use crate::error::{Pos, Result, TsqError};

/// Parses a `;`-separated script into its statements (empty ones skipped).
pub fn parse_script(script: &str) -> Result<Vec<Statement>> {
    let tokens = tokens::tokenize(script)?;
    let lines = LineIndex::new(script);
    tokens::split_statements(tokens)
        .into_iter()
        .map(|st| parse_sized(st, script, &lines))
        .collect()
}

/// Statements with at most this many head tokens, and runs of at most
/// [`SMALL_RUN_TOKENS`], parse on the caller's stack.
const SMALL_STATEMENT_TOKENS: usize = 4_096;

/// See [`SMALL_STATEMENT_TOKENS`].
const SMALL_RUN_TOKENS: usize = 256;

/// Stack bytes reserved per head token of a long statement.
const STACK_PER_TOKEN: usize = 256;

/// Stack bytes reserved per token of the longest run (sqlparser's spans,
/// display and drop take a frame per operator of a chain).
const STACK_PER_RUN_TOKEN: usize = 2 << 10;

/// Longest statement head accepted, in tokens (whitespace included).
pub const MAX_STATEMENT_TOKENS: usize = 4_000_000;

/// Parses one statement; a long one on a thread whose stack grows with its
/// length. sqlparser builds `a OR b OR ...` as a left-deep tree and, when it
/// fails part way, drops that tree recursively inside the parser: a stack
/// frame per operator. Our own conversion and drop of `AND` / `OR` chains
/// are loops (see [`filter::convert`]); other chains of operators are
/// bounded by [`tokens::MAX_RUN_TOKENS`] and get stack for their depth.
fn parse_sized(st: tokens::StatementTokens, script: &str, lines: &LineIndex) -> Result<Statement> {
    let n = st.head.len();
    let run = tokens::longest_run(&st.head)?;
    if n <= SMALL_STATEMENT_TOKENS && run <= SMALL_RUN_TOKENS {
        return parse_tokens(st, script, lines);
    }
    if n > MAX_STATEMENT_TOKENS {
        return Err(TsqError::parse(
            st.start,
            format!(
                "statement too long: {n} tokens before SAMPLE BY/FILL/ORDER BY/LIMIT, at most \
                 {MAX_STATEMENT_TOKENS}: use IN ('a', 'b', ...) or a regex instead of a long \
                 chain of OR"
            ),
        ));
    }
    let start = st.start;
    let stack = (2 << 20) + n * STACK_PER_TOKEN + run * STACK_PER_RUN_TOKEN;
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("tsq-parse".into())
            .stack_size(stack)
            .spawn_scoped(scope, || parse_tokens(st, script, lines));
        match worker {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|_| Err(TsqError::parse(start, "the parser thread panicked"))),
            Err(e) => Err(TsqError::parse(
                start,
                format!("cannot start a parser thread with a {stack}-byte stack: {e}"),
            )),
        }
    })
}

/// Parses exactly one statement (a trailing `;` is allowed).
pub fn parse_statement(text: &str) -> Result<Statement> {
    let mut all = parse_script(text)?;
    match all.len() {
        1 => Ok(all.remove(0)),
        0 => Err(TsqError::parse(Pos::new(1, 1), "empty query")),
        _ => Err(TsqError::parse(
            Pos::new(1, 1),
            format!("expected one statement, found {}", all.len()),
        )),
    }
}

fn parse_tokens(st: tokens::StatementTokens, script: &str, lines: &LineIndex) -> Result<Statement> {
    let text = lines.slice(script, st.start, st.end).to_string();
    let first = st.head.iter().find(|t| !tokens::is_blank(t));
    if first.is_some_and(|t| show::is_show(std::slice::from_ref(t))) {
        return parse_show(st, text);
    }
    let start = st
        .head
        .iter()
        .find(|t| !tokens::is_blank(t))
        .map_or(st.end, |t| t.span.start.into());
    let mut parser = Parser::new(&TsqDialect).with_tokens_with_locations(st.head);
    let sql = SqlQuery(
        parser
            .parse_query()
            .map_err(|e| parser_error(e, start, st.end))?,
    );
    let next = parser.peek_token();
    if next.token != Token::EOF {
        return Err(TsqError::parse(
            next.span.start.into(),
            format!("unexpected '{}'", next.token),
        ));
    }
    let mut query = select::convert(&sql.0, start, filter::now())?;
    if let Some(pos) = st.group_all {
        query.group_by = Some(crate::ast::GroupByClause::All(pos));
    }
    tail::parse(&st.tail, st.end, &mut query)?;
    Ok(Statement {
        explain: st.explain,
        body: StatementBody::Select(query),
        text,
    })
}

/// A `SHOW` statement: its head and tail tokens are one token list again.
fn parse_show(st: tokens::StatementTokens, text: String) -> Result<Statement> {
    if st.explain.is_some() {
        return Err(TsqError::parse(
            st.start,
            "EXPLAIN takes a SELECT statement, not SHOW",
        ));
    }
    if let Some(pos) = st.group_all {
        return Err(TsqError::parse(pos, "SHOW statements take no GROUP BY"));
    }
    let mut all: Vec<_> = st
        .head
        .into_iter()
        .filter(|t| !tokens::is_blank(t))
        .collect();
    all.extend(st.tail);
    let show = show::parse(&all, st.end, filter::now())?;
    Ok(Statement {
        explain: None,
        body: StatementBody::Show(show),
        text,
    })
}

/// A parsed sqlparser query whose `WHERE` is dropped without recursion (see
/// [`filter::drop_expr`]) on every path out of [`parse_tokens`].
struct SqlQuery(Box<sqlparser::ast::Query>);

impl Drop for SqlQuery {
    fn drop(&mut self) {
        if let sqlparser::ast::SetExpr::Select(select) = self.0.body.as_mut() {
            if let Some(e) = select.selection.take() {
                filter::drop_expr(e);
            }
        }
    }
}

/// Maps a sqlparser error to a parse error, recovering its position from the
/// message (`... at Line: 1, Column: 20`); an error at the end of the input
/// points just past the statement's last token, others at its start.
fn parser_error(e: ParserError, start: Pos, end: Pos) -> TsqError {
    let message = match e {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => m,
        ParserError::RecursionLimitExceeded => "query nested too deeply".to_string(),
    };
    if let Some(at) = message.rfind(" at Line: ") {
        let loc = &message[at + " at Line: ".len()..];
        if let Some((line, col)) = loc.split_once(", Column: ") {
            if let (Ok(line), Ok(col)) = (line.trim().parse(), col.trim().parse()) {
                return TsqError::parse(Pos::new(line, col), message[..at].to_string());
            }
        }
    }
    let at = if message.ends_with("found: EOF") {
        end
    } else {
        start
    };
    TsqError::parse(at, message)
}

/// Byte offsets of line starts, to cut statement texts out of the script.
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex(starts)
    }

    fn offset(&self, text: &str, pos: Pos) -> usize {
        let Some(&line_start) = self.0.get(pos.line.saturating_sub(1) as usize) else {
            return text.len();
        };
        let col = pos.column.saturating_sub(1) as usize;
        text[line_start..]
            .char_indices()
            .nth(col)
            .map_or(text.len(), |(i, _)| line_start + i)
    }

    fn slice<'a>(&self, text: &'a str, start: Pos, end: Pos) -> &'a str {
        let (a, b) = (self.offset(text, start), self.offset(text, end));
        text.get(a..b.max(a)).unwrap_or("")
    }
}

#[cfg(test)]
mod tests;
