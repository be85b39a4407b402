//! How a cost grows with its input, for the unit tests that promise "linear"
//! or "cheap": a bound on the ratio between two input sizes, generous enough
//! for a noisy machine (linear work gives about 4 for 4× the input, 5 to 7
//! measured in a debug build where allocation weighs in; the bound is 12,
//! where quadratic work gives 16), plus 2 ms of slack for timer noise. The
//! inputs are sized so the smaller run takes milliseconds, not microseconds.

use std::time::{Duration, Instant};

/// The fastest of three runs.
fn best_of_three(f: &impl Fn(usize), n: usize) -> Duration {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            f(n);
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// Panics unless `f(4n)` takes at most 12 times as long as `f(n)` (+2 ms).
pub fn assert_linear(what: &str, n: usize, f: impl Fn(usize)) {
    let small = best_of_three(&f, n);
    let large = best_of_three(&f, 4 * n);
    assert!(
        large <= small * 12 + Duration::from_millis(2),
        "{what}: {n} took {small:?}, {} took {large:?}: more than linear",
        4 * n
    );
}
