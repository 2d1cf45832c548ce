//! Keyed random draws: every turbulence decision comes from the scenario seed and the logical
//! identity of what it decides on (agent, iteration, request number, rule; proxy, connection,
//! direction, chunk), never from which task asked first. SplitMix64 is a fixed, published
//! function, so a seed replays the same decisions in every version.

use std::f64::consts::TAU;
use std::time::Duration;

/// What a draw decides on, so that the streams of different decisions never coincide.
#[derive(Clone, Copy, Debug)]
#[repr(u64)]
pub(crate) enum Domain {
    /// Whether an HTTP rule fires on a request, and its delay.
    Request = 1,
    /// Whether a toxic applies to a proxy connection.
    Connection = 2,
    /// A toxic's per-chunk randomness (jitter, slice sizes).
    Chunk = 3,
    /// Whether an HTTP toxic acts on a request through a proxy, and its delay.
    Exchange = 4,
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function (Steele, Lea and Flood, 2014).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A SplitMix64 stream keyed by a seed, a domain and the parts of a logical identity.
#[derive(Clone, Debug)]
pub(crate) struct Draws(u64);

impl Draws {
    pub(crate) fn new(seed: u64, domain: Domain, key: &[u64]) -> Self {
        let mut state = mix(seed.wrapping_add(GOLDEN)) ^ domain as u64;
        for &part in key {
            state = mix(state.wrapping_add(GOLDEN) ^ part);
        }
        Draws(state)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix(self.0)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `(0, 1]`: safe under a logarithm.
    fn open_unit(&mut self) -> f64 {
        1.0 - self.unit()
    }
}

/// A stable 64-bit hash of a name (FNV-1a), to key draws by a proxy's or rule's name.
pub(crate) fn hash_name(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// How a delay varies around its base: the random part added to it (the total is never below
/// zero).
///
/// ```
/// use windtunnel::turbulence::Jitter;
/// use windtunnel::ms;
///
/// let uniform: Jitter = ms(50).into(); // ±50 ms, uniformly
/// let normal = Jitter::normal(ms(20)); // standard deviation 20 ms
/// let exponential = Jitter::exponential(ms(30)); // mean 30 ms, never negative
/// let pareto = Jitter::pareto(ms(10), 2.5); // heavy tail: scale 10 ms, shape 2.5
/// # let _ = (uniform, normal, exponential, pareto);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Jitter {
    /// None: the delay is exactly its base.
    None,
    /// Uniform in `-j..=+j`.
    Uniform(Duration),
    /// Normal with mean 0 and this standard deviation.
    Normal(Duration),
    /// Exponential with this mean (always ≥ 0).
    Exponential(Duration),
    /// Pareto of type II (Lomax), starting at 0: `scale · (U^(-1/shape) − 1)`; its mean is
    /// `scale / (shape − 1)` for a shape above 1. Heavy-tailed: a few very long delays.
    Pareto {
        /// The scale.
        scale: Duration,
        /// The shape (tail index): the smaller, the heavier the tail.
        shape: f64,
    },
}

impl Jitter {
    /// Uniform in `-j..=+j`.
    pub fn uniform(j: Duration) -> Self {
        Jitter::Uniform(j)
    }

    /// Normal with mean 0 and standard deviation `sd`.
    pub fn normal(sd: Duration) -> Self {
        Jitter::Normal(sd)
    }

    /// Exponential with mean `mean`.
    pub fn exponential(mean: Duration) -> Self {
        Jitter::Exponential(mean)
    }

    /// Pareto (type II) with `scale` and `shape`.
    pub fn pareto(scale: Duration, shape: f64) -> Self {
        Jitter::Pareto { scale, shape }
    }

    /// Why this jitter cannot be used, if it cannot.
    pub(crate) fn problem(&self) -> Option<String> {
        match self {
            Jitter::Pareto { shape, .. } if !(shape.is_finite() && *shape > 0.0) => Some(format!(
                "the Pareto shape must be a number above 0, not {shape}"
            )),
            _ => None,
        }
    }

    /// `base` plus a draw of this jitter, never below zero.
    pub(crate) fn apply(&self, base: Duration, draws: &mut Draws) -> Duration {
        let offset = match *self {
            Jitter::None => return base,
            Jitter::Uniform(j) => (2.0 * draws.unit() - 1.0) * j.as_secs_f64(),
            Jitter::Normal(sd) => {
                // Box–Muller.
                let r = (-2.0 * draws.open_unit().ln()).sqrt();
                r * (TAU * draws.unit()).cos() * sd.as_secs_f64()
            }
            Jitter::Exponential(mean) => -draws.open_unit().ln() * mean.as_secs_f64(),
            Jitter::Pareto { scale, shape } => {
                (draws.open_unit().powf(-1.0 / shape) - 1.0) * scale.as_secs_f64()
            }
        };
        let total = base.as_secs_f64() + offset;
        if total <= 0.0 {
            Duration::ZERO
        } else {
            Duration::try_from_secs_f64(total).unwrap_or(Duration::MAX)
        }
    }

