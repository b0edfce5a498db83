//! Flush-to-zero for subnormal floats, the one place a process turns it on.
//!
//! Training drives many values towards zero (small losses, decayed momenta, tiny weights), and
//! arithmetic on subnormal floats (magnitudes below `f32::MIN_POSITIVE`, about 1.2e-38) takes a
//! slow path on many x86 cores: on an Intel Xeon the default `byzsgd simulate` ran at half speed
//! once its loss fell below ~0.02, and flushing them to zero made it 1.75x faster with the same
//! model hash (BENCHMARKS.md). Nothing a model learns lives below 1e-38.
//!
//! [`flush_denormals`] sets the calling thread's floating-point control register: on x86-64 the
//! MXCSR's flush-to-zero (FTZ, bit 15) and denormals-are-zero (DAZ, bit 6) bits, on aarch64 the
//! FPCR's FZ bit (24). A thread started afterwards inherits the register from the thread that
//! starts it (Linux copies the floating-point state on `clone`; a test checks it), so calling
//! it first thing in `main`, before any pool or Burn backend starts its threads, covers every
//! thread that computes. Elsewhere it does nothing and says so.

/// Whether this target can flush subnormals to zero through [`flush_denormals`].
pub const SUPPORTED: bool = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

#[cfg(target_arch = "x86_64")]
const MXCSR_FTZ_DAZ: u32 = (1 << 15) | (1 << 6);

#[cfg(target_arch = "aarch64")]
const FPCR_FZ: u64 = 1 << 24;

/// Turns flush-to-zero on (`true`) or off (`false`) for the calling thread and the threads it
/// starts from now on. Returns whether the target supports it ([`SUPPORTED`]).
pub fn flush_denormals(on: bool) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let mut csr: u32 = 0;
        // SAFETY: stmxcsr stores the 32-bit MXCSR into the given, valid, aligned u32; ldmxcsr
        // loads it back with only the FTZ and DAZ bits changed (both valid on every x86-64 core
        // with SSE2, which x86-64 guarantees), so no reserved bit is set.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags));
            if on {
                csr |= MXCSR_FTZ_DAZ;
            } else {
                csr &= !MXCSR_FTZ_DAZ;
            }
            std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, preserves_flags));
        }
        true
    }
    #[cfg(target_arch = "aarch64")]
    {
        let mut fpcr: u64;
        // SAFETY: reading and writing FPCR is allowed at EL0; only the FZ bit is changed.
        unsafe {
            std::arch::asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack, preserves_flags));
            if on {
                fpcr |= FPCR_FZ;
            } else {
                fpcr &= !FPCR_FZ;
            }
            std::arch::asm!("msr fpcr, {}", in(reg) fpcr, options(nomem, nostack, preserves_flags));
        }
        true
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = on;
        false
    }
}

/// Whether the calling thread flushes subnormal results to zero: it multiplies two normal
/// floats whose product is subnormal.
pub fn flushing() -> bool {
    let tiny = std::hint::black_box(1e-30f32) * std::hint::black_box(1e-10f32);
    std::hint::black_box(tiny) == 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flushing_is_per_thread_and_inherited_by_threads_started_after() {
        if !SUPPORTED {
            assert!(!flush_denormals(true));
            return;
        }
        // A thread of its own: the test harness's threads keep their default.
        std::thread::spawn(|| {
            assert!(!flushing(), "a fresh thread keeps subnormals");
            assert!(flush_denormals(true));
            assert!(flushing(), "set: 1e-30 * 1e-10 flushes to zero");
            let child = std::thread::spawn(flushing).join().unwrap();
            assert!(child, "a thread started after it inherits it");
            flush_denormals(false);
            assert!(!flushing(), "turned off again");
            let child = std::thread::spawn(flushing).join().unwrap();
            assert!(!child);
        })
        .join()
        .unwrap();
    }
}
