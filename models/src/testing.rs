//! Helpers shared by this crate's tests.

use burn::tensor::Tensor;

/// Asserts that `a` and `b` hold the same values within 1e-4 of the larger tensor's largest
/// magnitude (at least 1e-3), naming the first element that differs.
pub(crate) fn close(a: Tensor<4>, b: Tensor<4>, what: &str) {
    let (a, b) = (
        a.into_data().try_to_vec::<f32>().unwrap(),
        b.into_data().try_to_vec::<f32>().unwrap(),
    );
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = a.iter().chain(&b).fold(1e-3f32, |m, v| m.max(v.abs()));
    for (k, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-4 * scale,
            "{what}: element {k}: {x} vs {y} (scale {scale})"
        );
    }
}
