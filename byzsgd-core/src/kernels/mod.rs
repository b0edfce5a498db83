//! Hand-written CPU kernels for host-resident inputs: selection networks for the coordinate-wise
//! rules, tiled pairwise distances, and row means. Each is parallel over coordinates (rayon) and
//! compiled twice on x86_64 (AVX2 and baseline), picked at run time.

use std::mem::MaybeUninit;

use rayon::prelude::*;

pub(crate) mod coord;
pub(crate) mod dist;
pub(crate) mod mean;
pub(crate) mod network;

/// Coordinates per parallel task: large enough to amortise scheduling, small enough to balance.
pub(crate) const CHUNK: usize = 16 * 1024;

/// A vector of `d` values written chunk by chunk in parallel by `fill(start, chunk)`
/// (coordinates `start..start + chunk.len()`). The memory is never zeroed first: zeroing a
/// CifarNet-sized vector costs about as much as one of the passes that then overwrite it.
///
/// # Safety
///
/// `fill` must write every element of the chunk it is given (or panic, which leaves an empty
/// vector behind and nothing uninitialised observable).
pub(crate) unsafe fn filled(
    d: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync,
) -> Vec<f32> {
    let mut out: Vec<f32> = Vec::with_capacity(d);
    out.spare_capacity_mut()[..d]
        .par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(c, chunk)| fill(c * CHUNK, chunk));
    // SAFETY: the chunks cover `0..d`, and the caller's `fill` wrote each of them whole.
    unsafe { out.set_len(d) };
    out
}

/// Whether this CPU runs the AVX2 variants.
#[inline]
pub(crate) fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Defines `$name(args)` that runs `$generic(args)` compiled with AVX2+FMA where the CPU has
/// them, and the baseline build elsewhere. `$generic` must be `#[inline(always)]`.
macro_rules! multiversion {
    (fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? => $generic:path) => {
        pub(crate) fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $generic($($arg),*)
                }
                if $crate::kernels::has_avx2() {
                    // SAFETY: the CPU supports AVX2 and FMA, checked just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $generic($($arg),*)
        }
    };
}
pub(crate) use multiversion;
