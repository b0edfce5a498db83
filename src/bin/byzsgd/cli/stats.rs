//! The benchmarks' summary statistics.

/// The median of `v` (not empty; for an even count, the mean of the two middle values).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// Mean, standard deviation, minimum and maximum of `v` (not empty).
pub fn spread(v: &[f64]) -> (f64, f64, f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    let (lo, hi) = v
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), x| (l.min(*x), h.max(*x)));
    (mean, var.sqrt(), lo, hi)
}

#[cfg(test)]
mod tests {
    #[test]
    fn odd_and_even_counts() {
        assert_eq!(super::median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(super::median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn spread_of_a_few_values() {
        let (mean, sd, lo, hi) = super::spread(&[1.0, 2.0, 6.0]);
        assert_eq!((mean, lo, hi), (3.0, 1.0, 6.0));
        assert!((sd - 7.0f64.sqrt()).abs() < 1e-12, "{sd}");
    }
}
