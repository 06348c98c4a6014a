//! The statements parsed last, by text: a dashboard or a benchmark sends
//! the same query text again and again, and parsing it (tokenizing, then
//! sqlparser over the head) costs more than the rest of planning for a
//! small query (`docs/architecture.md`, "Parsing the same text again").
//! A statement is a function of its text alone (positions included), so a
//! copy of the one parsed before is the same statement. Only statements
//! that parsed are kept (an error is reported by parsing again), and only
//! texts of at most [`MAX_TEXT_BYTES`], the [`ENTRIES`] used last.

use std::sync::Mutex;

use crate::ast::Statement;

/// Statements kept.
pub(super) const ENTRIES: usize = 32;

/// Longest text kept, in bytes.
pub(super) const MAX_TEXT_BYTES: usize = 8 << 10;

/// `(text, statement)`, the one used last at the end.
static CACHE: Mutex<Vec<(Box<str>, Statement)>> = Mutex::new(Vec::new());

/// A copy of the statement `text` parsed to, if it is kept.
pub(super) fn get(text: &str) -> Option<Statement> {
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let at = cache.iter().rposition(|(t, _)| &**t == text)?;
    let entry = cache.remove(at);
    let statement = entry.1.clone();
    cache.push(entry);
    Some(statement)
}

/// Keeps `statement`, parsed from `text`, in place of the one used least
/// recently when full.
pub(super) fn put(text: &str, statement: &Statement) {
    if text.len() > MAX_TEXT_BYTES {
        return;
    }
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if cache.iter().any(|(t, _)| &**t == text) {
        return;
    }
    if cache.len() >= ENTRIES {
        cache.remove(0);
    }
    cache.push((Box::from(text), statement.clone()));
}
