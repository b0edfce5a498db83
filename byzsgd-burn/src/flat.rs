//! Flat views of any Burn module: every float parameter, in declaration order, concatenated into
//! one `Tensor<1>`, and back. Gradients flatten in the same order, a parameter without a gradient
//! contributing zeros, so flat gradients and flat parameters always line up.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

use crate::{BurnError, Result};

/// Number of float parameters of `module` (what [`flatten_params`] returns the length of).
pub fn param_count<M: Module>(module: &M) -> usize {
    struct Count(usize);
    impl ModuleVisitor for Count {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0 += param.lazy_shape().num_elements();
        }
    }
    let mut count = Count(0);
    module.visit(&mut count);
    count.0
}

/// Every float parameter of `module`, flattened and concatenated in declaration order, without
/// autodiff (a plain value: arithmetic on it records no graph, so a training loop's cost stays
/// flat over the steps).
pub fn flatten_params<M: Module>(module: &M) -> Tensor<1> {
    struct Collect(Vec<Tensor<1>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0
                .push(param.val().without_autodiff().flatten(0, D - 1));
        }
    }
    let mut collect = Collect(Vec::new());
    module.visit(&mut collect);
    Tensor::cat(collect.0, 0)
}

/// The gradients of `module`'s parameters, flattened like [`flatten_params`]; parameters with no
/// gradient contribute zeros.
pub fn flatten_gradients<M: Module>(module: &M, grads: &GradientsParams) -> Tensor<1> {
    struct Collect<'a> {
        grads: &'a GradientsParams,
        parts: Vec<Tensor<1>>,
    }
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let part = match self.grads.get::<D>(param.id) {
                Some(g) => g.flatten(0, D - 1),
                None => {
                    let value = param.val();
                    Tensor::zeros([value.shape().num_elements()], &value.device().inner())
                }
            };
            self.parts.push(part);
        }
    }
    let mut collect = Collect {
        grads,
        parts: Vec::new(),
    };
    module.visit(&mut collect);
    Tensor::cat(collect.parts, 0)
}

/// `module` with its parameters replaced by consecutive slices of `flat` (declaration order),
/// on the parameters' own device. A length mismatch is an error, never a panic.
pub fn load_params<M: Module>(module: M, flat: Tensor<1>) -> Result<M> {
    let expected = param_count(&module);
    let [got] = flat.dims();
    if got != expected {
        return Err(BurnError::Dimension { expected, got });
    }
    struct Load {
        flat: Tensor<1>,
        offset: usize,
    }
    impl ModuleMapper for Load {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let shape = param.lazy_shape();
            let len = shape.num_elements();
            let start = self.offset;
            self.offset += len;
            let slice = self.flat.clone().narrow(0, start, len);
            let require_grad = param.is_require_grad();
            param.map(|old| {
                // A fresh leaf, on the parameter's device, with autodiff exactly where the
                // parameter had it: slicing must not tie it to whatever graph `flat` was in.
                let value = slice
                    .without_autodiff()
                    .to_device(&old.device())
                    .reshape(shape);
                let value = if old.is_autodiff() {
                    value.autodiff()
                } else {
                    value
                };
                if require_grad && value.is_autodiff() {
                    value.require_grad()
                } else {
                    value
                }
            })
        }
    }
    Ok(module.map(&mut Load { flat, offset: 0 }))
}
