//! The statistics attackers use: coordinate-wise mean and standard deviation of the honest
//! gradients, and ALIE's default `z`.

use crate::Rows;

/// Coordinate-wise mean and (population) standard deviation of `rows`.
pub fn mean_std(rows: Rows<'_>) -> (Vec<f32>, Vec<f32>) {
    let (n, d) = (rows.n(), rows.d());
    let mut mean = vec![0.0f64; d];
    for i in 0..n {
        for (m, &v) in mean.iter_mut().zip(rows.row(i)) {
            *m += v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut var = vec![0.0f64; d];
    for i in 0..n {
        for ((s, &v), m) in var.iter_mut().zip(rows.row(i)).zip(&mean) {
            *s += (v as f64 - m).powi(2);
        }
    }
    let std = var.iter().map(|s| (s / n as f64).sqrt() as f32).collect();
    (mean.iter().map(|&m| m as f32).collect(), std)
}

/// ALIE's `z` for `n` workers of which `f` are Byzantine: `s = floor(n/2 + 1) - f`,
/// `z = Φ⁻¹((n - s) / n)` (Baruch et al., 2019).
pub fn alie_default_z(n: usize, f: usize) -> f32 {
    let s = (n / 2 + 1).saturating_sub(f);
    let p = (n - s.min(n)) as f64 / n as f64;
    inverse_normal_cdf(p.clamp(1e-6, 1.0 - 1e-6)) as f32
}

/// Φ⁻¹ by Acklam's rational approximation (relative error below 1.2e-9).
fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383_577_518_672_69e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let low = 0.02425;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -inverse_normal_cdf(1.0 - p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_cdf_and_alie_z() {
        assert!((inverse_normal_cdf(0.975) - 1.959964).abs() < 1e-5);
        assert!(inverse_normal_cdf(0.5).abs() < 1e-12);
        // n = 7, f = 2: s = 2, z = Φ⁻¹(5/7) ≈ 0.566.
        assert!(
            (alie_default_z(7, 2) - 0.5659).abs() < 1e-3,
            "{}",
            alie_default_z(7, 2)
        );
    }

    #[test]
    fn mean_and_std_per_coordinate() {
        let data = [1.0, 10.0, 3.0, 10.0];
        let (m, s) = mean_std(Rows::new(&data, 2, 2).unwrap());
        assert_eq!((m, s), (vec![2.0, 10.0], vec![1.0, 0.0]));
    }
}
