"""Audio feature extractors, registered by name like the image backbones (kind ``audio_extractor``).

Each maps a (batch, samples) float tensor of sound windows at ``sample_rate`` Hz to (batch, width) features:

- ``log_mel_statistics``: the weight-free control, mean and standard deviation over time of each band of a
  log-mel spectrogram;
- ``deep_spectrum``: DeepSpectrum (Amiriparian et al., 2017), as paper 002 uses it: the window's mel
  spectrogram rendered as a viridis image and passed through an image CNN (DenseNet121 in the paper), whose
  pooled output is the feature;
- ``egemaps``: the eGeMAPS v02 functionals of openSMILE (88 features). openSMILE's licence allows private,
  research and educational use only, so the package is not a dependency: ``pip install opensmile`` to use it.
"""

import cv2
import numpy as np
import torch
from torch import nn

from models.errors import ModelLoadError
from models.registry import register


def hz_to_mel(frequency):
    return 2595.0 * np.log10(1.0 + np.asarray(frequency, np.float64) / 700.0)  # HTK mel scale


def mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, np.float64) / 2595.0) - 1.0)


def mel_filterbank(sample_rate, n_fft, mels, low=0.0, high=None):
    """(mels, n_fft // 2 + 1) triangular filters, equally spaced on the mel scale between ``low`` and ``high``."""
    high = sample_rate / 2 if high is None else high
    edges = mel_to_hz(np.linspace(hz_to_mel(low), hz_to_mel(high), mels + 2))
    bins = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None] - lower) / np.maximum(centre - lower, 1e-9)
    falling = (upper - bins[None]) / np.maximum(upper - centre, 1e-9)
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


class MelSpectrogram(nn.Module):
    """Power mel spectrogram, (batch, samples) -> (batch, mels, steps); 25 ms Hann frames every 10 ms by default."""

    def __init__(self, sample_rate, mels=64, frame_seconds=0.025, hop_seconds=0.010):
        super().__init__()
        self.n_fft = int(round(frame_seconds * sample_rate))
        self.hop = int(round(hop_seconds * sample_rate))
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)
        self.register_buffer(
            "filters", torch.from_numpy(mel_filterbank(sample_rate, self.n_fft, mels)), persistent=False
        )

    def forward(self, samples):
        spectrum = torch.stft(
            samples, self.n_fft, self.hop, window=self.window, center=True, pad_mode="constant", return_complex=True
        )
        return self.filters @ spectrum.abs().square()


@register("audio_extractor", "log_mel_statistics")
class LogMelStatistics(nn.Module):
    """Per band of the log-mel spectrogram: its mean and standard deviation over the window (2 x mels)."""

    def __init__(self, sample_rate, mels=64, spec=None, backbone=None, device="cpu"):
        super().__init__()
        self.spectrogram = MelSpectrogram(sample_rate, mels)
        self.output_width = 2 * mels

    def forward(self, samples):
        logarithm = torch.log(self.spectrogram(samples) + 1e-10)
        return torch.cat([logarithm.mean(dim=-1), logarithm.std(dim=-1, correction=0)], dim=-1)


def spectrogram_images(power, size, dynamic_range=80.0):
    """Power mel spectrograms (batch, mels, steps) -> (batch, size, size, 3) uint8 RGB viridis images, low
    frequencies at the bottom, as DeepSpectrum plots them; each image spans its own top ``dynamic_range`` dB."""
    decibels = 10.0 * np.log10(np.maximum(power, 1e-10))
    top = decibels.max(axis=(1, 2), keepdims=True)
    scaled = np.clip((decibels - (top - dynamic_range)) / dynamic_range, 0.0, 1.0)
    images = np.empty((len(power), size, size, 3), np.uint8)
    for index, image in enumerate(scaled):
        grey = cv2.resize((image[::-1] * 255.0).astype(np.uint8), (size, size), interpolation=cv2.INTER_LINEAR)
        images[index] = cv2.applyColorMap(grey, cv2.COLORMAP_VIRIDIS)[..., ::-1]
    return images


@register("audio_extractor", "deep_spectrum")
class DeepSpectrum(nn.Module):
    """Mel spectrogram images through an image CNN (a timm architecture with its checkpoint, the keys of a timm
    backbone), its pooled output the feature (paper 002: DenseNet121, 1024 features)."""

    def __init__(self, sample_rate, mels=128, spec=None, backbone="deep_spectrum", device="cpu"):
        super().__init__()
        from models.backbones import build_backbone

        image_spec = {key: value for key, value in dict(spec).items() if key not in ("extractor", "audio")}
        image_spec["format"] = "timm"
        self.spectrogram = MelSpectrogram(sample_rate, mels)
        self.network = build_backbone(backbone, image_spec, device)
        self.input_size = image_spec["input_size"]
        self.register_buffer("mean", torch.tensor(image_spec["mean"], dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(image_spec["std"], dtype=torch.float32).view(1, -1, 1, 1))
        self.output_width = image_spec["output_width"]

    def forward(self, samples):
        power = self.spectrogram(samples).float().cpu().numpy()
        images = torch.from_numpy(spectrogram_images(power, self.input_size)).to(samples.device)
        images = images.permute(0, 3, 1, 2).float().div_(255.0)
        return self.network((images - self.mean) / self.std).reshape(len(samples), -1)


@register("audio_extractor", "egemaps")
class EGeMAPS(nn.Module):
    """openSMILE's eGeMAPS v02 functionals of each window (88 features); needs the optional opensmile package."""

    def __init__(self, sample_rate, spec=None, backbone="egemaps", device="cpu"):
        super().__init__()
        try:
            import opensmile
        except ImportError:
            raise ModelLoadError(
                f"audio backbone {backbone!r}: extractor egemaps needs the opensmile package, which is not installed. "
                "Its licence allows private, research and educational use only; if that fits your use, "
                "`pip install opensmile` in the pipeline's environment"
            ) from None
        self.smile = opensmile.Smile(
            feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals
        )
        self.sample_rate = sample_rate
        self.output_width = len(self.smile.feature_names)

    def forward(self, samples):
        rows = [
            self.smile.process_signal(window, self.sample_rate).to_numpy(np.float32).reshape(-1)
            for window in samples.cpu().numpy()
        ]
        return torch.from_numpy(np.stack(rows)).to(samples.device)


def create_audio_extractor(name, spec, device="cpu"):
    """The extractor of one audio backbone entry, checked against its declared output width."""
    from models.registry import create

    settings = spec["audio"]
    options = {} if spec["extractor"] == "egemaps" else {"mels": settings["mels"]}
    extractor = create(
        "audio_extractor",
        spec["extractor"],
        sample_rate=settings["sample_rate"],
        spec=spec,
        backbone=name,
        device=device,
        **options,
    )
    extractor = extractor.to(device).eval()
    if extractor.output_width != spec["output_width"]:
        raise ModelLoadError(
            f"audio backbone {name!r}: declared output_width {spec['output_width']}, but extractor "
            f"{spec['extractor']} gives {extractor.output_width} features"
        )
    return extractor
