//! `byzsgd datasets inspect NAME [--data-dir DIR]`: train and test counts, image shape and class
//! histogram of a data set, or the loader's error naming the file and where the data comes from.
//! `byzsgd datasets generate cifar10 --out DIR`: the CIFAR-shaped synthetic set written as the
//! official CIFAR-10 binary files, with a [`GENERATED_MARKER`] file that says so (what the
//! reproduction's quick run and CI train on where the real archive cannot be had).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Result, bail};
use byzsgd_datasets::{
    ImageSet, Normalization, Split, load_cifar10, load_fashion_mnist, load_fashion_mnist_default,
    load_mnist, synthetic,
};

/// Data set names `inspect` knows.
pub const DATASETS: &[&str] = &[
    "synthetic",
    "synthetic-cifar",
    "fashion-mnist",
    "mnist",
    "cifar10",
];

/// Arguments of `byzsgd datasets`.
#[derive(Debug, Clone, clap::Args)]
pub struct DatasetsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: DatasetsCommand,
}

/// `byzsgd datasets` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum DatasetsCommand {
    /// Counts, shape and class histogram of a data set.
    Inspect(InspectArgs),
    /// Write generated, learnable CIFAR-shaped images as the official CIFAR-10 binary files
    /// (data_batch_1.bin .. data_batch_5.bin, test_batch.bin) and a GENERATED.txt saying so.
    ///
    /// Example: byzsgd datasets generate cifar10 --out /tmp/cifar-like --train 5000 --test 500
    Generate(GenerateArgs),
}

/// Arguments of `byzsgd datasets generate`.
#[derive(Debug, Clone, clap::Args)]
pub struct GenerateArgs {
    /// The on-disk format: cifar10 (the only one so far).
    #[arg(value_parser = ["cifar10"])]
    pub format: String,
    /// The directory to write (created; existing files of the same names are replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// Training images.
    #[arg(long, default_value_t = 50_000)]
    pub train: usize,
    /// Test images.
    #[arg(long, default_value_t = 10_000)]
    pub test: usize,
    /// Seed of the classes' prototypes and the images.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// The file `datasets generate` writes beside generated data: its presence marks every figure
/// trained on that directory as synthetic.
pub const GENERATED_MARKER: &str = "GENERATED.txt";

/// Arguments of `byzsgd datasets inspect`.
#[derive(Debug, Clone, clap::Args)]
pub struct InspectArgs {
    /// synthetic, synthetic-cifar (3x32x32 colour, generated), fashion-mnist, mnist or cifar10.
    pub name: String,
    /// Directory of the files (fashion-mnist defaults to /usr/share/datasets/fashion-mnist;
    /// mnist and cifar10 need one).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// Loads data set `name` from `dir` (or its default place).
pub fn load(name: &str, dir: Option<&PathBuf>) -> Result<Split> {
    Ok(match (name, dir) {
        ("synthetic", _) => synthetic::generate(60_000, 10_000, 0),
        ("synthetic-cifar", _) => synthetic::generate_cifar(50_000, 10_000, 0),
        ("fashion-mnist", Some(dir)) => load_fashion_mnist(dir)?,
        ("fashion-mnist", None) => load_fashion_mnist_default()?,
        ("mnist", Some(dir)) => load_mnist(dir)?,
        ("cifar10", Some(dir)) => load_cifar10(dir)?,
        ("mnist" | "cifar10", None) => {
            bail!("{name} needs --data-dir DIR: there is no default location")
        }
        _ => bail!("unknown data set {name:?}; known: {}", DATASETS.join(", ")),
    })
}

/// The normalisation training uses for data set `name` (MNIST's for names it does not know).
pub fn normalization(name: &str) -> Normalization {
    match name {
        "cifar10" => Normalization::cifar10(),
        "fashion-mnist" => Normalization::fashion_mnist(),
        "synthetic" => Normalization::synthetic(),
        "synthetic-cifar" => Normalization::synthetic_cifar(),
        _ => Normalization::mnist(),
    }
}

/// Runs `byzsgd datasets`.
pub fn run(args: &DatasetsArgs, out: &mut impl Write) -> Result<()> {
    let args = match &args.command {
        DatasetsCommand::Inspect(a) => a,
        DatasetsCommand::Generate(a) => return generate(a, out),
    };
    let split = load(&args.name, args.data_dir.as_ref())?;
    let [c, h, w] = split.train.shape();
    writeln!(
        out,
        "{}: {c}x{h}x{w} images, {} classes",
        args.name,
        split.train.num_classes()
    )?;
    for (what, set) in [("train", &split.train), ("test", &split.test)] {
        writeln!(
            out,
            "{what:<5} {:>7} images  per class {}",
            set.len(),
            histogram(set)
        )?;
    }
    Ok(())
}

fn generate(a: &GenerateArgs, out: &mut impl Write) -> Result<()> {
    if a.train < 5 || a.test == 0 {
        bail!(
            "--train must be at least 5 (one image per training file) and --test at least 1, got {} and {}",
            a.train,
            a.test
        );
    }
    let split = synthetic::generate_cifar(a.train, a.test, a.seed);
    byzsgd_datasets::write_cifar10_dir(&a.out, &split)?;
    std::fs::write(
        a.out.join(GENERATED_MARKER),
        format!(
            "Generated by `byzsgd datasets generate cifar10 --train {} --test {} --seed {}`:\n\
             learnable, class-dependent synthetic images in the CIFAR-10 binary format, NOT \
             CIFAR-10.\nFigures trained on this directory are labelled synthetic.\n",
            a.train, a.test, a.seed
        ),
    )?;
    writeln!(
        out,
        "wrote {} training and {} test images (generated, seed {}) as CIFAR-10 binary files to {}",
        a.train,
        a.test,
        a.seed,
        a.out.display()
    )?;
    Ok(())
}

fn histogram(set: &ImageSet) -> String {
    set.class_histogram()
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspects_real_files_and_names_missing_ones() {
        let dir = std::env::temp_dir().join(format!("byzsgd-inspect-{}", std::process::id()));
        byzsgd_datasets::write_cifar10_dir(&dir, &synthetic_cifar()).unwrap();
        let mut out = Vec::new();
        let args = DatasetsArgs {
            command: DatasetsCommand::Inspect(InspectArgs {
                name: "cifar10".into(),
                data_dir: Some(dir.clone()),
            }),
        };
        run(&args, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("cifar10: 3x32x32 images, 10 classes"),
            "{text}"
        );
        std::fs::remove_file(dir.join("test_batch.bin")).unwrap();
        let err = run(&args, &mut Vec::new()).unwrap_err().to_string();
        assert!(err.contains("test_batch.bin"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            load("imagenet", None)
                .unwrap_err()
                .to_string()
                .contains("known: synthetic")
        );
    }

    /// A tiny CIFAR-shaped split: 20 train and 10 test images, two per class.
    fn synthetic_cifar() -> Split {
        let set = |n: usize| {
            let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
            ImageSet::new(vec![7u8; n * 3072], labels, [3, 32, 32], 10).unwrap()
        };
        Split {
            train: set(20),
            test: set(10),
        }
    }
}
