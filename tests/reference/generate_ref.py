"""MODEL.md "generate", written from the page alone: the sampling rule and the decode loop of
model_ref.py --task generate.

The loop takes a `last_logits(fed)` function, the logits of the last fed position from a FULL
forward of everything fed so far: no cache, no state carried between steps, so the reference
computes the definition that ringmaster's caches only speed up. Every number is a Python float
(IEEE float64); the cumulative sum runs in id order, as the rule reads.
"""
import math

MASK64 = (1 << 64) - 1
# Two largest masked logits closer than this (absolute) make a step a tie: MODEL.md lets an
# implementation pick either there, so tokens after it may legitimately differ.
TIE = 1e-4


def splitmix64(z):
    z = (z + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def uniform(seed, r, s):
    x = splitmix64(splitmix64(splitmix64(seed) ^ r) ^ s)
    return (x >> 11) * 2.0 ** -53


def log_softmax_at(z, j):
    """log-softmax of the raw logits z (floats) at id j, in float64."""
    m = max(z)
    return z[j] - m - math.log(sum(math.exp(v - m) for v in z))


def choose(raw, specials, temperature, top_k, seed, r, s):
    """(next id, log-prob of it under the raw logits, whether the step is a tie). raw: the V
    logits as floats; specials: the ids masked to -inf (<bos>, <pad>, and <eos> with
    --ignore-eos)."""
    z = [float("-inf") if j in specials else v for j, v in enumerate(raw)]
    top2 = sorted(z, reverse=True)[:2]
    tie = top2[0] - top2[1] <= TIE
    if temperature == 0:
        nxt = z.index(max(z))  # the first maximum: the lowest id on ties
    else:
        z = [v / temperature for v in z]
        if 0 < top_k < len(z):
            order = sorted(range(len(z)), key=lambda j: (-z[j], j))
            kept = set(order[:top_k])
            z = [v if j in kept else float("-inf") for j, v in enumerate(z)]
        m = max(z)
        e = [math.exp(v - m) for v in z]
        total = 0.0
        for v in e:
            total += v
        p = [v / total for v in e]
        u = uniform(seed, r, s)
        nxt, cumulative = None, 0.0
        for j, pj in enumerate(p):
            cumulative += pj
            if cumulative > u:
                nxt = j
                break
        if nxt is None:  # rounding left the total <= u: the last id the rule could pick
            nxt = max(j for j, pj in enumerate(p) if pj > 0)
    return nxt, log_softmax_at(raw, nxt), tie


def generate_record(name, prompt, r, last_logits, bos, eos, pad, max_new_tokens,
                    temperature=0.0, top_k=0, seed=0, ignore_eos=False):
    """Record r of the input: feeds <bos> prompt, then up to max_new_tokens steps. Returns the
    generate.json entry; `tokens` excludes a final <eos>, `log_probs` includes it."""
    specials = {bos, pad} | ({eos} if ignore_eos else set())
    fed = [bos] + list(prompt)
    tokens, log_probs, tie_step, stop = [], [], None, "length"
    for s in range(max_new_tokens):
        raw = [float(v) for v in last_logits(fed)]
        nxt, log_prob, tie = choose(raw, specials, temperature, top_k, seed, r, s)
        if tie and tie_step is None:
            tie_step = s
        log_probs.append(log_prob)
        if nxt == eos:
            stop = "eos"
            break
        tokens.append(nxt)
        fed.append(nxt)
    return {"name": name, "prompt_length": len(prompt), "tokens": tokens,
            "log_likelihood": sum(log_probs), "stop": stop, "tie_step": tie_step,
            "log_probs": log_probs}
