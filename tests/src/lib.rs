//! Helpers shared by the cross-crate tests: a single-node (vanilla, nothing Byzantine) trainer
//! over the flat-vector path the ByzSGD engine uses, and evaluation.

use burn::tensor::{Device, Int, Tensor, TensorData};
use byzsgd_burn::{
    LabelledImages, LrSchedule, ServerOptimizerConfig, accuracy, flatten_params, gradient,
    load_params,
};
use byzsgd_datasets::{BatchPlan, ImageSet, Normalization, batch_from_indices};
use byzsgd_models::Model;

/// `indices` of `set` as a labelled batch on `device`.
pub fn labelled(
    set: &ImageSet,
    indices: &[usize],
    norm: &Normalization,
    device: &Device,
) -> LabelledImages {
    let batch = batch_from_indices(set, indices, norm, device);
    LabelledImages {
        images: batch.images,
        targets: batch.targets,
    }
}

/// Plain SGD on one node through flat vectors: `steps` minibatches of `batch` from `train`,
/// learning rate `lr`, model initialised from `seed`. Returns the trained model (on `device`
/// without autodiff) and the loss of each step.
pub fn train_single_node(
    model: &str,
    train: &ImageSet,
    norm: &Normalization,
    steps: usize,
    batch: usize,
    lr: f64,
    seed: u64,
) -> (Model, Vec<f32>) {
    let device = Device::flex().autodiff();
    device.seed(seed);
    let net = Model::new(model, &device).expect("known model");
    let plan = BatchPlan::new((0..train.len()).collect(), batch, seed).expect("non-empty plan");
    let mut sgd = ServerOptimizerConfig::new(LrSchedule::Constant(lr))
        .init()
        .expect("valid sgd");
    let mut theta = flatten_params(&net);
    let mut losses = Vec::with_capacity(steps);
    let per_epoch = plan.steps_per_epoch();
    let mut order = plan.epoch(0);
    for t in 0..steps {
        if t > 0 && t % per_epoch == 0 {
            order = plan.epoch((t / per_epoch) as u64);
        }
        let indices = order.batch(t % per_epoch).to_vec();
        let data = labelled(train, &indices, norm, &device);
        let (g, loss) = gradient(&net, theta.clone(), &data).expect("same model");
        losses.push(loss);
        let on = theta.device();
        theta = sgd.step(theta, g.to_device(&on), t).expect("same length");
    }
    let trained = load_params(
        Model::new(model, &Device::flex()).expect("known model"),
        theta.to_device(&Device::flex()),
    )
    .expect("same length");
    (trained, losses)
}

/// Test accuracy of `model` on all of `test`, in batches of 1,000.
pub fn test_accuracy(model: &Model, test: &ImageSet, norm: &Normalization) -> f64 {
    let device = Device::flex();
    let mut correct = 0.0;
    let all: Vec<usize> = (0..test.len()).collect();
    for chunk in all.chunks(1000) {
        correct += accuracy(model, &labelled(test, chunk, norm, &device)) * chunk.len() as f64;
    }
    correct / test.len() as f64
}

/// A `[n]` integer tensor of labels (for hand-made batches).
pub fn targets(labels: &[i64], device: &Device) -> Tensor<1, Int> {
    Tensor::from_data(TensorData::new(labels.to_vec(), [labels.len()]), device)
}
