"""config.json: MODEL.md's schema, checked with the rules and messages of ringmaster's
model/config.cc, and the tensors a config implies (model/tensor_names.cc's order).

A config is the plain dict that config.json holds. Every key is required, any other key is an
error, and every error starts with the source ("config.json: blocks[2]: unknown key 'windw'"),
so a message from this package reads like one from `ringmaster`. The caps (fields at most
2^31 - 1, 4096 layers, 2^34 parameters) are ringmaster's, so a config accepted here loads there.
"""
import math

from .strict_json import ModelError, dump_compact, json_kind, loads_strict, single_quoted

FORMAT = "ringmaster-model/1"
MAX_CONFIG_INT = 2147483647
MAX_LAYERS = 4096
MAX_PARAMS = 1 << 34
MAX_CONFIG_BYTES = 1 << 20

TOP_KEYS = ("format", "vocab", "d_model", "n_heads", "n_kv_heads", "head_dim", "mlp_hidden",
            "norm_eps", "rope_theta", "causal", "blocks")

# The keys each block kind has, "mixer" first, in MODEL.md's order.
BLOCK_KEYS = {
    "attention": ("mixer",),
    "window": ("mixer", "window"),
    "local": ("mixer", "group"),
    "fit": ("mixer", "group", "latents", "global_layers"),
    "atlas": ("mixer", "chunk", "omega_window", "memory_hidden", "feature_degree"),
}
MIXERS = tuple(BLOCK_KEYS)

VOCAB_SIZE = {"dna": 8, "bytes": 259}


def _prefix(source, block):
    return "%s: " % source + ("blocks[%d]: " % block if block is not None else "")


def _fail(source, block, what):
    raise ModelError(_prefix(source, block) + what)


def _check_keys(obj, allowed, source, block, kind_note):
    # Unknown keys first (a typo explains the missing key that follows), in nlohmann's order
    # (its objects are sorted by key), then missing ones in schema order.
    for key in sorted(obj):
        if key not in allowed:
            _fail(source, block, "unknown key %s (%s%s)" % (single_quoted(key), kind_note,
                                                            ", ".join(allowed)))
    for key in allowed:
        if key not in obj:
            _fail(source, block, "missing key '%s'" % key)


def _type_error(source, block, key, expected, value):
    shown = dump_compact(value)
    if len(shown) > 40:
        shown = shown[:40] + "..."
    _fail(source, block, "'%s': expected %s, got %s (%s)" % (key, expected, json_kind(value),
                                                               shown))


def _is_json_int(value):
    # nlohmann reads an integer literal outside [-2^63, 2^64) as a double: so does this check.
    return (isinstance(value, int) and not isinstance(value, bool)
            and -(1 << 63) <= value < (1 << 64))


def _get_int(obj, key, source, block=None):
    value = obj[key]
    if not _is_json_int(value):
        _type_error(source, block, key, "an integer", value)
    if value > (1 << 63) - 1:
        _fail(source, block, "'%s' is %d, above the cap of %d" % (key, value, MAX_CONFIG_INT))
    return value


def _get_number(obj, key, source):
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _type_error(source, None, key, "a number", value)
    return float(value)


def _get_string(obj, key, source, block=None):
    value = obj[key]
    if not isinstance(value, str):
        _type_error(source, block, key, "a string", value)
    return value


def _check_range(source, block, key, value, lowest):
    if value < lowest or value > MAX_CONFIG_INT:
        _fail(source, block, "'%s' is %d; it must be in [%d, %d]" % (key, value, lowest,
                                                                    MAX_CONFIG_INT))


def _check_positive(source, key, value):
    if not (math.isfinite(value) and value > 0.0):
        _fail(source, None, "'%s' is %s; it must be a finite number > 0" % (key, repr(value)))


def _parse_block(value, source, i):
    if not isinstance(value, dict):
        _fail(source, i, "expected an object, got %s" % json_kind(value))
    if "mixer" not in value:
        _fail(source, i, "missing key 'mixer'")
    name = _get_string(value, "mixer", source, i)
    if name not in BLOCK_KEYS:
        _fail(source, i, "'mixer' is %s; expected one of attention, window, local, fit, atlas"
              % single_quoted(name))
    keys = BLOCK_KEYS[name]
    _check_keys(value, keys, source, i, "a '%s' block has: " % name)
    block = {"mixer": name}
    for key in keys[1:]:
        block[key] = _get_int(value, key, source, i)
    return block


