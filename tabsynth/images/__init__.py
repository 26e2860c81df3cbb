"""Images: class-conditional GANs and a VAE for MNIST-like data, classic augmentation,
export as ``.npz`` or PNG folders, and an evaluation measured like the tables' report.

Typical use::

    import tabsynth as ts
    train = ts.images.load_images("sample_data/mnist.npz")             # 60,000 x 1 x 28 x 28
    model = ts.images.DCGAN(random_state=0).fit(train)                  # or MLPGAN, ConvVAE
    fake = model.sample(60_000)                                         # class-balanced
    ts.images.save_images(fake, "synthetic.npz")                        # or a folder of PNGs
    report = ts.images.evaluate(fake, "sample_data/mnist.npz")          # TSTR, Frechet distance, ...
    report.to_html("report.html")

It shares tabsynth's persistence (safe model directories) and privacy ledger, not the
tabular encoders.
"""

from tabsynth.images.augment import Augmenter
from tabsynth.images.augmentation_gain import augmentation_gain
from tabsynth.images.base import ImageSynthesizer, load
from tabsynth.images.data import ImageSet, balanced_subset, load_images, save_images
from tabsynth.images.evaluation import evaluate
from tabsynth.images.gan import DCGAN, MLPGAN
from tabsynth.images.registry import IMAGE_MODELS
from tabsynth.images.report import ImageReport
from tabsynth.images.vae import ConvVAE

__all__ = ["Augmenter", "ConvVAE", "DCGAN", "IMAGE_MODELS", "ImageReport", "ImageSet", "ImageSynthesizer", "MLPGAN",
           "augmentation_gain", "balanced_subset", "evaluate", "load", "load_images", "save_images"]
