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

/// The vectors a node received, aggregated where they lie (`Rows::scattered`, each row its own
/// allocation), give bit for bit what the same rows stacked into one buffer give, for every rule
/// with and without NNM, every contraction, and attacked inputs (NaN rows included). Seen failing
/// with `Rows::row` of a scattered view returning the wrong row (`rows[0]` for every `i`).
#[test]
fn scattered_rows_aggregate_as_the_stacked_ones() {
    use byzsgd_core::testing::{Attack, Case};
    use byzsgd_core::{Exec, Rows, registry};
    let attacks = [Attack::Huge, Attack::Nan, Attack::Far, Attack::Mixed];
    for seed in 0..8u64 {
        let f = (seed % 3) as usize;
        for rule in RULES {
            let n = rule.bound.min_inputs(f).max(2 * f + 1) + (seed % 3) as usize;
            let case = Case::generate(n, f, 300, &attacks[..f], seed);
            println!("{} seed {seed}: n {n}, f {f}", rule.name);
            let stacked = case.rows.concat();
            // Separate allocations, as the buffers of received messages are.
            let owned: Vec<Vec<f32>> = case.rows.iter().map(|r| r.to_vec()).collect();
            let refs: Vec<&[f32]> = owned.iter().map(|r| r.as_slice()).collect();
            for pre in [None, Some("nnm")] {
                let agg = registry::build_with_pre(rule.name, pre, n, f, Exec::Auto).unwrap();
                let a = agg.aggregate_rows(Rows::new(&stacked, n, case.d).unwrap());
                let b = agg.aggregate_rows(Rows::scattered(&refs).unwrap());
                match (a, b) {
                    (Ok((va, ka)), Ok((vb, kb))) => {
                        assert_eq!(ka, kb, "{} {pre:?} seed {seed}: kept", rule.name);
                        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                        assert_eq!(bits(&va), bits(&vb), "{} {pre:?} seed {seed}", rule.name);
                    }
                    (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                    (a, b) => panic!("{} {pre:?} seed {seed}: {a:?} against {b:?}", rule.name),
                }
            }
        }
        for name in ["median", "trimmed-mean", "phocas", "meamed"] {
            let n = 2 * f + 2;
            let case = Case::generate(n, f, 300, &attacks[..f], seed);
            let stacked = case.rows.concat();
            let refs: Vec<&[f32]> = case.rows.iter().map(|r| r.as_slice()).collect();
            let c = registry::build_contraction(name, n, f, Exec::Auto).unwrap();
            let a = c
                .contract_rows(Rows::new(&stacked, n, case.d).unwrap())
                .unwrap();
            let b = c.contract_rows(Rows::scattered(&refs).unwrap()).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b), "contraction {name} seed {seed}");
        }
    }
}

/// A scattered view refuses what a matrix cannot be: no rows, empty rows, rows of two lengths.
#[test]
fn scattered_rows_refuse_ragged_or_empty_input() {
    use byzsgd_core::Rows;
    let (a, b, empty) = (vec![1.0f32, 2.0], vec![3.0f32], Vec::<f32>::new());
    assert!(Rows::scattered(&[]).is_err());
    assert!(Rows::scattered(&[empty.as_slice()]).is_err());
    let ragged = [a.as_slice(), b.as_slice()];
    let err = Rows::scattered(&ragged).unwrap_err().to_string();
    assert!(
        err.contains("row 1 has 1 values where row 0 has 2"),
        "{err}"
    );
    let ok = [a.as_slice(), a.as_slice()];
    let rows = Rows::scattered(&ok).unwrap();
    assert_eq!((rows.n(), rows.d(), rows.row(1)), (2, 2, a.as_slice()));
    assert_eq!(rows.to_matrix().as_ref(), &[1.0, 2.0, 1.0, 2.0]);
}
