//! The built-in classifiers ([`Model`]) on labelled image sets under ByzSGD: what
//! `byzsgd simulate` runs, through the same [`ByzSgd`] builder as a user's own model.

use burn::tensor::Device;
use byzsgd_datasets::{ImageBatcher, ImageItem, Normalization, Split, shard_dirichlet};
use byzsgd_models::Model;

use byzsgd_core::node::{Cluster, ClusterSpec, StepRow};

use crate::builder::{ByzSgd, Trained};
use crate::{BurnError, ClassifierBatcher, ModuleSource, Result, flip_label, test_accuracy};

/// Refuses a model whose input shape is not the data's, naming both.
pub fn check_shape(name: &str, data: &Split) -> Result<()> {
    let want = Model::info(name)
        .map_err(|e| BurnError::Config(e.to_string()))?
        .input;
    let got = data.train.shape();
    if got != want {
        return Err(BurnError::Config(format!(
            "model {name} takes {want:?} images, the data set has {got:?}"
        )));
    }
    Ok(())
}

/// Trains model `name` (initialised from `config.seed`) on `data.train` under `config`, scoring
/// on `data.test`, on `device` (autodiff is added here).
pub fn train_classifier(
    name: &str,
    data: &Split,
    norm: &Normalization,
    device: &Device,
    config: ClusterSpec,
    progress: &mut dyn FnMut(&StepRow),
) -> Result<Trained<Model>> {
    classifier(name, data, norm, device, config)?.run(progress)
}

/// The checked cluster and the gradient source of model `name` on `data` under `config`, as
/// [`train_classifier`] trains it, without running: what a networked node computes with.
pub fn classifier_source(
    name: &str,
    data: &Split,
    norm: &Normalization,
    device: &Device,
    config: ClusterSpec,
) -> Result<(Cluster, ModuleSource<Model, ImageItem>)> {
    let (sim, source) = classifier(name, data, norm, device, config)?.build()?;
    Ok((sim.cluster().clone(), source))
}

fn classifier(
    name: &str,
    data: &Split,
    norm: &Normalization,
    device: &Device,
    config: ClusterSpec,
) -> Result<ByzSgd<Model, ImageItem>> {
    check_shape(name, data)?;
    let ad = device.clone().autodiff();
    ad.seed(config.seed);
    let model = Model::new(name, &ad).map_err(|e| BurnError::Config(e.to_string()))?;
    let classes = data.train.num_classes();
    let test = data.test.clone();
    let (eval_norm, eval_device) = (norm.clone(), device.clone());
    let shards = match config.dirichlet().map_err(BurnError::from)? {
        Some(alpha) => Some(
            shard_dirichlet(
                data.train.labels(),
                classes,
                config.workers,
                alpha,
                config.seed,
            )
            .map_err(|e| BurnError::Data(e.to_string()))?,
        ),
        None => None,
    };
    let builder = ByzSgd::new(
        model,
        data.train.clone(),
        ClassifierBatcher(ImageBatcher::new(norm.clone())),
        ad,
    );
    let builder = match shards {
        Some(s) => builder.shards(s),
        None => builder,
    };
    Ok(builder
        .config(config)
        .label_flip(flip_label(classes))
        .evaluate(move |m: &Model| test_accuracy(m, &test, &eval_norm, &eval_device)))
}
