//! Flat views line up with the model: parameters round-trip, gradients flatten in the same
//! order, a wrong length is an error.

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use byzsgd_burn::{
    BurnError, LabelledImages, Trainable, flatten_params, gradient, load_params, param_count,
};
use byzsgd_models::{MODELS, Model};

fn values(t: Tensor<1>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

#[test]
fn parameters_round_trip_through_a_flat_vector() {
    let device = Device::flex();
    for info in MODELS.iter().filter(|m| m.name != "resnet18") {
        let a = Model::new(info.name, &device).unwrap();
        let b = Model::new(info.name, &device).unwrap();
        assert_eq!(param_count(&a), a.num_params());
        let flat = flatten_params(&a);
        assert_eq!(flat.dims(), [a.num_params()]);
        assert!(!flat.is_autodiff(), "flat parameters must be plain values");
        let b = load_params(b, flat.clone()).unwrap();
        assert_eq!(values(flatten_params(&b)), values(flat), "{}", info.name);
    }
}

#[test]
fn a_wrong_length_is_an_error_not_a_panic() {
    let device = Device::flex();
    let model = Model::new("mlp", &device).unwrap();
    let err = load_params(model, Tensor::zeros([10], &device)).unwrap_err();
    assert_eq!(
        err,
        BurnError::Dimension {
            expected: 79_510,
            got: 10
        }
    );
}

/// A loss whose gradient is known: `sum(θ²)` has gradient `2θ`, coordinate by coordinate.
#[derive(Module, Debug)]
struct Quadratic {
    inner: Model,
}

impl Trainable for Quadratic {
    type Batch = ();
    fn loss(&self, _: &()) -> Tensor<1> {
        flatten_params_live(self).square().sum()
    }
}

/// The parameters with their autodiff graph (flatten_params detaches).
fn flatten_params_live(model: &Quadratic) -> Tensor<1> {
    use burn::module::{ModuleVisitor, Param};
    struct Collect(Vec<Tensor<1>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.val().flatten(0, D - 1));
        }
    }
    let mut c = Collect(Vec::new());
    model.visit(&mut c);
    Tensor::cat(c.0, 0)
}

#[test]
fn gradients_flatten_in_parameter_order() {
    let device = Device::flex().autodiff();
    let model = Quadratic {
        inner: Model::new("cnn", &device).unwrap(),
    };
    let theta = flatten_params(&model);
    // Flat views carry no graph even from an autodiff model: arithmetic on them stays cheap.
    assert!(!theta.is_autodiff());
    let (g, loss) = gradient(&model, theta.clone(), &()).unwrap();
    let (theta, g) = (values(theta), values(g));
    let want_loss: f64 = theta.iter().map(|&v| (v as f64) * (v as f64)).sum();
    assert!(
        ((loss as f64) - want_loss).abs() <= 1e-3 * want_loss,
        "{loss} vs {want_loss}"
    );
    for (i, (t, g)) in theta.iter().zip(&g).enumerate() {
        assert!(
            (g - 2.0 * t).abs() <= 1e-5,
            "coordinate {i}: gradient {g}, parameter {t}"
        );
    }
}

#[test]
fn classifier_gradient_lowers_the_loss() {
    let device = Device::flex().autodiff();
    device.seed(7);
    let model = Model::new("mlp", &device).unwrap();
    let images = Tensor::<4>::random(
        [16, 1, 28, 28],
        burn::tensor::Distribution::Uniform(0.0, 1.0),
        &device,
    );
    let labels: Vec<i64> = (0..16).map(|i| i % 10).collect();
    let targets = Tensor::<1, Int>::from_data(TensorData::new(labels, [16]), &device);
    let batch = LabelledImages { images, targets };
    let theta = flatten_params(&model);
    let (g, before) = gradient(&model, theta.clone(), &batch).unwrap();
    let stepped = theta - g.to_device(&device).mul_scalar(0.1);
    let (_, after) = gradient(&model, stepped, &batch).unwrap();
    assert!(
        after < before,
        "one gradient step should lower the loss: {before} -> {after}"
    );
}
