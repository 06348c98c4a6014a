//! A small deterministic random generator for the engine's seeded
//! differential and property tests (test builds only): the same seed gives
//! the same cases on every machine, without a dependency.

/// A 64-bit linear congruential generator read from its high bits.
pub(crate) struct Lcg(pub(crate) u64);

impl Lcg {
    /// A number in `0..n` (`0` when `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}
