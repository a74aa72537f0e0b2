"""trainer/augment.py: the band warp moves a formant where the factor says, the masks stay inside
each clip, the draws follow the generator, and non-audio data is refused."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from edgernn.cli.main import cli
from edgernn.trainer.augment import FeatureAugment, augment_features


def peak_bands(x: torch.Tensor) -> torch.Tensor:
    return x[:, 0].argmax(dim=1)


def test_band_warp_moves_a_formant_by_the_drawn_factor():
    bands = torch.arange(40, dtype=torch.float32)
    formant = torch.exp(-0.5 * (bands - 20) ** 2)  # a peak at band 20
    x = formant.expand(64, 1, 40).contiguous()
    warped = augment_features(x, torch.ones(64, dtype=torch.long), FeatureAugment(band_warp=0.2), torch.Generator().manual_seed(0))
    peaks = peak_bands(warped)
    # band b reads the input at b * a, a in [0.8, 1.2]: the peak moves to 20 / a, within [16.7, 25]
    assert peaks.min() >= 16 and peaks.max() <= 25 and len(set(peaks.tolist())) >= 5
    same = augment_features(x, torch.ones(64, dtype=torch.long), FeatureAugment(band_warp=0.2), torch.Generator().manual_seed(0))
    assert torch.equal(same, warped)


def test_masks_stay_inside_each_clip_and_leave_the_input_alone():
    x = torch.ones(32, 30, 40)
    lengths = torch.randint(1, 31, (32,))
    out = augment_features(x, lengths, FeatureAugment(band_mask=8, time_mask=10), torch.Generator().manual_seed(1))
    assert torch.equal(x, torch.ones(32, 30, 40))
    band_masked = (out == 0).all(dim=1).sum(dim=1)  # bands zero at every step
    assert band_masked.max() <= 8 and band_masked.sum() > 0
    for row, length in zip(out, lengths):
        masked_steps = (row == 0).all(dim=1).nonzero().flatten()
        assert len(masked_steps) <= 10 and (masked_steps < length).all()
    assert torch.equal(augment_features(x, lengths, FeatureAugment(), torch.Generator()), x)


@pytest.mark.parametrize("option", [["--band-warp", "0.1"], ["--time-mask", "5"]])
def test_audio_augmentation_refuses_feature_data(tmp_path, sample_dir, option):
    result = CliRunner().invoke(cli, ["train", str(sample_dir), "--epochs", "1", "--out", str(tmp_path / "r"), *option])
    assert result.exit_code == 2
    assert "--band-warp, --band-mask and --time-mask act on log-mel bands and need audio recordings" in result.output
