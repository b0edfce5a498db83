//! The `byzsgd` command line: one module per command, each with its clap arguments and a `run`
//! that writes its report to a writer. The binary (`src/bin/byzsgd.rs`) only dispatches.

pub mod aggregate;
pub mod bench;
pub mod bench_model;
pub mod bench_overhead;
pub mod datasets;
pub mod models;
pub mod plot;
pub mod progress;
pub mod rules;
pub mod simulate;

pub use aggregate::AggregateArgs;
pub use bench::{BenchArgs, BenchCommand};
pub use simulate::SimulateArgs;
