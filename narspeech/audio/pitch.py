"""Batched F0 estimation in torch: probabilistic YIN with an HMM/Viterbi voicing and pitch track.

The method follows pYIN (Mauch & Dixon, ICASSP 2014), built on YIN (de Cheveigné &
Kawahara, JASA 2002), vectorised over a padded batch so it runs on GPU or CPU:

1. frames of ``L = f0_frame_length`` samples centred every `hop` samples (zero padding,
   ``T = 1 + N // hop``, the same frames as the mel features);
2. YIN difference ``d(τ) = e(0) + e(τ) − 2 r(τ)`` with the lag product ``r`` from one FFT
   per frame and the energies ``e`` from a cumulative sum, integration window
   ``W = L − τ_max``; cumulative-mean normalisation ``d'(τ) = d(τ) τ / Σ_{k≤τ} d(k)``;
3. every local minimum (trough) of ``d'`` in ``[sr/f0_max, sr/f0_min]`` is a candidate,
   refined by parabolic interpolation. As in pYIN, the YIN threshold is a random variable
   (Beta(2, 18) by default): a trough's probability is the chance that it is the *first*
   trough under the threshold, ``S(min of earlier troughs) − S(own value)`` with ``S`` the
   threshold CDF; when no trough is under the threshold, a small probability goes to the
   global minimum. The sum over candidates is the frame's voicing probability;
4. candidates are binned on a log-frequency grid (``f0_resolution`` semitones); an HMM
   with those voiced pitch states plus one unvoiced state (pitch moves limited to
   ``f0_max_transition_rate`` octaves per second with a triangular prior, voicing switches
   with probability ``f0_switch_prob``; voiced emissions weighted by
   ``f0_voicing_trust`` = 0.5, the yinTrust of the pYIN reference implementation, which
   keeps weak noisy candidates in fricatives unvoiced) is decoded with a batched Viterbi
   that stops at each utterance's own last frame;
5. a voiced frame's F0 is the exact (interpolated) frequency of the candidate nearest the
   decoded pitch state; unvoiced frames are 0.

Difference from librosa.pyin: candidates are the first trough under each threshold
(the paper's rule) instead of librosa's Boltzmann spread over all troughs under it, and
the unvoiced half of the state space is collapsed into one state (librosa keeps one
unvoiced state per pitch bin with uniform emissions, which is the same up to where a
track resumes). The F0 is not quantised to the bin grid.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import betainc # the Beta CDF; scipy.stats would take seconds to import

from narspeech.errors import NarspeechError

_TINY = 1e-30


@lru_cache(maxsize=16)
def _beta_cdf_grid(a: float, b: float, n: int = 2049) -> np.ndarray:
    return betainc(a, b, np.linspace(0.0, 1.0, n)).astype(np.float32)


def _threshold_cdf(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """P(threshold ≤ x) for the Beta threshold prior, by linear interpolation on `grid`;
    1 for x ≥ 1 (and for +inf, meaning 'no earlier trough')."""
    g = grid.shape[0] - 1
    pos = (x.clamp(0.0, 1.0) * g).nan_to_num(0.0)
    lo = pos.floor().clamp(max=g - 1)
    frac = pos - lo
    lo = lo.long()
    return grid[lo] * (1 - frac) + grid[lo + 1] * frac


def _fast_fft_size(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (cheap for pocketfft and cuFFT, much less padding than 2^k)."""
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def cmnd(frames: torch.Tensor, tau_max: int, return_mean: bool = False):
    """Cumulative-mean-normalised difference d'(τ), τ = 0..tau_max, of frames (..., L).

    The integration window is the first ``W = L - tau_max`` samples (YIN eq. 1). Silent
    frames (energy under 1e-6 in the window) get d' = 1 everywhere (no pitch). With
    `return_mean`, also the cumulative mean, so that ``d = d' * mean``.
    """
    length = frames.shape[-1]
    win = length - tau_max
    if win <= 0:
        raise ValueError("frame too short for tau_max")
    n = _fast_fft_size(length)  # lags 0..tau_max of a W-sample head never wrap around
    spec = torch.fft.rfft(frames, n=n)
    head = torch.fft.rfft(frames[..., :win], n=n)
    r = torch.fft.irfft(head.conj_physical().mul_(spec), n=n)[..., : tau_max + 1]
    cs = F.pad(torch.cumsum(frames.square(), dim=-1), (1, 0))
    e = cs[..., win : win + tau_max + 1] - cs[..., : tau_max + 1]
    d = (r.mul_(-2.0).add_(e).add_(e[..., :1])).clamp_(min=0.0)
    tau = torch.arange(tau_max + 1, device=frames.device, dtype=frames.dtype)
    csum = torch.cumsum(d, dim=-1)
    silent = (e[..., :1] < 1e-6) | (csum[..., -1:] <= _TINY)
    tau[0] = 1.0
    cmean = csum.clamp_(min=_TINY).div_(tau)  # mean of d(1..τ) (d(0) = 0 adds nothing)
    dn = d.div_(cmean)  # d'(τ) = d(τ) / mean(d(1..τ)); d'(0) := 1
    dn[..., 0] = 1.0
    dn.masked_fill_(silent, 1.0)
    return (dn, cmean) if return_mean else dn