def _validate_block(source, i, b):
    kind = b["mixer"]
    for key in BLOCK_KEYS[kind][1:]:
        lowest = 0 if key == "global_layers" else 1
        if key == "feature_degree":
            if b[key] not in (1, 2):
                _fail(source, i, "'feature_degree' is %d; it must be 1 or 2" % b[key])
        else:
            _check_range(source, i, key, b[key], lowest)


def parse_config(obj, source="config.json"):
    """Checks a config dict (as json.load gives it) against every rule of MODEL.md and
    ringmaster's caps; returns a normalised copy (floats for norm_eps and rope_theta). Raises
    ModelError with ringmaster's message for the first rule broken."""
    if not isinstance(obj, dict):
        _fail(source, None, "expected a JSON object, got %s" % json_kind(obj))
    # Keys and types first, values after: the first error is the one nearest the typed text.
    _check_keys(obj, TOP_KEYS, source, None, "config.json keys are: ")
    c = {"format": _get_string(obj, "format", source)}
    vocab = _get_string(obj, "vocab", source)
    if vocab not in VOCAB_SIZE:
        _fail(source, None, "'vocab' is %s; expected 'dna' or 'bytes'" % single_quoted(vocab))
    c["vocab"] = vocab
    for key in ("d_model", "n_heads", "n_kv_heads", "head_dim", "mlp_hidden"):
        c[key] = _get_int(obj, key, source)
    c["norm_eps"] = _get_number(obj, "norm_eps", source)
    c["rope_theta"] = _get_number(obj, "rope_theta", source)
    if not isinstance(obj["causal"], bool):
        _type_error(source, None, "causal", "true or false", obj["causal"])
    c["causal"] = obj["causal"]
    blocks = obj["blocks"]
    if not isinstance(blocks, list):
        _type_error(source, None, "blocks", "an array", blocks)
    c["blocks"] = [_parse_block(b, source, i) for i, b in enumerate(blocks)]
    _validate_values(c, source)
    return c


def _validate_values(c, source):
    if c["format"] != FORMAT:
        _fail(source, None, "'format' is %s; this build reads '%s'" % (single_quoted(c["format"]),
                                                                       FORMAT))
    for key in ("d_model", "n_heads", "n_kv_heads", "head_dim", "mlp_hidden"):
        _check_range(source, None, key, c[key], 1)
    if c["n_heads"] % c["n_kv_heads"] != 0:
        _fail(source, None, "'n_heads' (%d) is not a multiple of 'n_kv_heads' (%d)"
              % (c["n_heads"], c["n_kv_heads"]))
    if c["head_dim"] % 2 != 0:
        _fail(source, None, "'head_dim' is %d; it must be even (rope rotates its two halves)"
              % c["head_dim"])
    _check_positive(source, "norm_eps", c["norm_eps"])
    _check_positive(source, "rope_theta", c["rope_theta"])
    layers = 0
    group_block = latents_block = None
    for i, b in enumerate(c["blocks"]):
        _validate_block(source, i, b)
        if b["mixer"] in ("local", "fit"):
            if group_block is None:
                group_block = i
            elif b["group"] != c["blocks"][group_block]["group"]:
                _fail(source, i, "'group' is %d but blocks[%d] has %d; every local and fit block "
                      "uses the same group" % (b["group"], group_block,
                                               c["blocks"][group_block]["group"]))
        if b["mixer"] == "fit":
            if latents_block is None:
                latents_block = i
            elif b["latents"] != c["blocks"][latents_block]["latents"]:
                _fail(source, i, "'latents' is %d but blocks[%d] has %d; every fit block uses "
                      "the same latents" % (b["latents"], latents_block,
                                            c["blocks"][latents_block]["latents"]))
        layers += 1 + b.get("global_layers", 0)
        if layers > MAX_LAYERS:
            _fail(source, i, "blocks plus FIT global layers exceed the cap of %d layers"
                  % MAX_LAYERS)
    params = param_count(c)
    if params > MAX_PARAMS:
        count = "more than 2^63" if params >= (1 << 63) - 1 else str(params)
        _fail(source, None, "the model has %s parameters, above the cap of %d (2^34, 64 GiB as "
              "f32)" % (count, MAX_PARAMS))