    pub(crate) fn describe(&self) -> String {
        let ms = |d: Duration| crate::text::trim_float(d.as_secs_f64() * 1000.0);
        match self {
            Jitter::None => String::new(),
            Jitter::Uniform(j) => format!(" ± {} ms", ms(*j)),
            Jitter::Normal(sd) => format!(" + normal(sd {} ms)", ms(*sd)),
            Jitter::Exponential(m) => format!(" + exponential(mean {} ms)", ms(*m)),
            Jitter::Pareto { scale, shape } => format!(
                " + pareto(scale {} ms, shape {})",
                ms(*scale),
                crate::text::trim_float(*shape)
            ),
        }
    }
}

impl From<Duration> for Jitter {
    /// Uniform in `-j..=+j`, as toxiproxy's jitter.
    fn from(j: Duration) -> Self {
        Jitter::Uniform(j)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_pinned_and_keyed() {
        // Pinned: a change here changes every replayed run. Update only on purpose.
        let mut d = Draws::new(42, Domain::Request, &[1, 2, 3]);
        assert_eq!(d.next_u64(), PINNED);
        let again = Draws::new(42, Domain::Request, &[1, 2, 3]).next_u64();
        assert_eq!(again, PINNED);
        let first = |seed, domain, key: &[u64]| Draws::new(seed, domain, key).next_u64();
        assert_ne!(first(43, Domain::Request, &[1, 2, 3]), PINNED);
        assert_ne!(first(42, Domain::Connection, &[1, 2, 3]), PINNED);
        assert_ne!(first(42, Domain::Request, &[1, 2, 4]), PINNED);
        assert_ne!(first(42, Domain::Request, &[1, 3, 2]), PINNED);
        assert_eq!(hash_name("db"), hash_name("db"));
        assert_ne!(hash_name("db"), hash_name("dB"));
    }
    const PINNED: u64 = 11_668_591_242_867_189_749;

    #[test]
    fn the_generator_is_splitmix64() {
        // The reference implementation's first outputs from state 0 (Vigna's splitmix64.c).
        let mut d = Draws(0);
        assert_eq!(d.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(d.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    /// Mean and 99th percentile of 20,000 draws of `base` + `jitter`, in milliseconds.
    fn stats(base: Duration, jitter: Jitter) -> (f64, f64) {
        let mut values: Vec<f64> = (0..20_000u64)
            .map(|i| {
                let mut d = Draws::new(7, Domain::Request, &[i]);
                jitter.apply(base, &mut d).as_secs_f64() * 1000.0
            })
            .collect();
        values.sort_by(f64::total_cmp);
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        (mean, values[values.len() * 99 / 100])
    }

    fn close(actual: f64, expected: f64, tolerance: f64) {
        assert!(
            (actual - expected).abs() <= tolerance,
            "{actual} is not within {tolerance} of {expected}"
        );
    }

    #[test]
    fn delays_follow_their_distribution() {
        let ms = Duration::from_millis;
        // Uniform ±50 around 100: mean 100, p99 = 100 + 0.98·50 = 149.
        let (mean, p99) = stats(ms(100), Jitter::uniform(ms(50)));
        close(mean, 100.0, 1.0);
        close(p99, 149.0, 1.0);
        // Normal sd 20 around 100: p99 = 100 + 2.326·20 = 146.5.
        let (mean, p99) = stats(ms(100), Jitter::normal(ms(20)));
        close(mean, 100.0, 0.6);
        close(p99, 146.5, 1.5);
        // Exponential mean 30 on 10: mean 40, p99 = 10 + 30·ln(100) = 148.2.
        let (mean, p99) = stats(ms(10), Jitter::exponential(ms(30)));
        close(mean, 40.0, 1.0);
        close(p99, 148.2, 6.0);
        // Lomax scale 10, shape 3: mean 5, p99 = 10·(100^(1/3) − 1) = 36.4.
        let (mean, p99) = stats(Duration::ZERO, Jitter::pareto(ms(10), 3.0));
        close(mean, 5.0, 0.3);
        close(p99, 36.4, 2.0);
        // Never below zero: normal sd 100 around 10 clips at 0.
        let mut d = Draws::new(1, Domain::Request, &[]);
        for _ in 0..1000 {
            let _ = Jitter::normal(ms(100)).apply(ms(10), &mut d);
        }
        assert_eq!(Jitter::None.apply(ms(7), &mut d), ms(7));
        assert!(Jitter::pareto(ms(1), 0.0).problem().is_some());
        assert!(Jitter::pareto(ms(1), f64::NAN).problem().is_some());
    }
}
