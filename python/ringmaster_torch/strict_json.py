"""JSON parsing for model files that refuses what json.loads accepts silently.

MODEL.md makes a duplicate key an error in config.json and in a safetensors header, and
json.loads keeps the last of two equal keys; NaN and Infinity are not JSON either. The helpers
that quote names and describe values match ringmaster's model/internal/strict_json.cc, so that
an error reads the same from both implementations.
"""
import json


class ModelError(ValueError):
    """A model directory, config or weights file that MODEL.md does not allow. The message
    starts with the file (and, where there is one, the block or tensor)."""


class _Pairs(dict):
    """A JSON object that remembers its keys in text order, repeats included."""


def _keep_pairs(pairs):
    d = _Pairs(pairs)
    d.pairs = pairs
    return d


def _first_duplicate(value, path=""):
    """(path of the object, key) of the first repeated key in text order, or None. Paths are
    ringmaster's: "blocks[2]", "embed"."""
    if isinstance(value, _Pairs):
        seen = set()
        for key, item in value.pairs:
            if key in seen:
                return path, key
            seen.add(key)
            found = _first_duplicate(item, (path + "." + key) if path else key)
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _first_duplicate(item, "%s[%d]" % (path, i))
            if found:
                return found
    return None


def _no_constant(name):
    # json.loads maps NaN, Infinity and -Infinity to floats; JSON has no such literals.
    raise ValueError("invalid JSON: '%s' is not a JSON value" % name)


def loads_strict(text, where):
    """Parses `text` (str or bytes) or raises ModelError("where: ..."): syntax (line and column
    are Python's), a duplicate key ("where: blocks[1]: duplicate key 'window'", as ringmaster
    says it), a non-finite literal."""
    try:
        value = json.loads(text, object_pairs_hook=_keep_pairs, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise ModelError("%s:%d:%d: invalid JSON: %s" % (where, e.lineno, e.colno, e.msg)) from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelError("%s: %s" % (where, e)) from None
    found = _first_duplicate(value)
    if found:
        path, key = found
        raise ModelError("%s: %sduplicate key %s" % (where, path + ": " if path else "",
                                                     single_quoted(key)))
    return value


def single_quoted(s):
    """`s` in single quotes, control and non-ASCII bytes escaped and cut to 80 bytes plus "...",
    as ringmaster prints names (so a hostile name keeps a message on one line)."""
    raw = s.encode("utf-8", "surrogateescape") if isinstance(s, str) else bytes(s)
    out = []
    for c in raw[:80]:
        if c == 0x0A:
            out.append("\\n")
        elif c in (0x27, 0x5C):
            out.append("\\" + chr(c))
        elif c < 0x20 or c >= 0x7F:
            out.append("\\x%02x" % c)
        else:
            out.append(chr(c))
    return "'" + "".join(out) + ("..." if len(raw) > 80 else "") + "'"


def json_kind(value):
    """What `value` is, with its article: "an integer", "a string" (bool before int: in Python
    a bool is an int)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a value"


def dump_compact(value):
    """The value as nlohmann's dump() prints it: no spaces, non-ASCII kept."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
