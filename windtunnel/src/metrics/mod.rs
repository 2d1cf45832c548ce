//! Metrics: every request, check and iteration is recorded by a [`Recorder`] into per-thread
//! shards (HDR histograms and counters, no global lock on the hot path) and merged into a
//! [`MetricsSnapshot`] at the end. Metrics know nothing of scheduling or of reports.

mod cpu;
mod recorder;
mod series;
mod snapshot;
mod vocabulary;

pub(crate) use cpu::{CpuMeter, CpuUse, SATURATED};
pub(crate) use recorder::{Recorder, RecorderSettings, current_recorder, with_recorder};
pub(crate) use series::{Buckets, Point, Series, compact, histogram_of};
pub(crate) use snapshot::{ErrorClass, MetricsSnapshot, RequestMetrics, total_of};
pub use vocabulary::ErrorKind;
pub(crate) use vocabulary::{
    IterationCounters, IterationOutcome, Outcome, StepCounters, StepKind, StepOutcome,
    new_histogram,
};
