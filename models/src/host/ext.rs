//! The host kernels as a Burn backend extension: [`HostOps`] is implemented by Flex (the kernels
//! of [`super::conv`] and [`super::pool`] on the tensors' own memory) and by `Autodiff<B>` over
//! any backend that implements it (hand-written backward passes calling the same kernels).
//! Burn's `Dispatch` routes a call to one of the two; [`super::conv2d`] and
//! [`super::max_pool2d`] only call it on an `f32` Flex device.

use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{AutodiffBackend, Backend, TensorMetadata, backend_extension};
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::CheckpointStrategy;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_autodiff::{Autodiff, NodeId};

/// Layers computed by this crate's host kernels.
#[backend_extension(Flex: cfg(feature = "flex"), Autodiff)]
pub trait HostOps: Backend {
    /// The stride-1 convolution of `x` (`[batch, c_in, h, w]`) by `weight`
    /// (`[c_out, c_in, kh, kw]`) plus `bias` (`[c_out]`), zero-padded by `pad` on every side.
    fn host_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        pad: usize,
    ) -> FloatTensor<Self>;

    /// The gradients of [`Self::host_conv2d`]'s weight and bias, given its input and the
    /// gradient of its output.
    fn host_conv2d_weight_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        pad: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// The gradient of [`Self::host_conv2d`]'s input (`[batch, c_in, h, w]`, with `h` and `w`
    /// given), given its weight and the gradient of its output.
    fn host_conv2d_input_backward(
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        h: usize,
        w: usize,
        pad: usize,
    ) -> FloatTensor<Self>;

    /// Max pooling of `x` (`[batch, c, h, w]`) over `k x k` windows, stride `stride`, padding
    /// `pad`, and each output's winner (its index in the input plane).
    fn host_max_pool2d(
        x: FloatTensor<Self>,
        k: usize,
        stride: usize,
        pad: usize,
    ) -> (FloatTensor<Self>, IntTensor<Self>);

    /// The gradient of [`Self::host_max_pool2d`]'s input (`[batch, c, h, w]`), given its
    /// winners and the gradient of its output.
    fn host_max_pool2d_backward(
        grad: FloatTensor<Self>,
        winners: IntTensor<Self>,
        h: usize,
        w: usize,
    ) -> FloatTensor<Self>;
}

#[cfg(feature = "flex")]
mod flex {
    use super::HostOps;
    use crate::host::conv::{self, ConvShape};
    use crate::host::pool::{self, PoolShape};
    use burn::backend::Flex;
    use burn::tensor::{DType, TensorData};
    use burn_flex::FlexTensor;

    /// `t`, an `f32` tensor, with its values contiguous.
    fn host(t: FlexTensor) -> FlexTensor {
        assert_eq!(t.dtype(), DType::F32, "host kernels take f32 tensors");
        contiguous(t)
    }

    /// `t` with its values contiguous (copied only when `t` is a strided view).
    fn contiguous(t: FlexTensor) -> FlexTensor {
        match t.layout().contiguous_offsets() {
            Some(_) => t,
            None => t.to_contiguous(),
        }
    }

    fn values(t: &FlexTensor) -> &[f32] {
        t.as_slice::<f32>().expect("made contiguous by host()")
    }

    fn tensor(values: Vec<f32>, shape: impl Into<burn::tensor::Shape>) -> FlexTensor {
        FlexTensor::from_data(TensorData::new(values, shape))
    }

    fn dims<const D: usize>(t: &FlexTensor) -> [usize; D] {
        t.layout().shape().dims()
    }

    fn shape(x: [usize; 4], weight: [usize; 4], pad: usize) -> ConvShape {
        ConvShape::of(x, weight, pad).unwrap_or_else(|| {
            panic!("host_conv2d: a {weight:?} kernel on a {x:?} input padded by {pad}")
        })
    }

    impl HostOps for Flex {
        fn host_conv2d(
            x: FlexTensor,
            weight: FlexTensor,
            bias: FlexTensor,
            pad: usize,
        ) -> FlexTensor {
            let (x, weight, bias) = (host(x), host(weight), host(bias));
            let s = shape(dims(&x), dims(&weight), pad);
            let out = conv::forward(&s, values(&x), values(&weight), values(&bias));
            tensor(out, [s.batch, s.c_out, s.oh(), s.ow()])
        }

        fn host_conv2d_weight_backward(
            x: FlexTensor,
            grad: FlexTensor,
            weight: FlexTensor,
            pad: usize,
        ) -> (FlexTensor, FlexTensor) {
            let weight_dims = dims(&weight);
            let (x, grad) = (host(x), host(grad));
            let s = shape(dims(&x), weight_dims, pad);
            let (dw, db) = conv::weight_backward(&s, values(&x), values(&grad));
            (tensor(dw, weight_dims), tensor(db, [s.c_out]))
        }

