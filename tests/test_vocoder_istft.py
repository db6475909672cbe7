"""The iSTFT vocoder: its inverse STFT inverts torch.stft, it trains without discriminators through
`vocoder train`, and the run loads as --vocoder."""
import numpy as np
import torch

from narspeech.vocoder.istft import InverseStft, IstftGenerator, is_istft
from narspeech.vocoder.pretrained import hifigan_features
from conftest import cli_ok


def test_inverse_stft_inverts_torch_stft():
    x = torch.randn(2, 40 * 256, generator=torch.Generator().manual_seed(0))
    spec = torch.stft(x, 1024, 256, window=torch.hann_window(1024), return_complex=True, center=True)
    y = InverseStft(1024, 256)(spec.real, spec.imag)
    assert y.shape == (2, 1, spec.shape[-1] * 256)
    assert (y[:, 0, : x.shape[1]] - x).abs().max() < 1e-4


def test_generator_shape_and_look_ahead():
    gen = IstftGenerator("istft-small").eval()
    mel = torch.randn(1, 80, 60) - 5
    with torch.no_grad():
        a = gen(mel)[0, 0]
        changed = mel.clone()
        c = gen.context_frames()
        changed[:, :, 40 + c :] += 3.0  # frames past the look-ahead of frame 40
        b = gen(changed)[0, 0]
    assert a.shape == (60 * 256,)
    assert torch.equal(a[: 40 * 256], b[: 40 * 256])
    assert is_istft("istft") and is_istft({"kind": "istft", "dim": 8}) and not is_istft("v1")


def test_trains_without_discriminators_and_loads_as_vocoder(tmp_path, shared_data):
    from narspeech.vocoder.registry import make_vocoder

    arctic = shared_data / "arctic_fb"
    exp = tmp_path / "voc"
    cli_ok("vocoder", "train", "--train-data", arctic / "dev", "--valid-data", arctic / "dev", "--limit", 2, "--exp", exp,
           "--device", "cpu", "--set", "vocoder.generator=istft-small", "--set", "vocoder.adversarial=false",
           "--set", "vocoder.lambda_stft=1.0", "--set", "vocoder.segment_frames=32", "--set", "train.max_steps=2",
           "--set", "train.max_batch_size=2", "--set", "train.valid_interval=2", "--set", "train.num_workers=0",
           "--set", "train.tensorboard=false")
    voc = make_vocoder(str(exp), hifigan_features(), "cpu")
    assert voc.generator.cfg.dim == 32 and voc.offset == 0
    wav = voc(torch.randn(1, 30, 80) - 5, torch.tensor([30]))[0]
    assert wav.shape == (29 * 256,) and np.isfinite(wav).all()
