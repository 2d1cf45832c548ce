//! Metrics: every request, check and iteration is recorded by a [`Recorder`] into per-thread
//! shards (HDR histograms and counters, no global lock on the hot path) and merged into a
//! [`MetricsSnapshot`] at the end. Metrics know nothing of scheduling or of reports.

mod cpu;
mod recorder;
mod series;
mod snapshot;

pub(crate) use cpu::{CpuMeter, CpuUse, SATURATED};
pub use recorder::ErrorKind;
pub(crate) use recorder::{
    IterationCounters, IterationOutcome, Outcome, Recorder, RecorderSettings, current_recorder,
    new_histogram, with_recorder,
};
pub(crate) use series::{Buckets, Point, Series, compact, histogram_of};
pub(crate) use snapshot::{ErrorClass, MetricsSnapshot, RequestMetrics, total_of};
