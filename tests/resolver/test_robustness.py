"""Whatever bytes arrive, the listener answers with a DNS message or drops them; never raises."""

from __future__ import annotations

import asyncio
import random

import dns.edns
import dns.message

from resolver.settings import ResolverSettings
from tests.resolver.test_server import FakeUpstream, make


def seeds() -> list[bytes]:
    plain = dns.message.make_query("www.lab.example.", "A").to_wire()
    ecs = dns.message.make_query(
        "www.lab.example.", "AAAA", use_edns=0, options=[dns.edns.ECSOption("127.2.0.0", 16)]
    ).to_wire()
    return [plain, ecs]


def test_bit_flips_truncations_and_random_bytes_never_raise() -> None:
    rng = random.Random(7)
    inputs: list[bytes] = [b"", b"\x00", b"\xff" * 11, b"\xff" * 12]
    for seed in seeds():
        for _ in range(150):
            data = bytearray(seed)
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            inputs.append(bytes(data))
        inputs += [seed[:n] for n in range(len(seed))]
    inputs += [rng.randbytes(rng.randint(12, 80)) for _ in range(200)]

    async def go() -> None:
        server, _, _ = make(ResolverSettings(), FakeUpstream("127.0.1.1"))
        for data in inputs:
            out = await server.handle(data, "127.2.0.1", None)
            if out is not None:
                assert out[:2] == data[:2] and out[2] & 0x80  # same ID, QR set
                dns.message.from_wire(out, question_only=True)

    asyncio.run(go())
