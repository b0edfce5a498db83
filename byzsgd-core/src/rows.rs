//! Host-resident inputs: a borrowed row-major `[n, d]` f32 matrix, and the bridge between Burn
//! tensors and host memory used by the specialised CPU paths.

use burn::tensor::{Device, Tensor, TensorData};

use crate::{Error, Result};

/// A borrowed `[n, d]` matrix of f32: row `i` is sender `i`'s vector. Either one row-major
/// buffer ([`Rows::new`]) or `n` separate vectors ([`Rows::scattered`]), so a node aggregates the
/// vectors it received where they lie instead of copying them into one stack first.
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a> {
    layout: Layout<'a>,
    n: usize,
    d: usize,
}

#[derive(Debug, Clone, Copy)]
enum Layout<'a> {
    Contiguous(&'a [f32]),
    Scattered(&'a [&'a [f32]]),
}

impl<'a> Rows<'a> {
    /// Views `data` as `n` rows of length `d`; refuses an empty or ill-sized buffer.
    pub fn new(data: &'a [f32], n: usize, d: usize) -> Result<Self> {
        if n == 0 || d == 0 {
            return Err(Error::Input(format!(
                "inputs must be a non-empty [n, d] matrix, got [{n}, {d}]"
            )));
        }
        if data.len() != n * d {
            return Err(Error::Input(format!(
                "buffer of {} values cannot be viewed as [{n}, {d}]",
                data.len()
            )));
        }
        Ok(Self {
            layout: Layout::Contiguous(data),
            n,
            d,
        })
    }

    /// Views separate vectors as the rows of a matrix; refuses none, empty ones, or vectors
    /// of different lengths.
    pub fn scattered(rows: &'a [&'a [f32]]) -> Result<Self> {
        let d = rows.first().map_or(0, |r| r.len());
        if d == 0 {
            return Err(Error::Input(format!(
                "inputs must be a non-empty [n, d] matrix, got [{}, {d}]",
                rows.len()
            )));
        }
        if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != d) {
            return Err(Error::Input(format!(
                "row {i} has {} values where row 0 has {d}",
                r.len()
            )));
        }
        Ok(Self {
            layout: Layout::Scattered(rows),
            n: rows.len(),
            d,
        })
    }

    /// Number of rows (senders).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Row length (model dimension).
    pub fn d(&self) -> usize {
        self.d
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &'a [f32] {
        match self.layout {
            Layout::Contiguous(data) => &data[i * self.d..(i + 1) * self.d],
            Layout::Scattered(rows) => rows[i],
        }
    }

    /// The rows in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a [f32]> + use<'a> {
        let rows = *self;
        (0..self.n).map(move |i| rows.row(i))
    }

    /// The whole matrix in one row-major buffer: borrowed when it is one already, else a copy.
    pub fn to_matrix(&self) -> std::borrow::Cow<'a, [f32]> {
        match self.layout {
            Layout::Contiguous(data) => std::borrow::Cow::Borrowed(data),
            Layout::Scattered(rows) => std::borrow::Cow::Owned(rows.concat()),
        }
    }

    /// Whether row `i` holds only finite values.
    pub fn row_is_finite(&self, i: usize) -> bool {
        all_finite(self.row(i))
    }
}

/// Whether tensors on `device` live in host memory, so the specialised CPU kernels apply.
pub fn is_host_device(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    if *device == Device::flex() {
        return true;
    }
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)]
    if *device == Device::ndarray() {
        return true;
    }
    let _ = device;
    false
}

/// Checks that `inputs` is a non-empty f32 matrix and returns its `[n, d]`.
pub fn check_matrix(inputs: &Tensor<2>) -> Result<[usize; 2]> {
    let [n, d] = inputs.dims();
    if n == 0 || d == 0 {
        return Err(Error::Input(format!(
            "inputs must be a non-empty [n, d] matrix, got [{n}, {d}]"
        )));
    }
    Ok([n, d])
}

/// Moves a tensor's values to host memory as f32 (zero-copy on flex when the tensor is owned).
pub fn to_host(tensor: Tensor<2>) -> Result<(TensorData, [usize; 2])> {
    let dims = check_matrix(&tensor)?;
    let data = tensor.into_data();
    let data = if data.dtype() == burn::tensor::DType::F32 {
        data
    } else {
        data.convert::<f32>()
    };
    Ok((data, dims))
}

/// Views host data produced by [`to_host`].
pub fn rows_of(data: &TensorData, [n, d]: [usize; 2]) -> Result<Rows<'_>> {
    let slice = data
        .as_slice::<f32>()
        .map_err(|e| Error::Input(format!("inputs are not readable as f32: {e:?}")))?;
    Rows::new(slice, n, d)
}

/// A host vector as a 1-D tensor on `device`.
pub fn vector_on(values: Vec<f32>, device: &Device) -> Tensor<1> {
    let d = values.len();
    Tensor::from_data(TensorData::new(values, [d]), device)
}

/// A host matrix as a 2-D tensor on `device`.
pub fn matrix_on(values: Vec<f32>, n: usize, d: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values, [n, d]), device)
}

/// A 1-D tensor's values in host memory as f32.
pub fn host_vector(tensor: Tensor<1>) -> Result<Vec<f32>> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| Error::Input(format!("values are not readable as f32: {e:?}")))
}

/// Whether every value is finite: blocks of 64 checked without branching (so they vectorise),
/// stopping at the first block with a NaN or an infinity.
pub fn all_finite(v: &[f32]) -> bool {
    const EXP: u32 = 0x7f80_0000;
    let mut blocks = v.chunks_exact(64);
    let ok = |c: &[f32]| {
        c.iter()
            .fold(true, |acc, x| acc & (x.to_bits() & EXP != EXP))
    };
    blocks.all(ok) && ok(blocks.remainder())
}

#[cfg(test)]
mod finite_tests {
    use super::all_finite;

    #[test]
    fn any_non_finite_anywhere_is_found() {
        for len in [0usize, 1, 63, 64, 65, 200] {
            let v = vec![1.5f32; len];
            assert!(all_finite(&v));
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                for at in [0, len / 2, len.saturating_sub(1)] {
                    if len == 0 {
                        continue;
                    }
                    let mut w = v.clone();
                    w[at] = bad;
                    assert!(!all_finite(&w), "{bad} at {at} of {len}");
                }
            }
        }
        assert!(all_finite(&[f32::MAX, f32::MIN, f32::MIN_POSITIVE, -0.0]));
    }
}