def parse_config_text(text, source="config.json"):
    """Parses config.json text strictly (duplicate keys are errors) and checks it."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ModelError("%s: %d bytes, above the 1 MiB limit for a config file"
                         % (source, len(text)))
    return parse_config(loads_strict(text, source), source)


def config_json(c):
    """config.json text for a checked config: MODEL.md's key order, one block per line (the
    layout `ringmaster init` writes)."""
    lines = ["{"]
    for key in TOP_KEYS[:-1]:
        lines.append('  "%s": %s,' % (key, dump_compact(c[key]) if not isinstance(c[key], float)
                                      else repr(c[key])))
    blocks = ["{" + ", ".join('"%s": %s' % (k, dump_compact(b[k])) for k in BLOCK_KEYS[b["mixer"]])
              + "}" for b in c["blocks"]]
    if blocks:
        lines.append('  "blocks": [\n    ' + ",\n    ".join(blocks) + "\n  ]")
    else:
        lines.append('  "blocks": []')
    return "\n".join(lines) + "\n}\n"


def d_phi(head_dim, feature_degree):
    return head_dim + head_dim * head_dim if feature_degree == 2 else head_dim


def tensor_specs(c):
    """[(name, shape)] of every tensor the model has, in model order: embed, each block (norm1,
    norm2, mlp, its mixer's tensors), norm, head, and fit.latents with a fit block."""
    d, hidden = c["d_model"], c["mlp_hidden"]
    q_dim, kv_dim = c["n_heads"] * c["head_dim"], c["n_kv_heads"] * c["head_dim"]
    V = VOCAB_SIZE[c["vocab"]]

    def attention(prefix):
        return [(prefix + ".wq", [q_dim, d]), (prefix + ".wk", [kv_dim, d]),
                (prefix + ".wv", [kv_dim, d]), (prefix + ".wo", [d, q_dim])]

    def mlp(prefix):
        return [(prefix + ".w_gate", [hidden, d]), (prefix + ".w_up", [hidden, d]),
                (prefix + ".w_down", [d, hidden])]

    out = [("embed", [V, d])]
    latents = None
    for i, b in enumerate(c["blocks"]):
        p = "blocks.%d" % i
        out += [(p + ".norm1", [d]), (p + ".norm2", [d])] + mlp(p + ".mlp")
        kind = b["mixer"]
        if kind in ("attention", "window", "local"):
            out += attention(p + ".attn")
        elif kind == "fit":
            latents = b["latents"]
            out += [(p + ".read.norm_q", [d]), (p + ".read.norm_kv", [d])] + attention(p + ".read")
            for j in range(b["global_layers"]):
                g = "%s.global.%d" % (p, j)
                out += [(g + ".norm1", [d]), (g + ".norm2", [d])] + attention(g + ".attn")
                out += mlp(g + ".mlp")
            out += [(p + ".write.norm_q", [d]), (p + ".write.norm_kv", [d])]
            out += attention(p + ".write")
        else:
            a, hd, H, m = p + ".atlas", c["head_dim"], c["n_heads"], b["memory_hidden"]
            out += [(a + ".wq", [q_dim, d]), (a + ".wk", [q_dim, d]), (a + ".wv", [q_dim, d]),
                    (a + ".wo", [d, q_dim]), (a + ".w_gates", [4 * H, d]),
                    (a + ".b_gates", [4 * H]),
                    (a + ".w1_init", [H, m, d_phi(hd, b["feature_degree"])]),
                    (a + ".w2_init", [H, hd, m])]
    out += [("norm", [d]), ("head", [V, d])]
    if latents is not None:
        out.append(("fit.latents", [latents, d]))
    return out


def param_count(c):
    return sum(math.prod(shape) for _, shape in tensor_specs(c))
