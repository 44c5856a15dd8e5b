#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/data_plane_fuzz.cc into tests/data/fuzz/data_plane/seed_*.bin.

Each file is the fuzzer's 8-byte context (src, dst, kind, seq, expected payload bytes as u16 LE,
layer, step) followed by a data-plane message as comm/authenticated_comm.h lays it out, sealed
here with Python's hmac under the fuzz target's key (32 bytes of 0x42, job "fuzz-job", epoch 1),
so the genuine seeds take the accepting path and the others each fail one check. Files named
crash_* in that folder are regression inputs found by the fuzzer; this script leaves them alone.

Run it from anywhere: python3 tests/data/fuzz/make_data_plane_seeds.py
"""
import hashlib
import hmac
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data_plane")
KEY = b"\x42" * 32
JOB = b"fuzz-job"
EPOCH = 1


def mac(src, dst, layer, step, kind, seq, payload):
    packed = (layer << 32) | (step << 8) | kind
    prefix = b"ringmaster-data-v1" + struct.pack("<I", len(JOB)) + JOB + struct.pack("<I", EPOCH)
    fields = struct.pack("<IIQQQ", src, dst, packed, len(payload), seq)
    return hmac.new(KEY, prefix + fields + payload, hashlib.sha256).digest()


def seed(src, dst, layer, step, kind, seq, payload, expected=None, tamper=None):
    expected = len(payload) if expected is None else expected
    context = bytes([src, dst, kind, seq]) + struct.pack("<H", expected) + bytes([layer, step])
    header = b"RMD1" + b"\0" * 4 + struct.pack("<Q", seq) + mac(src, dst, layer, step, kind, seq,
                                                                 payload)
    wire = bytearray(header + payload)
    if tamper:
        tamper(wire)
    return context + bytes(wire)


def flip(index):
    def apply(wire):
        wire[index] ^= 1
    return apply


def main():
    os.makedirs(OUT, exist_ok=True)
    block = bytes(range(256)) * 2
    seeds = {
        "genuine_block": seed(1, 0, 3, 2, 1, 0, block),
        "genuine_empty": seed(0, 1, 0, 0, 7, 5, b""),
        "genuine_small": seed(2, 3, 1, 9, 4, 1, b"k/v block"),
        "bad_mac_bit": seed(1, 0, 3, 2, 1, 0, block, tamper=flip(20)),
        "bad_payload_bit": seed(1, 0, 3, 2, 1, 0, block, tamper=flip(100)),
        "bad_magic": seed(1, 0, 3, 2, 1, 0, block, tamper=flip(0)),
        "bad_reserved": seed(1, 0, 3, 2, 1, 0, block, tamper=flip(5)),
        "bad_sequence": seed(1, 0, 3, 2, 1, 0, block, tamper=flip(8)),
        "bad_size": seed(1, 0, 3, 2, 1, 0, block, expected=len(block) - 1),
        "short_header": bytes([1, 0, 1, 0, 0, 0, 3, 2]) + b"RMD1\0\0",
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, "seed_" + name + ".bin"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
