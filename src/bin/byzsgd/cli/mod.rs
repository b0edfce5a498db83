//! The `byzsgd` command line: one module per command, each with its clap arguments and a `run`
//! that writes its report to a writer. `main.rs` only dispatches.

pub mod aggregate;
pub mod bench;
pub mod bench_layers;
pub mod bench_model;
pub mod bench_net;
pub mod bench_overhead;
pub mod bench_protocol;
pub mod datasets;
pub mod evaluate;
pub mod keygen;
pub mod kubernetes;
pub mod launch;
pub mod models;
pub mod node;
pub mod place;
pub mod plot;
pub mod progress;
pub mod report;
pub mod reproduce;
pub mod rules;
pub mod simulate;
pub mod stats;

pub use aggregate::AggregateArgs;
pub use bench::BenchArgs;
pub use simulate::SimulateArgs;
