"""``tabsynth images ...``: the image module's commands (a thin layer over ``tabsynth.images``).

    tabsynth images fit [DATA] --model mlp-gan|dcgan|vae -o DIR [--epochs N] [--epsilon E] [--resume DIR]
    tabsynth images sample MODEL_DIR -n N [--label K] -o OUT(.npz | folder) [--seed S]
    tabsynth images augment DATA -o OUT [--copies K] [--seed S]
    tabsynth images evaluate --synthetic OUT --real sample_data/mnist.npz -o report.html [--json report.json]
    tabsynth images demo [--output-dir DIR]

Imports of torch and the models happen inside the commands, so ``tabsynth --help`` stays fast.
"""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

images_app = typer.Typer(add_completion=False, no_args_is_help=True,
                         help="Images: class-conditional GANs and a VAE for MNIST, augmentation, export, evaluation.")
console = Console(soft_wrap=True)

SAMPLE_MNIST = Path(__file__).resolve().parents[2] / "sample_data" / "mnist.npz"
ImageModelName = Enum("ImageModelName", {name: name for name in ("dcgan", "vae", "mlp-gan")}, type=str)
_DEVICE_HELP = "auto (a GPU when there is one), cpu or cuda."


def _default_data(data: Optional[Path]) -> Path:
    if data is not None:
        return data
    if not SAMPLE_MNIST.is_file():
        raise FileNotFoundError(f"The bundled '{SAMPLE_MNIST}' is missing; give the images as DATA (.npz or a "
                                "folder of PNGs in class sub-folders).")
    return SAMPLE_MNIST


def _refuse_same(inputs: list[Path], output: Path) -> None:
    for source in inputs:
        if source.exists() and output.exists() and source.resolve() == output.resolve():
            raise ValueError(f"Output '{output}' is the input '{source}'; choose another output name.")


