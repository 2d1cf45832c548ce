//! How busy the load generator itself was: the process's CPU time over each second of the load,
//! as a share of the cores it may use. A saturated generator starts its iterations late and
//! adds its own queueing to every latency it measures, so its numbers describe windtunnel, not
//! the SUT.

use std::time::Duration;

use tokio::time::Instant;

/// A second counts as saturated when the process kept at least this share of its cores busy.
pub(crate) const SATURATED: f64 = 0.90;

/// The shortest window measured: the last, partial second of a load counts only if this long.
const SHORTEST_WINDOW: Duration = Duration::from_millis(250);

/// The generator's CPU use over one load.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct CpuUse {
    /// The cores the process may use.
    pub(crate) cores: u32,
    /// How long was measured.
    pub(crate) sampled: Duration,
    /// How much of it the process was saturated.
    pub(crate) saturated: Duration,
    /// The share of the cores busy in the busiest window.
    pub(crate) peak: f64,
    /// The CPU time the process used while measured.
    pub(crate) busy: Duration,
}

impl CpuUse {
    /// The share of the cores busy over the whole measurement.
    pub(crate) fn mean(&self) -> f64 {
        share(self.busy, self.sampled, self.cores)
    }
}

fn share(busy: Duration, wall: Duration, cores: u32) -> f64 {
    if wall.is_zero() || cores == 0 {
        0.0
    } else {
        busy.as_secs_f64() / (wall.as_secs_f64() * f64::from(cores))
    }
}

/// Measures [`CpuUse`] from samples of the process's CPU clock, one window per second.
pub(crate) struct CpuMeter {
    usage: CpuUse,
    /// When the open window started, and the CPU clock then.
    window: (Instant, Duration),
    clock: fn() -> Duration,
}

impl CpuMeter {
    /// Starts measuring now, with the process's CPU clock.
    pub(crate) fn start() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        CpuMeter::with_clock(cores, process_cpu, Instant::now())
    }

    fn with_clock(cores: u32, clock: fn() -> Duration, now: Instant) -> Self {
        CpuMeter {
            usage: CpuUse {
                cores,
                ..CpuUse::default()
            },
            window: (now, clock()),
            clock,
        }
    }

    /// Closes the open window if it has lasted a second; call it often (the supervisor does,
    /// every 20 ms).
    pub(crate) fn sample(&mut self, now: Instant) {
        if now.saturating_duration_since(self.window.0) >= Duration::from_secs(1) {
            self.close(now);
        }
    }

    /// Ends the measurement: the open window counts if it lasted [`SHORTEST_WINDOW`].
    pub(crate) fn finish(mut self, now: Instant) -> CpuUse {
        if now.saturating_duration_since(self.window.0) >= SHORTEST_WINDOW {
            self.close(now);
        }
        self.usage
    }

    fn close(&mut self, now: Instant) {
        let cpu = (self.clock)();
        let wall = now.saturating_duration_since(self.window.0);
        let busy = cpu.saturating_sub(self.window.1);
        let busy_share = share(busy, wall, self.usage.cores);
        let u = &mut self.usage;
        u.sampled += wall;
        u.busy += busy;
        u.peak = u.peak.max(busy_share);
        if busy_share >= SATURATED {
            u.saturated += wall;
        }
        self.window = (now, cpu);
    }
}

/// The CPU time this process has used, all threads together.
fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    static FAKE_CPU_MS: AtomicU64 = AtomicU64::new(0);

    fn fake() -> Duration {
        Duration::from_millis(FAKE_CPU_MS.load(Ordering::SeqCst))
    }

    #[test]
    fn windows_of_a_second_are_saturated_when_the_cores_are_busy() {
        let t0 = Instant::now();
        FAKE_CPU_MS.store(0, Ordering::SeqCst);
        let mut m = CpuMeter::with_clock(2, fake, t0);
        // First second: 1.9 of 2 core-seconds (95%): saturated.
        FAKE_CPU_MS.store(1900, Ordering::SeqCst);
        m.sample(t0 + Duration::from_millis(500));
        m.sample(t0 + Duration::from_secs(1));
        // Second second: 0.5 core-seconds (25%).
        FAKE_CPU_MS.store(2400, Ordering::SeqCst);
        m.sample(t0 + Duration::from_secs(2));
        // A last window of 100 ms is too short to count.
        FAKE_CPU_MS.store(2600, Ordering::SeqCst);
        let u = m.finish(t0 + Duration::from_millis(2100));
        assert_eq!(u.sampled, Duration::from_secs(2));
        assert_eq!(u.saturated, Duration::from_secs(1));
        assert!((u.peak - 0.95).abs() < 1e-9, "{u:?}");
        assert!((u.mean() - 0.6).abs() < 1e-9, "{u:?}");
    }

    #[test]
    fn the_process_clock_moves_with_work() {
        let before = process_cpu();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(process_cpu() > before);
    }
}
