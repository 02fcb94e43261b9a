//! The background client of `--other-client-rps`: another integration of the same
//! organization (the widget's backend, Zapier, a script) spending the same rate-limit budget.
//! It draws from the server's one limiter at a steady rate and only counts what it met: it
//! creates nothing and shows in none of the importer's counts.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::server::Shared;

/// The fastest background client the sandbox runs, in requests per second.
pub(crate) const MAX_RPS: f64 = 1000.0;

/// The time between two of its requests at `rps` requests per second; None for 0 (no
/// client). Refuses a rate that is not a number from 0 to `MAX_RPS`, or too slow to time.
pub(crate) fn period(rps: f64) -> Result<Option<Duration>, String> {
    if !(0.0..=MAX_RPS).contains(&rps) {
        return Err(format!(
            "other_client_rps must be from 0 to {MAX_RPS} requests per second, not {rps}"
        ));
    }
    if rps == 0.0 {
        return Ok(None);
    }
    Duration::try_from_secs_f64(1.0 / rps)
        .map(Some)
        .map_err(|_| format!("other_client_rps {rps} is too slow to time"))
}

/// Spends one request every `period` until `stop` is cancelled.
pub(crate) async fn run(shared: Arc<Shared>, period: Duration, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(period);
    // After a stall it goes on at its pace rather than catching up in a burst.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => shared.spend_for_other_client(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_period_is_one_over_the_rate_and_zero_is_no_client() {
        assert_eq!(period(0.0), Ok(None));
        assert_eq!(period(4.0), Ok(Some(Duration::from_millis(250))));
        assert_eq!(period(MAX_RPS), Ok(Some(Duration::from_millis(1))));
        for bad in [-1.0, f64::NAN, f64::INFINITY, MAX_RPS + 1.0] {
            assert!(period(bad).is_err(), "{bad}");
        }
        assert!(period(1e-300).is_err());
    }
}