def _triangle_log_kernel(half: int, device) -> torch.Tensor:
    k = torch.arange(-half, half + 1, device=device, dtype=torch.float32)
    w = (half + 1 - k.abs()) / (half + 1)
    return torch.log(w / w.sum())


def viterbi_voiced(log_obs_v: torch.Tensor, log_obs_u: torch.Tensor, n_frames: torch.Tensor, half: int, switch_prob: float) -> torch.Tensor:
    """Best state path of the pitch HMM for a padded batch.

    log_obs_v (B, T, P) voiced-state log emissions, log_obs_u (B, T) unvoiced; `n_frames`
    (B,) real frames per row. States: P voiced pitch bins (moves of at most `half` bins
    per frame, triangular prior) and one unvoiced state; switching voicing costs
    `switch_prob`. Returns (B, T) long: pitch state 0..P-1, or P for unvoiced (also on
    padding frames). Each row's path ends at its own last frame, so padding never
    influences a real frame.
    """
    if log_obs_v.device.type == "cpu" and torch.get_num_threads() > 1:
        # one small step per frame: extra threads only add synchronisation (15x slower on a busy machine)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return viterbi_voiced(log_obs_v, log_obs_u, n_frames, half, switch_prob)
        finally:
            torch.set_num_threads(threads)
    b, t_max, p = log_obs_v.shape
    dev = log_obs_v.device
    width = 2 * half + 1
    log_k = _triangle_log_kernel(half, dev)
    kc = float(log_k[half])
    lp, l1p = math.log(switch_prob), math.log1p(-switch_prob)
    unv = p
    # ptr[:, t, j] = previous state of state j at frame t (j = P: unvoiced)
    ptr = torch.empty((b, t_max, p + 1), dtype=torch.int16 if p < 32000 else torch.int32, device=dev)
    shift_idx = torch.arange(p, device=dev) - half  # window offset k of state j comes from j + k - half
    buf = torch.full((b, p + 2 * half), float("-inf"), device=dev)  # -inf margins: no moves off the grid
    log_k_l1p = log_k + l1p
    dv = log_obs_v[:, 0] + (lp + kc)
    du = log_obs_u[:, 0].clone()
    last = (n_frames.long() - 1).clamp(min=0)
    end_v, end_u = dv.clone(), du.clone()
    ending: dict[int, list[int]] = {}  # frame -> rows whose last real frame it is
    for row, t_end in enumerate(last.tolist()):
        ending.setdefault(t_end, []).append(row)
    rows_ending = {t: torch.tensor(r, device=dev) for t, r in ending.items()}
    for t in range(1, t_max):
        buf[:, half : half + p] = dv
        best, arg = (buf.unfold(1, width, 1) + log_k_l1p).max(dim=-1)  # (B, P)
        from_u = du + (lp + kc)
        use_u = from_u[:, None] > best
        ptr_v = arg + shift_idx
        ptr[:, t, :p] = ptr_v.masked_fill_(use_u, unv)
        vmax, varg = dv.max(dim=-1)
        stay, leave = du + (l1p + kc), vmax + (lp + kc)
        ptr[:, t, p] = varg.masked_fill_(stay >= leave, unv)
        dv = torch.maximum(best, from_u[:, None]).add_(log_obs_v[:, t])
        du = torch.maximum(stay, leave).add_(log_obs_u[:, t])
        if t % 32 == 0:  # renormalise now and then: keep the log scores small
            top = torch.maximum(vmax, du)
            dv.sub_(top[:, None])
            du = du - top
        rows = rows_ending.get(t)
        if rows is not None:
            end_v[rows], end_u[rows] = dv[rows], du[rows]
    # backtrace, each row from its own last frame
    final = torch.cat([end_v, end_u[:, None]], dim=1).argmax(dim=1)
    path = torch.full((b, t_max), unv, dtype=torch.long, device=dev)
    state = final.clone()
    for t in range(t_max - 1, -1, -1):
        state = torch.where(last == t, final, state)
        real = t <= last
        path[:, t] = torch.where(real, state, unv)
        if t > 0:
            prev = ptr[:, t].gather(1, state[:, None])[:, 0].long()
            state = torch.where(real, prev, state)
    return path


