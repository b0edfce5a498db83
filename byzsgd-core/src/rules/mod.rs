//! The built-in rules, one per file (the four coordinate-wise ones share `coordinatewise.rs`).
//! Each is built from a config whose `init()` checks the rule's `(n, f)` bound once; each
//! aggregation re-checks the bound against the rows it is given.

mod average;
mod bulyan;
mod centered_clipping;
mod coordinatewise;
mod geometric_median;
mod krum;
mod mda;
mod multi_krum;
mod nnm;

pub use average::{Average, AverageConfig};
pub use bulyan::{Bulyan, BulyanConfig};
pub use centered_clipping::{CenteredClipping, CenteredClippingConfig};
pub use coordinatewise::{
    MeaMed, MeaMedConfig, Median, MedianConfig, Phocas, PhocasConfig, TrimmedMean,
    TrimmedMeanConfig,
};
pub use geometric_median::{GeometricMedian, GeometricMedianConfig};
pub use krum::{Krum, KrumConfig, krum_scores};
pub use mda::{Mda, MdaConfig, min_diameter_subset};
pub use multi_krum::{MultiKrum, MultiKrumConfig};
pub use nnm::{Nnm, NnmConfig};

/// Declares a rule config with `n`, `f` and `exec`, and `init()` checking `bound` for `name`. Doc
/// attributes after `=>` go on the rule type (default: "The rule built by its config.").
macro_rules! simple_config {
    ($(#[$doc:meta])* $config:ident => $rule:ident, $name:expr, $bound:expr) => {
        $crate::rules::simple_config!(
            $(#[$doc])* $config => #[doc = "The rule built by its config."] $rule, $name, $bound
        );
    };
    (
        $(#[$doc:meta])* $config:ident => $(#[$rule_doc:meta])+ $rule:ident,
        $name:expr, $bound:expr
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $config {
            /// Number of inputs the rule will receive.
            pub n: usize,
            /// Declared Byzantine inputs.
            pub f: usize,
            /// Which implementation runs.
            pub exec: $crate::Exec,
        }

        impl $config {
            /// A config for `n` inputs, `f` of them Byzantine.
            pub fn new(n: usize, f: usize) -> Self {
                Self { n, f, exec: $crate::Exec::Auto }
            }

            /// Picks the implementation (default [`Exec::Auto`](crate::Exec::Auto)).
            pub fn with_exec(mut self, exec: $crate::Exec) -> Self {
                self.exec = exec;
                self
            }

            /// Checks the rule's bound and builds it.
            pub fn init(&self) -> $crate::Result<$rule> {
                ($bound).check($name, self.n, self.f)?;
                Ok($rule { f: self.f, exec: self.exec })
            }
        }

        $(#[$rule_doc])+
        #[derive(Debug, Clone)]
        pub struct $rule {
            f: usize,
            exec: $crate::Exec,
        }

        $crate::aggregator::builtin_aggregator!($rule, $name, $bound);
    };
}
pub(crate) use simple_config;
