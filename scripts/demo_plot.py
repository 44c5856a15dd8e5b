"""scores.png for scripts/eval_demo: the trained model's per-base cost along one record, smoothed,
beside the order-4 Markov baseline, with the exact repeats marked; and a close look at the first
later copy, where a model that uses the long context drops far below the baseline."""
import numpy as np


def smooth(values, width):
    """Moving average over `width` positions (NaNs ignored), same length as `values`."""
    valid = ~np.isnan(values)
    kernel = np.ones(width)
    total = np.convolve(np.where(valid, values, 0.0), kernel, "same")
    count = np.convolve(valid.astype(np.float64), kernel, "same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count


def draw(path, name, model_bits, markov_bits, repeats, title):
    """Writes the picture to `path`. `repeats`: [(first_start, later_start, length)]."""
    import matplotlib
    matplotlib.use("Agg")  # no display: write the file only
    import matplotlib.pyplot as plt

    n = len(model_bits)
    fig, (whole, close) = plt.subplots(2, 1, figsize=(12, 7), height_ratios=[3, 2])
    width = max(1, n // 500)
    step = max(1, width // 4)
    x = np.arange(0, n, step)
    whole.plot(x, smooth(markov_bits, width)[::step], color="0.6", lw=0.8,
               label="order-4 Markov (training genomes)")
    whole.plot(x, smooth(model_bits, width)[::step], color="C0", lw=0.8, label="trained model")
    for i, (a, b, length) in enumerate(repeats):
        whole.axvspan(a, a + length, color="C2", alpha=0.35, lw=0,
                      label="first copy" if i == 0 else None)
        whole.axvspan(b, b + length, color="C3", alpha=0.35, lw=0,
                      label="later copy" if i == 0 else None)
    whole.set_xlim(0, n)
    whole.set_xlabel("position in %s" % name)
    whole.set_ylabel("bits per base (mean of %d)" % width)
    whole.set_title(title)
    whole.legend(loc="upper right", fontsize=8)

    if repeats:
        _, b, length = repeats[0]
        lo, hi = max(0, b - 2 * length), min(n, b + 3 * length)
    else:
        lo, hi = 0, min(n, 5000)
    x = np.arange(lo, hi)
    close.plot(x, smooth(markov_bits, 25)[lo:hi], color="0.6", lw=0.8, label="order-4 Markov")
    close.plot(x, smooth(model_bits, 25)[lo:hi], color="C0", lw=0.8, label="trained model")
    if repeats:
        close.axvspan(b, b + length, color="C3", alpha=0.2, lw=0, label="later copy")
    close.set_xlim(lo, hi)
    close.set_xlabel("position in %s" % name)
    close.set_ylabel("bits per base (mean of 25)")
    close.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
