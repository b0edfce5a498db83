//! The CPU kernels and the tensor-op fallback compute the same rule: same kept inputs, same
//! output up to f32 rounding, on random inputs with Byzantine rows.

use burn::tensor::Device;
use byzsgd_core::Exec;
use byzsgd_core::registry::{self, RULES};
use byzsgd_core::rows::host_vector;
use byzsgd_core::testing::{Attack, Case};

#[test]
fn host_kernels_match_tensor_ops() {
    let device = Device::default();
    let attacks = [Attack::Huge, Attack::Nan, Attack::Far, Attack::Mixed];
    for seed in 0..12u64 {
        println!("seed {seed}");
        for rule in RULES {
            for pre in [None, Some("nnm")] {
                let f = (seed % 3) as usize;
                let n = rule.bound.min_inputs(f).max(2 * f + 1) + (seed % 4) as usize;
                let case = Case::generate(n, f, 300, &attacks[..f.min(attacks.len())], seed);
                let fast = registry::build_with_pre(rule.name, pre, n, f, Exec::Auto).unwrap();
                let slow = registry::build_with_pre(rule.name, pre, n, f, Exec::TensorOps).unwrap();
                let a = fast.aggregate_detailed(case.tensor(&device)).unwrap();
                let b = slow.aggregate_detailed(case.tensor(&device)).unwrap();
                let what = format!("{} {pre:?} seed {seed} n {n} f {f}", rule.name);
                assert_eq!(a.kept, b.kept, "{what}: kept");
                let (a, b) = (host_vector(a.value).unwrap(), host_vector(b.value).unwrap());
                if rule.name == "average" && f > 0 {
                    continue;
                }
                for (j, (x, y)) in a.iter().zip(&b).enumerate() {
                    assert!(
                        (x - y).abs() <= 1e-4 * x.abs().max(1.0),
                        "{what}: coordinate {j}: {x} vs {y}"
                    );
                }
            }
        }
    }
}
