//! The interactive loop: read lines, gather them until a statement ends with
//! `;`, run it; lines starting with `\` are commands.
//!
//! Input comes from a [`LineSource`]: [`EditorSource`] (rustyline, with the
//! history file in the data directory) on a terminal, [`ReaderSource`] when
//! stdin is a pipe or a file, in which case the statements run and the loop
//! ends at end of input. Ctrl-C at the prompt drops the pending input;
//! during a query it cancels the query (see [`Runner`]); Ctrl-D leaves.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;

use crate::cli::meta::parse_meta;
use crate::cli::runner::{Flow, Runner};
use crate::cli::statements::is_complete;

/// The name of the history file kept in the data directory.
pub const HISTORY_FILE: &str = ".tsq_history";

/// What reading one line gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadResult {
    /// A line, without its newline.
    Line(String),
    /// Ctrl-C at the prompt.
    Interrupted,
    /// End of input (Ctrl-D).
    Eof,
}

/// Where the REPL reads from.
pub trait LineSource {
    /// Reads one line, showing `prompt` when interactive.
    fn read_line(&mut self, prompt: &str) -> ReadResult;

    /// Records an entry (a statement or a command) in the history.
    fn add_history(&mut self, _entry: &str) {}
}

/// Lines of a reader (piped stdin), no prompt, no history.
pub struct ReaderSource<R: BufRead>(pub R);

impl<R: BufRead> LineSource for ReaderSource<R> {
    fn read_line(&mut self, _prompt: &str) -> ReadResult {
        let mut line = String::new();
        match self.0.read_line(&mut line) {
            Ok(0) | Err(_) => ReadResult::Eof,
            Ok(_) => ReadResult::Line(line.trim_end_matches(['\n', '\r']).to_string()),
        }
    }
}

/// A rustyline editor whose history persists in a file.
pub struct EditorSource {
    editor: DefaultEditor,
    history: PathBuf,
}

impl EditorSource {
    /// An editor loading (if present) and saving `history`.
    pub fn new(history: PathBuf) -> rustyline::Result<Self> {
        let mut editor = DefaultEditor::new()?;
        // A missing history file is normal on the first run.
        let _ = editor.load_history(&history);
        Ok(EditorSource { editor, history })
    }
}

impl LineSource for EditorSource {
    fn read_line(&mut self, prompt: &str) -> ReadResult {
        match self.editor.readline(prompt) {
            Ok(line) => ReadResult::Line(line),
            Err(ReadlineError::Interrupted) => ReadResult::Interrupted,
            Err(_) => ReadResult::Eof,
        }
    }

    fn add_history(&mut self, entry: &str) {
        let _ = self.editor.add_history_entry(entry);
        if let Err(e) = self.editor.save_history(&self.history) {
            eprintln!(
                "warning: cannot save the history to {}: {e}",
                self.history.display()
            );
        }
    }
}

/// `\set allow_partial [on|off]`: let queries run without the damaged files
/// they need (reporting them) instead of failing; without a value shows the
/// setting. `None` when `line` is another command; else whether it worked.
fn set_allow_partial(
    runner: &Runner,
    line: &str,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Option<bool> {
    let words: Vec<&str> = line
        .trim()
        .trim_end_matches(';')
        .split_whitespace()
        .collect();
    let (["\\set", "allow_partial"] | ["\\set", "allow_partial", _]) = words.as_slice() else {
        return None;
    };
    let engine = runner.engine();
    let on = match words.get(2).map(|w| w.to_ascii_lowercase()).as_deref() {
        None => engine.allow_partial(),
        Some("on" | "true") => true,
        Some("off" | "false") => false,
        Some(other) => {
            let _ = writeln!(
                err,
                "error: \\set allow_partial: expected on or off, got '{other}'"
            );
            return Some(false);
        }
    };
    if words.len() == 3 && !engine.set_allow_partial(on) {
        let _ = writeln!(err, "error: this engine cannot leave out damaged files");
        return Some(false);
    }
    let state = if on {
        "on (queries run without damaged files and list them)"
    } else {
        "off (a query that needs a damaged file fails)"
    };
    let _ = writeln!(out, "allow_partial is {state}.");
    Some(true)
}

/// Runs the loop until `\q`, Ctrl-D or end of input; false if any statement
/// or command failed.
pub fn run_repl(
    runner: &mut Runner,
    source: &mut dyn LineSource,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> bool {
    let mut buffer = String::new();
    let mut ok = true;
    loop {
        let prompt = if buffer.trim().is_empty() {
            "tsq> "
        } else {
            "  -> "
        };
        let line = match source.read_line(prompt) {
            ReadResult::Line(line) => line,
            ReadResult::Interrupted => {
                buffer.clear();
                continue;
            }
            ReadResult::Eof => break,
        };
        if buffer.trim().is_empty() && line.trim_start().starts_with('\\') {
            source.add_history(line.trim());
            if let Some(done) = set_allow_partial(runner, &line, out, err) {
                ok &= done;
                continue;
            }
            match parse_meta(&line) {
                Ok(cmd) => match runner.run_meta(cmd, out, err) {
                    Flow::Quit => return ok,
                    Flow::Failed => ok = false,
                    Flow::Continue => {}
                },
                Err(message) => {
                    let _ = writeln!(err, "error: {message}");
                    ok = false;
                }
            }
            continue;
        }
        buffer.push_str(&line);
        buffer.push('\n');
        if is_complete(&buffer) {
            source.add_history(buffer.trim_end());
            ok &= runner.run_script(&buffer, out, err);
            buffer.clear();
        }
    }
    // A last statement without `;` at the end of a piped script still runs.
    if !buffer.trim().is_empty() {
        ok &= runner.run_script(&buffer, out, err);
    }
    ok
}
