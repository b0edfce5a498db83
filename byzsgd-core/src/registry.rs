//! Rules by name: what the CLI and configuration files use.

use crate::rules::*;
use crate::{Aggregator, Bound, Contraction, Error, Exec, Result};

/// What the conformance suite may assert about a rule's output with `f` arbitrary inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarantee {
    /// None: the rule is not robust (average).
    None,
    /// Inside the honest inputs' coordinate-wise `[min, max]`.
    Coordinatewise,
    /// Inside the honest coordinate-wise `[min - w, max + w]`, `w = max - min`: MeaMed and Phocas.
    /// (ALGORITHMS.md claims the strict range for every coordinate-wise rule; it does not hold for
    /// these two: honest `{0, 1, 2}` and Byzantine `{2.1, 2.1}` with `f = 2` give MeaMed
    /// `mean{2, 2.1, 2.1} = 2.07 > 2`. The window of `n-f` values around a centre inside the
    /// honest range always holds an honest value, which gives the widened range.)
    Widened,
    /// Within `2D` of the honest mean, `D` the honest inputs' diameter.
    Distance,
}

/// One built-in rule.
#[derive(Debug, Clone, Copy)]
pub struct RuleInfo {
    /// Name on the command line.
    pub name: &'static str,
    /// Its resilience bound.
    pub bound: Bound,
    /// What it guarantees.
    pub guarantee: Guarantee,
    /// One line.
    pub summary: &'static str,
}

/// Every built-in rule, in the order `byzsgd rules` lists them.
pub const RULES: &[RuleInfo] = &[
    RuleInfo {
        name: "average",
        bound: Bound::new(0, 1),
        guarantee: Guarantee::None,
        summary: "plain mean; not robust, the baseline",
    },
    RuleInfo {
        name: "median",
        bound: Bound::new(2, 1),
        guarantee: Guarantee::Coordinatewise,
        summary: "coordinate-wise median (even n: mean of the two middle values)",
    },
    RuleInfo {
        name: "trimmed-mean",
        bound: Bound::new(2, 1),
        guarantee: Guarantee::Coordinatewise,
        summary: "per coordinate, drop the f smallest and f largest, average the rest",
    },
    RuleInfo {
        name: "phocas",
        bound: Bound::new(2, 1),
        guarantee: Guarantee::Widened,
        summary: "per coordinate, mean of the n-f values closest to the trimmed mean",
    },
    RuleInfo {
        name: "meamed",
        bound: Bound::new(2, 1),
        guarantee: Guarantee::Widened,
        summary: "per coordinate, mean of the n-f values closest to the median",
    },
    RuleInfo {
        name: "krum",
        bound: Bound::new(2, 3),
        guarantee: Guarantee::Distance,
        summary: "the input with the smallest sum of squared distances to its n-f-2 nearest",
    },
    RuleInfo {
        name: "multi-krum",
        bound: Bound::new(2, 3),
        guarantee: Guarantee::Distance,
        summary: "mean of the n-f inputs with the lowest Krum scores",
    },
    RuleInfo {
        name: "bulyan",
        bound: Bound::new(4, 3),
        guarantee: Guarantee::Distance,
        summary: "n-2f picked by repeated Krum, then per coordinate the mean of the n-4f closest to the median",
    },
    RuleInfo {
        name: "mda",
        bound: Bound::new(2, 1),
        guarantee: Guarantee::Distance,
        summary: "mean of the n-f inputs of minimum diameter (exact search); ByzSGD's rule",
    },
    RuleInfo {
        name: "geometric-median",
        bound: Bound::new(2, 1),
        guarantee: Guarantee::Distance,
        summary: "smoothed Weiszfeld from the coordinate-wise median",
    },
    RuleInfo {
        name: "centered-clipping",
        bound: Bound::new(2, 1),
        guarantee: Guarantee::Distance,
        summary: "3 rounds of clipped mean steps from the coordinate-wise median",
    },
];

/// The pre-aggregations that compose with any rule.
pub const PRE_AGGREGATIONS: &[(&str, &str)] = &[
    (
        "nnm",
        "nearest-neighbour mixing: each input replaced by the mean of its n-f nearest (n >= 2f+1)",
    ),
    ("none", "the rule alone, on the inputs as they came"),
];

/// The entry for `name`, or an error listing the known names.
pub fn info(name: &str) -> Result<&'static RuleInfo> {
    RULES
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| Error::UnknownRule {
            name: name.to_string(),
            known: RULES.iter().map(|r| r.name).collect::<Vec<_>>().join(", "),
        })
}

/// Builds rule `name` for `n` inputs with `f` Byzantine, with its defaults.
pub fn build(name: &str, n: usize, f: usize, exec: Exec) -> Result<Box<dyn Aggregator>> {
    info(name)?;
    Ok(match name {
        "average" => Box::new(AverageConfig::new(n, f).with_exec(exec).init()?),
        "median" => Box::new(MedianConfig::new(n, f).with_exec(exec).init()?),
        "trimmed-mean" => Box::new(TrimmedMeanConfig::new(n, f).with_exec(exec).init()?),
        "phocas" => Box::new(PhocasConfig::new(n, f).with_exec(exec).init()?),
        "meamed" => Box::new(MeaMedConfig::new(n, f).with_exec(exec).init()?),
        "krum" => Box::new(KrumConfig::new(n, f).with_exec(exec).init()?),
        "multi-krum" => Box::new(MultiKrumConfig::new(n, f).with_exec(exec).init()?),
        "bulyan" => Box::new(BulyanConfig::new(n, f).with_exec(exec).init()?),
        "mda" => Box::new(MdaConfig::new(n, f).with_exec(exec).init()?),
        "geometric-median" => Box::new(GeometricMedianConfig::new(n, f).with_exec(exec).init()?),
        "centered-clipping" => Box::new(CenteredClippingConfig::new(n, f).with_exec(exec).init()?),
        _ => unreachable!("info() accepted {name}"),
    })
}

