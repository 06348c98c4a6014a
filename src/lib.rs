//! tsq facade.
pub use tsq_engine as engine;
