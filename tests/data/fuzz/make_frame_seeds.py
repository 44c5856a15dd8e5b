#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/frame_fuzz.cc into tests/data/fuzz/frame/seed_*.bin.

Each file is a stream of control-plane frames (proto/frame.h: 16-byte header, then a protobuf
payload), encoded here by hand from proto/ringmaster.proto so that no protobuf package is needed.
The seeds give the fuzzer a valid example of every message and handshake step to mutate from;
they are not expected to pass authentication. Files named crash_* in that folder are regression
inputs found by the fuzzer; this script leaves them alone.

Run it from anywhere: python3 tests/data/fuzz/make_frame_seeds.py
"""
import os
import struct
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "frame")

MAGIC = 0x50434D52
VERSION = 1
HELLO, CHALLENGE, AUTH_RESPONSE, WELCOME, REGISTER, ASSIGNMENT = 1, 2, 3, 4, 5, 6
HEARTBEAT, RESULT_CHUNK, ERROR, ABORT, DONE, PROGRESS = 7, 8, 9, 10, 11, 12


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int32/int64 go on the wire as 10-byte two's complement
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def vint(field: int, n: int) -> bytes:
    return varint(field << 3) + varint(n)


def blob(field: int, data) -> bytes:
    data = data.encode() if isinstance(data, str) else data
    return varint(field << 3 | 2) + varint(len(data)) + data


def f64(field: int, x: float) -> bytes:
    return varint(field << 3 | 1) + struct.pack("<d", x)


def packed(field: int, values) -> bytes:
    return blob(field, b"".join(varint(v) for v in values))


def frame(kind: int, payload: bytes, crc=None) -> bytes:
    crc = zlib.crc32(payload) if crc is None else crc
    return struct.pack("<IHHII", MAGIC, VERSION, kind, len(payload), crc) + payload


PROTOCOL_VERSION = 2  # ringmaster.proto PROTOCOL_VERSION_CURRENT
NONCE = bytes(range(32))
PROOF = bytes(range(32, 64))
hello = vint(1, PROTOCOL_VERSION) + blob(2, NONCE) + blob(3, "worker-0") + vint(4, 4242)
knobs = vint(1, 200) + vint(2, 1000)
comm = vint(1, 2) + blob(2, "shm,tcp") + vint(3, 0)
check_job = vint(1, 4096) + vint(2, 8) + vint(3, 2) + vint(4, 64) + vint(5, 1) + vint(7, 1)
job = (blob(1, "job-1") + vint(2, 2) + vint(3, 2) + vint(4, 1) + vint(5, 3000) + vint(6, 1) +
       vint(7, 1 << 20) + blob(16, check_job))
model_job = (blob(1, "/models/tiny") + vint(2, 1) + vint(3, 1) + packed(4, [5, 3, 9]) +
             vint(5, 1) + vint(6, 8) + vint(7, 2))
job_model = (blob(1, "job-2") + vint(2, 2) + vint(3, 1) + vint(4, 1) + vint(5, 3000) +
             vint(6, 1) + vint(7, 4096) + blob(17, model_job))


def assignment(spec: bytes) -> bytes:
    peers = [vint(1, r) + blob(2, "host-%d" % r) + vint(3, 100 + r) + blob(4, b"\x01\x02")
             for r in range(2)]
    return (vint(1, 1) + vint(2, 2) + b"".join(blob(3, p) for p in peers) + blob(4, spec) +
            blob(5, b"\x00\x01\x02\x03") + packed(6, [1, 2]))


error = vint(1, 3) + blob(2, "worker 1 lost its input") + vint(3, -1) + blob(4, "h") + vint(5, 7)
row_bytes = 8 * 64 * 4  # n_heads * head_dim * f32 of check_job
chunk = vint(1, 1) + packed(2, [0, 1]) + blob(3, bytes(2 * row_bytes))
done = (vint(1, 1) + vint(2, 2) + f64(3, 1.5) + f64(4, 1.0) + f64(5, 0.5) + vint(6, 1024) +
        vint(7, 1 << 20))

SEEDS = {
    # The coordinator's view: a worker's Hello and AuthResponse.
    "seed_handshake_server.bin": frame(HELLO, hello) + frame(AUTH_RESPONSE, blob(1, PROOF)),
    # The worker's view: a Challenge, or an Error instead.
    "seed_handshake_client.bin": frame(CHALLENGE,
                                       blob(1, NONCE) + blob(2, PROOF) + blob(3, "job-1")),
    "seed_handshake_refused.bin": frame(ERROR, vint(1, 9) + blob(2, "authentication failed")),
    # After authentication: a whole check job, both directions in one stream.
    "seed_check_job.bin": b"".join([
        frame(WELCOME, blob(1, "job-1") + blob(2, knobs) + blob(3, comm)),
        frame(REGISTER, blob(1, "worker-0") + vint(2, 4242) + vint(3, -1) + blob(4, b"\xaa" * 40)),
        frame(ASSIGNMENT, assignment(job)),
        frame(HEARTBEAT, vint(1, 7)),
        frame(PROGRESS, vint(1, 1) + vint(2, 3)),
        frame(RESULT_CHUNK, chunk),
        frame(DONE, done),
    ]),
    "seed_model_job.bin": frame(ASSIGNMENT, assignment(job_model)) + frame(
        RESULT_CHUNK, vint(1, 0) + packed(2, [0]) + blob(3, bytes(32))),
    "seed_abort.bin": frame(ERROR, error) + frame(ABORT, blob(1, "job failed") + blob(2, error)),
    # Refusals the header check must make before any allocation.
    "seed_bad_crc.bin": frame(HELLO, hello, crc=0),
    "seed_huge_length.bin": struct.pack("<IHHII", MAGIC, VERSION, ASSIGNMENT, 0xFFFFFFFF, 0),
    "seed_bad_magic.bin": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "seed_truncated.bin": frame(HELLO, hello)[:40],
    # Nested deeper than kRecursionLimit: Abort.cause is a message, so nest unknown groups.
    "seed_deep_nesting.bin": frame(ABORT, b"\x13" * 40 + b"\x14" * 40),
}

os.makedirs(OUT, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