def auto_decimation(sr: int, hop: int, fmax: float) -> int:
    """Largest integer factor k dividing `sr` and `hop` with sr/k >= max(8000, 8 fmax):
    F0 is analysed at sr/k (harmonics to 4 kHz are plenty; parabolic interpolation keeps
    sub-sample period accuracy) — half or less of the work at 16 kHz and up."""
    best = 1
    for k in range(2, sr // 8000 + 1):
        if sr % k == 0 and hop % k == 0 and sr // k >= max(8000, 8 * fmax):
            best = k
    return best


def estimate_f0(
    wav: torch.Tensor,
    sr: int,
    hop: int,
    fmin: float,
    fmax: float,
    *,
    lengths: torch.Tensor | None = None,
    frame_length: int | None = None,
    resolution: float = 0.25,
    max_transition_rate: float = 35.92,
    switch_prob: float = 0.01,
    beta: tuple[float, float] = (2.0, 18.0),
    no_trough_prob: float = 0.01,
    voicing_trust: float = 0.5,
    decimate: int | None = None,
    cfg=None,
    return_voiced_prob: bool = False,
):
    """F0 in Hz of a padded batch (B, N) (or (N,)) → (B, T), T = 1 + N // hop, 0 = unvoiced.

    `lengths` (B,) are the real sample counts (the rest of a row is padding and never
    affects that row's frames). A :class:`~narspeech.audio.features.FeatureConfig` given as
    `cfg` supplies frame_length and the HMM knobs. With `return_voiced_prob`, also returns
    the per-frame voicing probability (B, T) before decoding.
    """
    if cfg is not None:
        frame_length = cfg.f0_frame
        resolution, max_transition_rate = cfg.f0_resolution, cfg.f0_max_transition_rate
        switch_prob, beta, no_trough_prob = cfg.f0_switch_prob, tuple(cfg.f0_beta), cfg.f0_no_trough_prob
        decimate, voicing_trust = cfg.f0_decimation, cfg.f0_voicing_trust
    if not 0 < fmin < fmax < sr / 2:
        raise NarspeechError(f"F0 range {fmin}-{fmax} Hz must lie inside 0-{sr / 2} Hz")
    squeeze = wav.dim() == 1
    wav = (wav[None] if squeeze else wav).float()
    bsz, n = wav.shape
    dev = wav.device
    lengths = torch.full((bsz,), n, device=dev, dtype=torch.long) if lengths is None else lengths.to(dev).long()
    tau_min = max(2, int(math.floor(sr / fmax)))
    tau_max = int(math.ceil(sr / fmin))
    frame_length = int(frame_length or 2 * tau_max)
    frame_length += frame_length % 2  # even, so frames are centred and T = 1 + N // hop
    if frame_length - tau_max < tau_max // 2:
        raise NarspeechError(f"f0 frame length {frame_length} too short for f0_min {fmin} Hz at {sr} Hz")

    # zero the padding (callers may pass anything there), centre frames with zero padding
    wav = wav * (torch.arange(n, device=dev)[None, :] < lengths[:, None])
    t_max = 1 + n // hop
    n_frames = 1 + lengths // hop
    if decimate is None:
        decimate = auto_decimation(sr, hop, fmax)
    if decimate > 1:
        import torchaudio.functional as AF

        wav = AF.resample(wav, decimate, 1, lowpass_filter_width=6, rolloff=0.9, resampling_method="sinc_interp_kaiser", beta=8.555)
        sr, hop = sr // decimate, hop // decimate
        lengths = (lengths + decimate - 1) // decimate
        wav = wav * (torch.arange(wav.shape[1], device=dev)[None, :] < lengths[:, None])
        tau_min = max(2, int(math.floor(sr / fmax)))
        tau_max = int(math.ceil(sr / fmin))
        frame_length = int(math.ceil(frame_length / decimate))
        frame_length += frame_length % 2
    n = wav.shape[1]
    half = frame_length // 2
    frames = F.pad(wav, (half, half)).unfold(1, frame_length, hop)[:, :t_max]  # (B, T, L)

    dn, cmean = cmnd(frames, tau_max, return_mean=True)  # (B, T, tau_max+1)
    y = dn[..., tau_min : tau_max + 1]  # candidate lags
    # troughs: y[k] < y[k-1] and y[k] <= y[k+1]; the first lag if below its neighbour
    trough = torch.zeros_like(y, dtype=torch.bool)
    trough[..., 1:-1] = (y[..., 1:-1] < y[..., :-2]) & (y[..., 1:-1] <= y[..., 2:])
    trough[..., 0] = y[..., 0] < y[..., 1]
    val = y.masked_fill(~trough, float("inf"))
    run_min = torch.cummin(val, dim=-1).values
    gpos = val.argmin(dim=-1)  # the lowest trough

    # the candidates, compacted: (frame index, lag index) of each trough
    bi, ti, ki = trough.nonzero(as_tuple=True)
    grid = torch.from_numpy(_beta_cdf_grid(float(beta[0]), float(beta[1]))).to(dev)
    v = y[bi, ti, ki]
    prev = torch.where(ki > 0, run_min[bi, ti, (ki - 1).clamp(min=0)], torch.full_like(v, float("inf")))
    # P(first trough under the threshold) = P(v < threshold <= min of the earlier troughs)
    mass = (_threshold_cdf(prev, grid) - _threshold_cdf(v, grid)).clamp_(min=0.0)
    # thresholds under every trough: a small probability for the lowest trough
    is_low = ki == gpos[bi, ti]
    mass = mass + is_low * (no_trough_prob * _threshold_cdf(v, grid))
    # parabolic interpolation of the period around each trough (lag tau_min-1 exists)
    lag = ki + tau_min
    # on the raw difference d = d' * mean (closer to a parabola around a period than d')
    lm, lp_ = lag - 1, (lag + 1).clamp(max=tau_max)
    ym1, y0, yp1 = dn[bi, ti, lm] * cmean[bi, ti, lm], v * cmean[bi, ti, lag], dn[bi, ti, lp_] * cmean[bi, ti, lp_]
    den = ym1 - 2 * y0 + yp1
    ok = (den.abs() > 1e-6 * (ym1.abs() + y0.abs() + yp1.abs()) + 1e-30) & (ki + tau_min < tau_max)
    shift = torch.where(ok, 0.5 * (ym1 - yp1) / torch.where(ok, den, torch.ones_like(den)), torch.zeros_like(den)).clamp_(-1.0, 1.0)
    freq = (sr / (lag.float() + shift)).clamp_(fmin, fmax)

    bins_per_semitone = 1.0 / resolution
    n_bins = int(12 * bins_per_semitone * math.log2(fmax / fmin)) + 1
    cand_bin = torch.round(12 * bins_per_semitone * torch.log2(freq / fmin)).clamp_(0, n_bins - 1).long()
    obs_v = torch.zeros(bsz * t_max * n_bins, device=dev)
    frame_id = bi * t_max + ti
    obs_v.index_add_(0, frame_id * n_bins + cand_bin, mass)
    obs_v = obs_v.view(bsz, t_max, n_bins)
    voiced_prob = obs_v.sum(-1).clamp_(max=1.0)
    # trust in YIN's voicing (as the pYIN Vamp plugin's yinTrust): scale the voiced
    # emissions, give the rest to unvoiced; < 1 keeps weak, noisy candidates unvoiced
    obs_v.mul_(voicing_trust)
    obs_u = (1.0 - voicing_trust * voiced_prob).clamp(min=0.0) / n_bins

    max_semitones = round(max_transition_rate * 12 * hop / sr)
    half_width = max(1, int(max_semitones * math.ceil(bins_per_semitone)) // 2)
    path = viterbi_voiced(obs_v.add_(_TINY).log_(), torch.log(obs_u + _TINY), n_frames, half_width, switch_prob)

    # a voiced frame's F0: the exact frequency of the candidate nearest its decoded bin
    path_c = path.reshape(-1)[frame_id]
    score = (cand_bin - path_c).abs().float() - 1e-3 * mass
    score = torch.where(mass > 0, score, torch.full_like(score, float("inf")))
    best = torch.full((bsz * t_max,), float("inf"), device=dev).scatter_reduce_(0, frame_id, score, "amin")
    chosen = score == best[frame_id]
    near_f = torch.zeros(bsz * t_max, device=dev).index_put_((frame_id[chosen],), freq[chosen])
    near_f = near_f.view(bsz, t_max)
    near_ok = (best <= 1.5).view(bsz, t_max)
    voiced = path < n_bins
    bin_f = fmin * torch.pow(2.0, path.clamp(max=n_bins - 1).float() / (12 * bins_per_semitone))
    f0 = torch.where(near_ok, near_f, bin_f)
    f0 = torch.where(voiced, f0, torch.zeros_like(f0))
    if squeeze:
        f0, voiced_prob = f0[0], voiced_prob[0]
    return (f0, voiced_prob) if return_voiced_prob else f0
