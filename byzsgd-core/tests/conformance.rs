//! Every built-in rule, on both paths (CPU kernels and tensor ops), passes the conformance suite;
//! NNM composed with each robust rule too. Average runs all but the robustness properties.

use byzsgd_core::Exec;
use byzsgd_core::registry::{Guarantee, RULES};
use byzsgd_core::testing::Suite;

fn suite(name: &'static str, pre: Option<&'static str>, exec: Exec) -> Suite {
    Suite::builtin(name, pre, exec).expect("a built-in rule")
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
            suite(rule.name, Some("nnm"), exec)
                .with_cases(cases(exec) / 2)
                .run();
        }
    }
}