/// Builds rule `name`, behind the pre-aggregation `pre` (`"nnm"`) when given.
pub fn build_with_pre(
    name: &str,
    pre: Option<&str>,
    n: usize,
    f: usize,
    exec: Exec,
) -> Result<Box<dyn Aggregator>> {
    pre_aggregate(pre, n, f, exec, build(name, n, f, exec)?)
}

/// Puts the pre-aggregation `pre` (`"nnm"`), when given, in front of `inner` (any rule, yours
/// included) for `n` inputs of which `f` Byzantine.
pub fn pre_aggregate(
    pre: Option<&str>,
    n: usize,
    f: usize,
    exec: Exec,
    inner: Box<dyn Aggregator>,
) -> Result<Box<dyn Aggregator>> {
    match pre {
        None | Some("none") => Ok(inner),
        Some("nnm") => Ok(Box::new(NnmConfig::new(n, f).with_exec(exec).init(inner)?)),
        Some(other) => Err(Error::Config(format!(
            "unknown pre-aggregation {other:?}; known: {}",
            PRE_AGGREGATIONS
                .iter()
                .map(|p| p.0)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Builds coordinate-wise rule `name` (median, trimmed-mean, phocas or meamed) as Distributed
/// Median Contraction's model rule over `n` models with `f` Byzantine, its bound checked; any
/// other name is an [`Error::Config`] naming those four.
pub fn build_contraction(
    name: &str,
    n: usize,
    f: usize,
    exec: Exec,
) -> Result<Box<dyn Contraction>> {
    Ok(match name {
        "median" => Box::new(MedianConfig::new(n, f).with_exec(exec).init()?),
        "trimmed-mean" => Box::new(TrimmedMeanConfig::new(n, f).with_exec(exec).init()?),
        "phocas" => Box::new(PhocasConfig::new(n, f).with_exec(exec).init()?),
        "meamed" => Box::new(MeaMedConfig::new(n, f).with_exec(exec).init()?),
        _ => {
            return Err(Error::Config(format!(
                "{name} is not a coordinate-wise robust rule; the contraction takes median, \
                 trimmed-mean, phocas or meamed"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rows;
    use rand::{Rng, SeedableRng};

    const COORDINATEWISE: [&str; 4] = ["median", "trimmed-mean", "phocas", "meamed"];

    #[test]
    fn contract_rows_is_aggregate_rows_bit_for_bit() {
        let seed = 13;
        println!("seed {seed}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for name in COORDINATEWISE {
            for exec in [Exec::Auto, Exec::TensorOps] {
                for trial in 0..8 {
                    let f = rng.random_range(0..3);
                    let n = 2 * f + 1 + rng.random_range(0..4);
                    let d = rng.random_range(1..300);
                    let data: Vec<f32> = (0..n * d)
                        .map(|_| match rng.random_range(0..40) {
                            0 => f32::NAN,
                            1 => f32::INFINITY,
                            2 => f32::NEG_INFINITY,
                            _ => rng.random_range(-10.0..10.0),
                        })
                        .collect();
                    let rows = Rows::new(&data, n, d).unwrap();
                    let what = format!("{name} {exec:?} trial {trial} n {n} f {f} d {d}");
                    let want = build(name, n, f, exec).unwrap().aggregate_rows(rows);
                    let contraction = build_contraction(name, n, f, exec).unwrap();
                    assert_eq!(contraction.name(), name, "{what}");
                    let got = contraction.contract_rows(rows).unwrap();
                    assert_eq!(bits(&got), bits(&want.unwrap().0), "{what}");
                }
            }
            // Too few models: the same bound error as the aggregator's.
            let data = [1.0f32, 2.0];
            let rows = Rows::new(&data, 2, 1).unwrap();
            let want = build(name, 3, 1, Exec::Auto).unwrap().aggregate_rows(rows);
            let got = build_contraction(name, 3, 1, Exec::Auto)
                .unwrap()
                .contract_rows(rows);
            assert_eq!(got.unwrap_err(), want.unwrap_err(), "{name}");
        }
    }

    #[test]
    fn build_contraction_takes_only_coordinatewise_rules() {
        for name in ["mda", "average", "krum", "nnm", "no-such-rule"] {
            let err = build_contraction(name, 5, 1, Exec::Auto).unwrap_err();
            let Error::Config(msg) = &err else {
                panic!("{name}: expected a configuration error, got {err:?}");
            };
            assert!(msg.starts_with(name), "{msg}");
            for allowed in COORDINATEWISE {
                assert!(msg.contains(allowed), "{msg}");
            }
        }
        assert!(matches!(
            build_contraction("median", 2, 1, Exec::Auto),
            Err(Error::Bound { .. })
        ));
    }
}