@images_app.command("fit")
def fit(
    data: Optional[Path] = typer.Argument(None, help="Images: .npz (x/y or x_train/y_train) or a folder of PNGs in "
                                                     "class sub-folders (default: the bundled MNIST)."),
    output: Path = typer.Option(..., "-o", "--output", help="Model directory to write."),
    model: ImageModelName = typer.Option(ImageModelName("dcgan"), "--model", help="Model family."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Total epochs (default: the model's own)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1),
    epsilon: Optional[float] = typer.Option(None, "--epsilon", help="Train with differential privacy at this total "
                                                                   "epsilon (dcgan and vae)."),
    delta: float = typer.Option(1e-5, "--delta", help="Total delta of a DP fit (below 1 / images)."),
    checkpoint_every: int = typer.Option(1, "--checkpoint-every", min=1, help="Epochs between checkpoints in -o."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue an interrupted fit from this checkpoint."),
    device: str = typer.Option("auto", "--device", help=_DEVICE_HELP),
    seed: Optional[int] = typer.Option(0, "--seed", help="Random seed."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Train an image generator; the model directory is checkpointed during the fit."""
    from tabsynth.images import IMAGE_MODELS, load_images
    from tabsynth.privacy import DPConfig

    source = _default_data(data)
    images = load_images(source, "train")
    params = {"epochs": epochs, "batch_size": batch_size, "device": device, "random_state": seed,
              "verbose": not quiet}
    if epsilon is not None:
        if model.value == "mlp-gan":
            raise ValueError("--epsilon is available for --model dcgan and --model vae (mlp-gan has no DP mode).")
        params["dp"] = DPConfig(epsilon=epsilon, delta=delta)
    estimator = IMAGE_MODELS[model.value](**{k: v for k, v in params.items() if v is not None})
    start = time.perf_counter()
    estimator.fit(images, checkpoint_dir=output, checkpoint_every=checkpoint_every, resume=resume)
    console.print(f"Fitted {type(estimator).__name__} on {len(images):,} images of {source} "
                  f"({estimator.epochs_trained_} epochs) in {time.perf_counter() - start:.0f} s; wrote {output}",
                  highlight=False)
    if estimator.privacy_ is not None:
        console.print(f"Privacy: epsilon {estimator.privacy_['epsilon']:.3f}, delta {estimator.privacy_['delta']:.1e} "
                      f"({estimator.privacy_['accountant']}), saved in {output / 'privacy.json'}", highlight=False)


@images_app.command("sample")
def sample(
    model_dir: Path = typer.Argument(..., help="Directory written by `tabsynth images fit`."),
    n: int = typer.Option(..., "-n", "--images", min=1, help="Number of images."),
    output: Path = typer.Option(..., "-o", "--output", help="OUT.npz, or a new folder for PNGs + labels.csv."),
    label: Optional[int] = typer.Option(None, "--label", min=0, help="Generate only this class (default: "
                                                                     "class-balanced)."),
    seed: Optional[int] = typer.Option(None, "--seed"),
    device: str = typer.Option("cpu", "--device", help=_DEVICE_HELP),
) -> None:
    """Generate labelled images and write them as .npz or as PNG files in class sub-folders."""
    from tabsynth.images import load, save_images

    model = load(model_dir, device=device)
    images = model.sample(n, labels=label, random_state=seed)
    written = save_images(images, output)
    console.print(f"Wrote {len(images):,} images ({'class ' + str(label) if label is not None else 'class-balanced'})"
                  f" to {written}", highlight=False)


@images_app.command("augment")
def augment(
    data: Path = typer.Argument(..., help="Images to augment (.npz or a folder of PNGs in class sub-folders)."),
    output: Path = typer.Option(..., "-o", "--output", help="OUT.npz, or a new folder for PNGs + labels.csv."),
    copies: int = typer.Option(1, "--copies", min=1, help="Augmented copies of each image (the originals are kept)."),
    split: str = typer.Option("train", "--split", help="Split of a keras-layout .npz."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Classic augmentation: rotation, scaling, translation, elastic deformation, Gaussian noise."""
    import numpy as np

    from tabsynth.images import Augmenter, ImageSet, load_images, save_images
    from tabsynth.images.data import to_uint8

    _refuse_same([data], output)
    images = load_images(data, split)
    augmenter = Augmenter(random_state=seed)
    x, _ = images.to_tensors()
    parts = [images.x] + [np.concatenate([to_uint8(augmenter(x[i:i + 4096])) for i in range(0, len(x), 4096)])
                          for _ in range(copies)]
    result = ImageSet(np.concatenate(parts), np.tile(images.y, copies + 1))
    written = save_images(result, output)
    console.print(f"Wrote {len(result):,} images ({len(images):,} originals + {copies} augmented copies) to {written}",
                  highlight=False)


@images_app.command("evaluate")
def evaluate(
    synthetic: Path = typer.Option(..., "--synthetic", help="Generated images (.npz or PNG folder)."),
    real: Path = typer.Option(SAMPLE_MNIST, "--real", help="Real images; a keras-layout .npz gives train and test."),
    output: Path = typer.Option(..., "-o", "--output", help="HTML report to write."),
    json_output: Optional[Path] = typer.Option(None, "--json", help="Also write the report as JSON here."),
    holdout: Optional[Path] = typer.Option(None, "--holdout", help="Real images never trained on (default: the "
                                                                  "test split of --real)."),
    model_dir: Optional[Path] = typer.Option(None, "--model", help="The generator's model directory (adds its "
                                                                   "privacy ledger)."),
    tstr_seeds: int = typer.Option(5, "--tstr-seeds", min=1),
    tstr_epochs: int = typer.Option(5, "--tstr-epochs", min=1),
    gain: Optional[ImageModelName] = typer.Option(None, "--augmentation-gain", help="Also measure the gain of "
                                                  "this generator family over classic augmentation with N = 100, "
                                                  "500, 1,000 real images (10 seeds; long)."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Judge generated images: TSTR, label accuracy, Frechet distance, precision/recall/density/coverage,
    memorisation and membership inference."""
    from tabsynth.images import augmentation_gain, load, load_images
    from tabsynth.images.data import has_split
    from tabsynth.images.evaluation import evaluate as run

    model = load(model_dir) if model_dir is not None else None
    augmentation = None
    if gain is not None:
        if holdout is None and not has_split(real, "test"):
            raise ValueError(f"--augmentation-gain needs real images never trained on: give --holdout, or a "
                             f"keras-layout .npz with x_test / y_test as --real (not '{real}').")
        test = load_images(holdout, "test") if holdout is not None else load_images(real, "test")
        augmentation = augmentation_gain(load_images(real, "train"), test, generator=gain.value)
    report = run(synthetic, real, holdout, model=model, tstr_seeds=tstr_seeds, tstr_epochs=tstr_epochs,
                 augmentation=augmentation, random_state=seed)
    report.to_html(output)
    if json_output is not None:
        report.to_json(json_output)
    _print_headline(report)
    console.print(f"Report: {output}" + (f" (JSON: {json_output})" if json_output else ""), highlight=False)


def _print_headline(report) -> None:
    from rich.table import Table

    table = Table(title="Synthetic images")
    for header in ("figure", "value", "ideal"):
        table.add_column(header, justify="left" if header == "figure" else "right")
    for metrics in report.sections.values():
        for m in metrics:
            ideal = "" if m.ideal is None else f"{m.ideal:.4f}"
            table.add_row(m.label, f"{m.value:.4f}", ideal)
    console.print(table)


@images_app.command("demo")
def demo(
    output_dir: Path = typer.Option(Path("demo_images"), "--output-dir", help="Where to write model, images, report."),
    model: ImageModelName = typer.Option(ImageModelName("vae"), "--model", help="Model family."),
    train_images: int = typer.Option(6000, "--train-images", min=100, help="Real training images used."),
    epochs: int = typer.Option(3, "--epochs", min=1),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """A short conditional fit on part of the bundled MNIST that ends with the report (about 2 minutes on CPU)."""
    import numpy as np

    from tabsynth.images import IMAGE_MODELS, balanced_subset, load_images, save_images
    from tabsynth.images.evaluation import evaluate as run

    source = _default_data(None)
    train, test = load_images(source, "train"), load_images(source, "test")
    subset = balanced_subset(train, train_images // train.n_classes, np.random.default_rng(seed))
    estimator = IMAGE_MODELS[model.value](epochs=epochs, random_state=seed)
    start = time.perf_counter()
    estimator.fit(subset, checkpoint_dir=output_dir / "model", checkpoint_every=epochs)
    console.print(f"Fitted {type(estimator).__name__} on {len(subset):,} MNIST images ({epochs} epochs) in "
                  f"{time.perf_counter() - start:.0f} s", highlight=False)
    fake = estimator.sample(10_000, random_state=seed)
    save_images(fake, output_dir / "synthetic.npz")
    report = run(fake, subset, test, model=estimator, tstr_seeds=1, tstr_epochs=2, tstr_size=10_000,
                 eval_size=2000, random_state=seed)
    report.to_html(output_dir / "report.html")
    report.to_json(output_dir / "report.json")
    _print_headline(report)
    console.print(f"Report: {output_dir / 'report.html'} (JSON: {output_dir / 'report.json'})", highlight=False)
