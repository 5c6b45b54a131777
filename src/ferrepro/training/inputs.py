"""Turn decoded uint8 images into the float tensors a model expects (size, channels, [0, 1] range).

This is the one place that decides what a model sees, used by training, evaluation and prediction,
so the three can never disagree.
"""

from __future__ import annotations

import cv2
import numpy as np

CHANNELS = {"gray": 1, "rgb": 3}
KEEP = "keep"  # use the channels the preprocessing produced (e.g. 4 for gilanie2025's IRGB)


def n_channels(mode: str, have: int | None = None) -> int:
    if mode == KEEP:
        if have is None:
            raise ValueError("input channels 'keep' take the count from the data")
        return have
    try:
        return CHANNELS[mode]
    except KeyError:
        raise ValueError(f"unknown input channels {mode!r}; expected one of {sorted(CHANNELS)} or {KEEP!r}") from None


NORMALISATIONS = ("unit", "per_image", "imagenet")
# torchvision's ImageNet statistics (its ImageNet1K transforms): the inputs an ImageNet-pretrained backbone
# was trained on. Per RGB channel, on images in [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_model_input(images: np.ndarray, size: int, channels: str) -> np.ndarray:
    """uint8 (0..255) or float (already 0..1, e.g. after preprocessing) N x H x W x C  ->  float32
    N x C' x size x size in [0, 1].

    Normalisation is a separate step (``normalize_batch``) applied on the training device after
    augmentation, because augmentation policies (brightness, contrast, noise) are defined on [0, 1] images.
    """
    images = np.asarray(images) if not isinstance(images, np.ndarray) else images
    if images.ndim == 3:
        images = images[..., None]
    want = n_channels(channels, have=images.shape[-1])
    out = np.empty((len(images), want, size, size), np.float32)
    for i, img in enumerate(images):
        out[i] = _convert_one(np.asarray(img), size, want).transpose(2, 0, 1)
    if images.dtype == np.uint8:
        out *= 1.0 / 255.0
    return out


def normalize_batch(x, mode: str = "unit"):
    """Normalise a float B x C x H x W batch in [0, 1] (torch tensor, any device).

    ``unit`` leaves it in [0, 1] (Keras' ``rescale=1/255``). ``per_image`` standardises each image to zero
    mean and unit variance, removing global brightness and contrast, a common FER preprocessing step.
    ``imagenet`` subtracts the ImageNet mean and divides by the ImageNet std per RGB channel
    (``IMAGENET_MEAN``, ``IMAGENET_STD``), the statistics an ImageNet-pretrained backbone expects; it needs
    3 channels (``input.channels: rgb``, which replicates a grey image into R, G and B before this step).
    """
    if mode == "unit":
        return x
    if mode == "imagenet":
        if x.shape[1] != len(IMAGENET_MEAN):
            raise ValueError(
                f"input normalisation 'imagenet' needs 3-channel (RGB) images, got {x.shape[1]} "
                "channel(s); set input.channels: rgb (grey images are replicated to R, G and B)"
            )
        mean = x.new_tensor(IMAGENET_MEAN).view(1, -1, 1, 1)
        std = x.new_tensor(IMAGENET_STD).view(1, -1, 1, 1)
        return (x - mean) / std
    if mode == "per_image":
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        std = x.std(dim=(1, 2, 3), keepdim=True, unbiased=False)
        # As tf.image.per_image_standardization: the std is floored at 1/sqrt(pixels), so a (nearly)
        # constant image maps to ~0 instead of amplifying float rounding noise.
        floor = 1.0 / float(x[0].numel()) ** 0.5
        return (x - mean) / std.clamp_min(floor)
    raise ValueError(f"unknown input normalisation {mode!r}; expected one of {NORMALISATIONS}")


def _convert_one(img: np.ndarray, size: int, want: int) -> np.ndarray:
    have = img.shape[-1]
    if img.dtype not in (np.uint8, np.float32):
        img = img.astype(np.float32)
    if have == 3 and want == 1:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[..., None]  # ITU-R BT.601 luma, as Keras/PIL 'L'
    elif have == 1 and want == 3:
        img = np.repeat(img, 3, axis=-1)
    elif have != want:
        raise ValueError(f"cannot turn {have}-channel images into {want} channels; use input.channels 'keep'")
    if img.shape[0] != size or img.shape[1] != size:
        # INTER_AREA for shrinking avoids aliasing; linear for enlarging.
        interp = cv2.INTER_AREA if img.shape[0] > size else cv2.INTER_LINEAR
        img = cv2.resize(img, (size, size), interpolation=interp)
        if img.ndim == 2:
            img = img[..., None]
    return img.astype(np.float32)
