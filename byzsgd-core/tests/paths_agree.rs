//! The CPU kernels and the tensor-op fallback compute the same rule: same kept inputs, same
//! output up to f32 rounding, on random inputs with Byzantine rows (`byzsgd rules --check
//! --device NAME` runs the same comparison against another device).

use burn::tensor::Device;
use byzsgd_core::registry::RULES;
use byzsgd_core::testing::paths_agree;

#[test]
fn host_kernels_match_tensor_ops() {
    let device = Device::default();
    for rule in RULES {
        for pre in [None, Some("nnm")] {
            println!("{} {pre:?}: seeds 0..12", rule.name);
            if let Err(e) = paths_agree(rule.name, pre, &device, &device, 0..12) {
                panic!("{e}");
            }
        }
    }
}
