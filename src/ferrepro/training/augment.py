"""On-the-fly training augmentation, one policy per paper, on batched float tensors B x C x H x W.

Augmentation is applied to *training batches only*, on the device the model trains on, after
the batch is moved there; images are float in [0, 1] (before any mean/std normalisation, since
the photometric ops clamp to [0, 1]). ``build_augmentation(policy)`` returns a callable
``aug(batch, generator=None) -> batch``; ``generator`` may be a ``torch.Generator`` or an int seed,
and makes the output reproducible.

Per-sample randomness. A torchvision.transforms.v2 transform applied to a B x C x H x W tensor
draws ONE set of random parameters for the whole batch (every image rotated by the same angle).
Two engines give every image its own parameters:

- ``"batched"`` (default): draws B parameter sets at once and applies them in one pass: a batched
  affine warp (``torch.nn.functional.affine_grid`` + ``grid_sample``, with torchvision's inverse
  affine matrix, so it matches ``v2.functional.affine`` for the same parameters), a per-sample flip
  mask, per-sample brightness/contrast factors, Gaussian noise and per-sample erasing rectangles.
  Cost is a few kernels per batch, independent of B.
- ``"loop"``: the torchvision v2 transforms themselves, applied sample by sample (reference
  implementation; B times the kernel launches). Supports only constant (zero) fill.

``bench/bench_features.py`` measures both against the training throughput of a small CNN.

Policies (magnitudes the paper does not give are our choices, marked "ours"):

- ``nauman2025`` (Table 3): rotation +-25 deg, zoom 0.2 (scale 0.8-1.2), horizontal flip, shear
  20 deg. "Scale transformation 0 to 1" in that table is the 1/255 rescale, not an augmentation.
  The paper uses Keras' ImageDataGenerator, whose default fill mode is "nearest": ``fill: border``.
- ``majeed2025``: "a series of random transformations, such as those shown in Fig. 3"; the figure
  is not described in the text, so the set is ours: rotation +-10 deg, shift 0.1, zoom 0.1,
  horizontal flip (the usual Keras FER2013 recipe), ``fill: border``.
- ``abdeldayem2025``: "rotation, shifting, shearing, and horizontal flipping"; magnitudes ours:
  rotation +-15 deg, shift 0.1, shear 10 deg, flip, ``fill: border``.
- ``afzaal2025`` (3.2.2): rotation +-10 deg, horizontal flip, "slight scaling" (ours: 0.9-1.1),
  brightness and contrast (ours: factors 0.8-1.2), Gaussian noise (ours: sigma 0.03), synthetic
  occlusion as random erasing of one rectangle (ours: p 0.5, 2-15% of the image, zero fill).
- ``none``: identity.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch
import torch.nn.functional as F

ENGINES = ("batched", "loop")
FILLS = ("zeros", "border")


class AugmentSpecError(ValueError):
    pass


@dataclass(frozen=True)
class AugmentSpec:
    """One augmentation policy. Zero / None disables a transform."""

    rotation: float = 0.0  # degrees, uniform in [-rotation, rotation]
    translate: float = 0.0  # fraction of width/height, uniform in [-t, t], rounded to whole pixels
    scale: tuple[float, float] | None = None  # isotropic zoom factor range
    shear: float = 0.0  # x-shear degrees, uniform in [-shear, shear] (Keras' shear_range)
    hflip: float = 0.0  # probability of a horizontal flip
    brightness: float = 0.0  # factor uniform in [1 - b, 1 + b] (ColorJitter semantics)
    contrast: float = 0.0  # factor uniform in [1 - c, 1 + c], blended with the image's mean luma
    noise_std: float = 0.0  # additive Gaussian noise sigma, on the [0, 1] scale
    erase_p: float = 0.0  # probability of erasing one rectangle (synthetic occlusion)
    erase_scale: tuple[float, float] = (0.02, 0.15)  # erased area as a fraction of the image
    erase_ratio: tuple[float, float] = (0.3, 3.3)  # aspect ratio range (log-uniform)
    erase_value: float = 0.0
    fill: str = "zeros"  # outside the warped image: "zeros" (torchvision) or "border" (Keras "nearest")
    engine: str = "batched"

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise AugmentSpecError(f"augmentation engine {self.engine!r} unknown; expected one of {ENGINES}")
        if self.fill not in FILLS:
            raise AugmentSpecError(f"augmentation fill {self.fill!r} unknown; expected one of {FILLS}")
        if self.engine == "loop" and self.fill != "zeros" and self.has_affine:
            raise AugmentSpecError(
                "engine 'loop' uses torchvision's RandomAffine, which only fills with a constant; "
                "use fill 'zeros' or engine 'batched'"
            )
        for name in ("hflip", "erase_p"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise AugmentSpecError(f"augmentation {name} is a probability, got {getattr(self, name)}")
        for name in ("rotation", "translate", "shear", "brightness", "contrast", "noise_std"):
            if getattr(self, name) < 0:
                raise AugmentSpecError(f"augmentation {name} must be >= 0, got {getattr(self, name)}")
        if self.brightness >= 1 or self.contrast >= 1:
            raise AugmentSpecError("brightness/contrast must be < 1 (factors are drawn in [1 - x, 1 + x])")
        if self.scale is not None and not 0 < self.scale[0] <= self.scale[1]:
            raise AugmentSpecError(f"augmentation scale must be [lo, hi] with 0 < lo <= hi, got {self.scale}")

    @property
    def has_affine(self) -> bool:
        return bool(self.rotation or self.translate or self.shear or (self.scale and tuple(self.scale) != (1.0, 1.0)))

    @property
    def is_identity(self) -> bool:
        return not (self.has_affine or self.hflip or self.brightness or self.contrast or self.noise_std or self.erase_p)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


POLICIES: dict[str, AugmentSpec] = {
    "none": AugmentSpec(),
    "nauman2025": AugmentSpec(rotation=25.0, scale=(0.8, 1.2), hflip=0.5, shear=20.0, fill="border"),
    "majeed2025": AugmentSpec(rotation=10.0, translate=0.1, scale=(0.9, 1.1), hflip=0.5, fill="border"),
    "abdeldayem2025": AugmentSpec(rotation=15.0, translate=0.1, shear=10.0, hflip=0.5, fill="border"),
    "afzaal2025": AugmentSpec(
        rotation=10.0,
        hflip=0.5,
        scale=(0.9, 1.1),
        brightness=0.2,
        contrast=0.2,
        noise_std=0.03,
        erase_p=0.5,
        erase_scale=(0.02, 0.15),
        fill="border",
    ),
}


def spec_from_config(policy: str | dict[str, Any] | AugmentSpec | None) -> AugmentSpec:
    """A policy name, a mapping ``{policy: name, **overrides}`` / ``{**fields}``, or a spec."""
    if policy is None:
        return POLICIES["none"]
    if isinstance(policy, AugmentSpec):
        return policy
    if isinstance(policy, str):
        if policy not in POLICIES:
            raise AugmentSpecError(f"augmentation policy {policy!r} unknown; expected one of {sorted(POLICIES)}")
        return POLICIES[policy]
    if not isinstance(policy, dict):
        raise AugmentSpecError(f"augmentation must be a policy name or a mapping, got {policy!r}")
    values = dict(policy)
    base = spec_from_config(values.pop("policy", "none"))
    known = {f.name for f in fields(AugmentSpec)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise AugmentSpecError(f"unknown augmentation keys {unknown}; valid keys: {sorted(known | {'policy'})}")
    for key in ("scale", "erase_scale", "erase_ratio"):
        if values.get(key) is not None:
            values[key] = tuple(float(v) for v in values[key])
    return replace(base, **values)


# ----------------------------------------------------------------------------- geometry


def inverse_affine_matrices(angle, translate_x, translate_y, scale, shear_x, shear_y) -> torch.Tensor:
    """B x 2 x 3 inverse affine matrices in centred pixel coordinates (torchvision's convention).

    Same algebra as torchvision's ``_get_inverse_affine_matrix`` with the centre at the image
    centre: output pixel -> input pixel = (R S Sh)^-1 (p - t). Angles in degrees, counter-clockwise.
    """
    rot = torch.deg2rad(angle)
    sx, sy = torch.deg2rad(shear_x), torch.deg2rad(shear_y)
    a = torch.cos(rot - sy) / torch.cos(sy)
    b = -torch.cos(rot - sy) * torch.tan(sx) / torch.cos(sy) - torch.sin(rot)
    c = torch.sin(rot - sy) / torch.cos(sy)
    d = -torch.sin(rot - sy) * torch.tan(sx) / torch.cos(sy) + torch.cos(rot)
    m00, m01, m10, m11 = d / scale, -b / scale, -c / scale, a / scale
    m02 = m00 * (-translate_x) + m01 * (-translate_y)
    m12 = m10 * (-translate_x) + m11 * (-translate_y)
    return torch.stack([torch.stack([m00, m01, m02], -1), torch.stack([m10, m11, m12], -1)], -2)


def affine_batch(
    batch: torch.Tensor, angle, translate_x, translate_y, scale, shear_x, shear_y, fill: str = "zeros"
) -> torch.Tensor:
    """Warp each image of B x C x H x W by its own affine parameters (1-D tensors of length B).

    Equivalent to ``torchvision.transforms.v2.functional.affine(img, angle, [tx, ty], scale,
    [shear_x, shear_y], interpolation=BILINEAR)`` per image (fill "zeros").
    """
    bsz, _, h, w = batch.shape
    p = [
        torch.as_tensor(v, dtype=torch.float32, device=batch.device).reshape(-1).expand(bsz)
        for v in (angle, translate_x, translate_y, scale, shear_x, shear_y)
    ]
    m = inverse_affine_matrices(*p)
    # Centred pixel coordinates -> affine_grid's normalised [-1, 1] ones (align_corners=False).
    theta = torch.empty_like(m)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 0, 2] = m[:, 0, 0], m[:, 0, 1] * h / w, m[:, 0, 2] * 2 / w
    theta[:, 1, 0], theta[:, 1, 1], theta[:, 1, 2] = m[:, 1, 0] * w / h, m[:, 1, 1], m[:, 1, 2] * 2 / h
    grid = F.affine_grid(theta.to(batch.dtype), list(batch.shape), align_corners=False)
    return F.grid_sample(batch, grid, mode="bilinear", padding_mode=fill, align_corners=False)


# ----------------------------------------------------------------------------- engines


def _generator(generator: torch.Generator | int | None) -> torch.Generator | None:
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    g = torch.Generator()
    g.manual_seed(int(generator))
    return g


def _uniform(n: int, lo: float, hi: float, g: torch.Generator | None) -> torch.Tensor:
    device = g.device if g is not None else "cpu"
    return torch.rand(n, generator=g, device=device) * (hi - lo) + lo


def _mean_luma(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 3:
        w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x * w).sum(1, keepdim=True).mean((2, 3), keepdim=True)
    return x.mean((1, 2, 3), keepdim=True)


class BatchAugmentation:
    """``aug(batch, generator=None)``: augmented copy of a float B x C x H x W batch in [0, 1]."""

    def __init__(self, spec: AugmentSpec, name: str = "custom"):
        self.spec = spec
        self.name = name
        self._loop_transform = self._build_v2() if spec.engine == "loop" else None

    def __repr__(self) -> str:
        return f"BatchAugmentation({self.name!r}, {self.spec})"

    def describe(self) -> dict[str, Any]:
        return {"policy": self.name, **self.spec.to_dict()}

    def __call__(self, batch: torch.Tensor, generator: torch.Generator | int | None = None) -> torch.Tensor:
        if batch.ndim != 4 or not batch.is_floating_point():
            raise AugmentSpecError(
                f"augmentation expects a float B x C x H x W tensor, got {batch.dtype} {tuple(batch.shape)}"
            )
        if self.spec.is_identity or len(batch) == 0:
            return batch
        g = _generator(generator)
        if self.spec.engine == "loop":
            return self._loop(batch, g)
        return self._batched(batch, g)

    # -- batched engine
    def _batched(self, x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        s, n, dev = self.spec, len(x), x.device
        _, _, h, w = x.shape
        if s.has_affine:
            angle = _uniform(n, -s.rotation, s.rotation, g)
            tx = torch.round(_uniform(n, -s.translate * w, s.translate * w, g))
            ty = torch.round(_uniform(n, -s.translate * h, s.translate * h, g))
            scale = _uniform(n, *s.scale, g) if s.scale else torch.ones(n)
            shear = _uniform(n, -s.shear, s.shear, g)
            x = affine_batch(
                x,
                angle.to(dev),
                tx.to(dev),
                ty.to(dev),
                scale.to(dev),
                shear.to(dev),
                torch.zeros(n, device=dev),
                fill=s.fill,
            )
        if s.hflip:
            flip = (_uniform(n, 0, 1, g) < s.hflip).to(dev).view(-1, 1, 1, 1)
            x = torch.where(flip, x.flip(-1), x)
        if s.brightness:
            f = _uniform(n, 1 - s.brightness, 1 + s.brightness, g).to(dev, x.dtype).view(-1, 1, 1, 1)
            x = (x * f).clamp_(0, 1)
        if s.contrast:
            f = _uniform(n, 1 - s.contrast, 1 + s.contrast, g).to(dev, x.dtype).view(-1, 1, 1, 1)
            mean = _mean_luma(x)
            x = ((x - mean) * f + mean).clamp_(0, 1)
        if s.noise_std:
            noise = torch.randn(x.shape, generator=_device_generator(g, dev), device=dev, dtype=x.dtype)
            x = (x + s.noise_std * noise).clamp_(0, 1)
        if s.erase_p:
            x = self._erase(x, g)
        return x

    def _erase(self, x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        # One rectangle per selected image, sampled like v2.RandomErasing but in a single try: a
        # side longer than the image is clipped to it (torchvision re-draws up to 10 times).
        s, n, dev = self.spec, len(x), x.device
        _, _, h, w = x.shape
        do = _uniform(n, 0, 1, g) < s.erase_p
        area = _uniform(n, *s.erase_scale, g) * h * w
        ratio = torch.exp(_uniform(n, math.log(s.erase_ratio[0]), math.log(s.erase_ratio[1]), g))
        eh = torch.sqrt(area * ratio).round().clamp(1, h)
        ew = torch.sqrt(area / ratio).round().clamp(1, w)
        top = torch.floor(_uniform(n, 0, 1, g) * (h - eh + 1))
        left = torch.floor(_uniform(n, 0, 1, g) * (w - ew + 1))
        rows = torch.arange(h, device=dev).view(1, h, 1)
        cols = torch.arange(w, device=dev).view(1, 1, w)
        top, left, eh, ew, do = (t.to(dev).view(-1, 1, 1) for t in (top, left, eh, ew, do))
        mask = do & (rows >= top) & (rows < top + eh) & (cols >= left) & (cols < left + ew)
        return torch.where(mask[:, None], torch.full_like(x, s.erase_value), x)

    # -- loop engine (torchvision v2, sample by sample)
    def _build_v2(self):
        from torchvision.transforms import v2

        s = self.spec
        ops = []
        if s.has_affine:
            ops.append(
                v2.RandomAffine(
                    degrees=s.rotation,
                    translate=(s.translate, s.translate) if s.translate else None,
                    scale=tuple(s.scale) if s.scale else None,
                    shear=(-s.shear, s.shear) if s.shear else None,
                    interpolation=v2.InterpolationMode.BILINEAR,
                    fill=0,
                )
            )
        if s.hflip:
            ops.append(v2.RandomHorizontalFlip(p=s.hflip))
        if s.brightness or s.contrast:
            ops.append(v2.ColorJitter(brightness=s.brightness or None, contrast=s.contrast or None))
        if s.noise_std:
            ops.append(v2.GaussianNoise(sigma=s.noise_std, clip=True))
        if s.erase_p:
            ops.append(
                v2.RandomErasing(
                    p=s.erase_p, scale=tuple(s.erase_scale), ratio=tuple(s.erase_ratio), value=s.erase_value
                )
            )
        return v2.Compose(ops)

    def _loop(self, x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        if g is None:
            return torch.stack([self._loop_transform(img) for img in x])
        # torchvision draws from the global RNG: seed it from the generator inside a fork so the
        # caller's global RNG state is left untouched.
        seed = int(torch.randint(0, 2**62, (1,), generator=g, device=g.device))
        devices = [x.device] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            return torch.stack([self._loop_transform(img) for img in x])


def _device_generator(g: torch.Generator | None, device: torch.device) -> torch.Generator | None:
    if g is None:
        return None
    if g.device == torch.device(device) or (g.device.type == torch.device(device).type == "cpu"):
        return g
    dg = torch.Generator(device=device)
    dg.manual_seed(int(torch.randint(0, 2**62, (1,), generator=g, device=g.device)))
    return dg


def build_augmentation(policy: str | dict[str, Any] | AugmentSpec | None = "none") -> BatchAugmentation:
    """Callable ``aug(batch, generator=None) -> batch`` for a policy name or config mapping.

    Examples: ``build_augmentation("nauman2025")``, ``build_augmentation({"policy": "afzaal2025",
    "engine": "loop", "fill": "zeros"})``, ``build_augmentation({"rotation": 10, "hflip": 0.5})``.
    """
    name = (
        policy
        if isinstance(policy, str)
        else (policy.get("policy", "custom") if isinstance(policy, dict) else "custom")
    )
    return BatchAugmentation(spec_from_config(policy), name=str(name))