        fn host_conv2d_input_backward(
            weight: FlexTensor,
            grad: FlexTensor,
            h: usize,
            w: usize,
            pad: usize,
        ) -> FlexTensor {
            let (weight, grad) = (host(weight), host(grad));
            let [batch, ..] = dims::<4>(&grad);
            let [_, c_in, ..] = dims::<4>(&weight);
            let s = shape([batch, c_in, h, w], dims(&weight), pad);
            let dx = conv::input_backward(&s, values(&weight), values(&grad));
            tensor(dx, [batch, c_in, h, w])
        }

        fn host_max_pool2d(
            x: FlexTensor,
            k: usize,
            stride: usize,
            pad: usize,
        ) -> (FlexTensor, FlexTensor) {
            let x = host(x);
            let [batch, c, h, w] = dims(&x);
            let s = PoolShape {
                planes: batch * c,
                h,
                w,
                k,
                stride,
                pad,
            };
            let (out, winners) = pool::forward(&s, values(&x));
            let shape = [batch, c, s.oh(), s.ow()];
            (
                tensor(out, shape),
                FlexTensor::from_data(TensorData::new(winners, shape)),
            )
        }

        fn host_max_pool2d_backward(
            grad: FlexTensor,
            winners: FlexTensor,
            h: usize,
            w: usize,
        ) -> FlexTensor {
            let (grad, winners) = (host(grad), contiguous(winners));
            let [batch, c, oh, ow] = dims(&grad);
            let winners = winners.as_slice::<i32>().expect("i32 winners");
            let dx = pool::backward(h * w, oh * ow, values(&grad), winners);
            tensor(dx, [batch, c, h, w])
        }
    }
}

/// The convolution as one autodiff node; its backward asks for only the gradients some parent
/// needs (an input image needs none).
#[derive(Debug)]
struct HostConv;

impl<B: Backend + HostOps> Backward<B, 3> for HostConv {
    /// The checkpointed input and weight, and the padding.
    type State = (NodeId, NodeId, usize);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, weight_state, pad) = ops.state;
        let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
        let weight = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(weight_state);
        if let Some(node) = node_x {
            let [_, _, h, w] = x.shape().dims();
            let dx = B::host_conv2d_input_backward(weight.clone(), grad.clone(), h, w, pad);
            grads.register::<B>(node.id, dx);
        }
        if node_weight.is_some() || node_bias.is_some() {
            let (dw, db) = B::host_conv2d_weight_backward(x, grad, weight, pad);
            if let Some(node) = node_weight {
                grads.register::<B>(node.id, dw);
            }
            if let Some(node) = node_bias {
                grads.register::<B>(node.id, db);
            }
        }
    }
}

/// Max pooling as one autodiff node, its winners kept for the backward pass.
#[derive(Debug)]
struct HostMaxPool;

impl<B: Backend + HostOps> Backward<B, 1> for HostMaxPool {
    /// The winners and the input's height and width.
    type State = (B::IntTensorPrimitive, usize, usize);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (winners, h, w) = ops.state;
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::host_max_pool2d_backward(grad, winners, h, w));
        }
    }
}

impl<B: Backend + HostOps, C: CheckpointStrategy> HostOps for Autodiff<B, C> {
    fn host_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        pad: usize,
    ) -> FloatTensor<Self> {
        let prepared = HostConv
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful();
        let forward = |x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>| {
            B::host_conv2d(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
                pad,
            )
        };
        match prepared {
            OpsKind::Tracked(mut prep) => {
                let state = (prep.checkpoint(&x), prep.checkpoint(&weight), pad);
                prep.finish(state, forward(x, weight, bias))
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(x, weight, bias)),
        }
    }

    // The backward passes themselves are not differentiated again (no second derivatives): they
    // run on the inner backend and return untracked tensors.
    fn host_conv2d_weight_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        pad: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (dw, db) = B::host_conv2d_weight_backward(
            x.into_primitive(),
            grad.into_primitive(),
            weight.into_primitive(),
            pad,
        );
        (Self::from_inner(dw), Self::from_inner(db))
    }

    fn host_conv2d_input_backward(
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        h: usize,
        w: usize,
        pad: usize,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::host_conv2d_input_backward(
            weight.into_primitive(),
            grad.into_primitive(),
            h,
            w,
            pad,
        ))
    }

    fn host_max_pool2d(
        x: FloatTensor<Self>,
        k: usize,
        stride: usize,
        pad: usize,
    ) -> (FloatTensor<Self>, IntTensor<Self>) {
        let [_, _, h, w] = x.shape().dims();
        let prepared = HostMaxPool
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful();
        let (out, winners) = B::host_max_pool2d(x.into_primitive(), k, stride, pad);
        let out = match prepared {
            OpsKind::Tracked(prep) => prep.finish((winners.clone(), h, w), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        };
        (out, winners)
    }

    fn host_max_pool2d_backward(
        grad: FloatTensor<Self>,
        winners: IntTensor<Self>,
        h: usize,
        w: usize,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::host_max_pool2d_backward(
            grad.into_primitive(),
            winners,
            h,
            w,
        ))
    }
}
