"""Per-batch augmentation of log-mel features (audio runs): a warp of the band axis and masks.

A voice the model has never heard differs from the training voices mostly in where its formants
sit on the frequency axis (vocal tract length) and in which bands carry the most energy. Drawn
afresh for every batch, so that no two epochs see the same copy of a clip:

- ``band_warp`` w: every sequence's bands are resampled at ``band * a`` with ``a`` uniform in
  [1 - w, 1 + w] (linear interpolation, the last band held past the edge): a formant at band 20
  moves to about band 20 / a. This is vocal tract length perturbation done on the mel axis.
- ``band_mask`` F: one run of 0..F adjacent bands of every sequence set to 0, the standardised
  features' mean (SpecAugment's frequency mask).
- ``time_mask`` T: one run of 0..T steps inside every sequence's own length set to 0 (its time
  mask).

All draws come from the training generator, so a resumed run repeats them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class FeatureAugment:
    band_warp: float = 0.0  # relative warp of the band axis, e.g. 0.1: factors in [0.9, 1.1]; 0: off
    band_mask: int = 0      # widest band mask, bands; 0: off
    time_mask: int = 0      # longest time mask, steps; 0: off

    @property
    def active(self) -> bool:
        return self.band_warp > 0 or self.band_mask > 0 or self.time_mask > 0


def augment_features(x: torch.Tensor, lengths: torch.Tensor, augment: FeatureAugment,
                     generator: torch.Generator) -> torch.Tensor:
    """x: float32 [batch, time, bands] standardised features; lengths: int64 [batch] (steps that
    are not padding). Returns a new tensor of x's shape; x is not changed."""
    batch, steps, bands = x.shape
    if augment.band_warp > 0:
        factor = 1.0 + augment.band_warp * (2.0 * torch.rand(batch, 1, generator=generator) - 1.0)
        position = (torch.arange(bands, dtype=torch.float32) * factor).clamp(max=bands - 1)  # [batch, bands]
        low = position.floor().long()
        high = (low + 1).clamp(max=bands - 1)
        share = (position - low).unsqueeze(1)  # [batch, 1, bands]
        take = lambda index: x.gather(2, index.unsqueeze(1).expand(batch, steps, bands))  # noqa: E731
        x = take(low) * (1.0 - share) + take(high) * share
    else:
        x = x.clone()
    if augment.band_mask > 0:
        width = torch.randint(0, augment.band_mask + 1, (batch, 1), generator=generator)
        start = (torch.rand(batch, 1, generator=generator) * (bands - width + 1)).long()
        band = torch.arange(bands).unsqueeze(0)
        x = x.masked_fill(((band >= start) & (band < start + width)).unsqueeze(1), 0.0)
    if augment.time_mask > 0:
        width = torch.minimum(torch.randint(0, augment.time_mask + 1, (batch, 1), generator=generator), lengths.unsqueeze(1))
        start = (torch.rand(batch, 1, generator=generator) * (lengths.unsqueeze(1) - width + 1)).long()
        step = torch.arange(steps).unsqueeze(0)
        x = x.masked_fill(((step >= start) & (step < start + width)).unsqueeze(2), 0.0)
    return x
