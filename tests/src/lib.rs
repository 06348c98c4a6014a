//! End-to-end and differential tests for tsq live in `tests/tests/`.
