//! Every built-in rule, on both paths (CPU kernels and tensor ops), passes the conformance suite;
//! NNM composed with each robust rule too. Average runs all but the robustness properties.

use byzsgd_core::registry::{self, Guarantee, RULES};
use byzsgd_core::testing::Suite;
use byzsgd_core::{Bound, Exec};

fn suite(name: &'static str, pre: Option<&'static str>, exec: Exec) -> Suite {
    let info = registry::info(name).unwrap();
    let bound = if pre.is_some() && info.bound.a < 2 {
        Bound::new(2, 1)
    } else {
        info.bound
    };
    // After mixing, an honest input may have absorbed a nearby Byzantine one, so the honest
    // coordinate range no longer binds a coordinate-wise rule; the distance guarantee is checked.
    let guarantee = if pre.is_some() {
        Guarantee::Distance
    } else {
        info.guarantee
    };
    Suite::new(name, bound, guarantee, move |n, f| {
        registry::build_with_pre(name, pre, n, f, exec)
    })
}

fn cases(exec: Exec) -> u32 {
    // The tensor-op path is the slow fallback: fewer cases keep the suite quick.
    if exec == Exec::Auto { 48 } else { 16 }
}

#[test]
fn every_rule_on_the_cpu_kernels() {
    for rule in RULES {
        println!("suite: {} (cpu kernels)", rule.name);
        suite(rule.name, None, Exec::Auto)
            .with_cases(cases(Exec::Auto))
            .run();
    }
}

#[test]
fn every_rule_on_tensor_ops() {
    for rule in RULES {
        println!("suite: {} (tensor ops)", rule.name);
        suite(rule.name, None, Exec::TensorOps)
            .with_cases(cases(Exec::TensorOps))
            .run();
    }
}

#[test]
fn nnm_composes_with_every_robust_rule() {
    for rule in RULES.iter().filter(|r| r.guarantee != Guarantee::None) {
        for exec in [Exec::Auto, Exec::TensorOps] {
            println!("suite: nnm+{} ({exec:?})", rule.name);
            let suite = suite(rule.name, Some("nnm"), exec).with_cases(cases(exec) / 2);
            // Mixing gives inputs with the same neighbours the same vector, so rules that break
            // ties by sender index meet exact ties by construction.
            let index_ties = !matches!(
                rule.name,
                "median" | "trimmed-mean" | "geometric-median" | "centered-clipping"
            );
            if index_ties {
                suite.without_permutation_invariance()
            } else {
                suite
            }
            .run();
        }
    }
}
