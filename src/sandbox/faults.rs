//! Injected faults: 503 answers and dropped connections, drawn from one seeded generator.

use std::sync::{Mutex, PoisonError};

/// Decides which requests fail, repeatably for a given seed and request order.
#[derive(Debug)]
pub(crate) struct Faults {
    error_rate: f64,
    drop_rate: f64,
    /// One generator for every draw, so a seed gives one sequence of choices; locked because
    /// requests draw from it concurrently.
    rng: Mutex<fastrand::Rng>,
}

impl Faults {
    pub(crate) fn new(error_rate: f64, drop_rate: f64, seed: u64) -> Faults {
        Faults {
            error_rate,
            drop_rate,
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
        }
    }

    /// Whether this request gets an injected 503.
    pub(crate) fn inject_error(&self) -> bool {
        self.draw(self.error_rate)
    }

    /// Whether this created contact's answer is dropped.
    pub(crate) fn drop_answer(&self) -> bool {
        self.draw(self.drop_rate)
    }

    /// A disabled fault draws nothing, so enabling one fault leaves the other's sequence alone.
    fn draw(&self, rate: f64) -> bool {
        if rate <= 0.0 {
            return false;
        }
        let value = self
            .rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .f64();
        value < rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_of_zero_and_one_are_never_and_always() {
        let faults = Faults::new(1.0, 0.0, 7);
        assert!((0..1000).all(|_| faults.inject_error()));
        assert!((0..1000).all(|_| !faults.drop_answer()));
    }

    #[test]
    fn a_seed_repeats_its_choices() {
        let run = |seed| {
            let faults = Faults::new(0.5, 0.5, seed);
            (0..64)
                .map(|i| {
                    if i % 2 == 0 {
                        faults.inject_error()
                    } else {
                        faults.drop_answer()
                    }
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
        let hits = run(42).into_iter().filter(|&hit| hit).count();
        assert!((16..=48).contains(&hits), "{hits} of 64 at rate 0.5");
    }
}
