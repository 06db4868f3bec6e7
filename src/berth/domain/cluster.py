"""Cluster sessions: the kernels of a session of ``cluster_size`` N and the SSH key they share.

Pure functions. A cluster of N has kernels ``main1`` (role ``main``, index 1) and ``sub1`` ..
``sub{N-1}`` (role ``sub``, indexes 2..N). Their key pair is an Ed25519 key in OpenSSH's
formats, made here from a 32-byte seed (RFC 8032's key generation, no dependency), so the
manager needs neither ``ssh-keygen`` nor a crypto library to make one.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass

#: The cluster modes a session may ask for; multi-node needs an overlay network (scale-out).
MODES = ("single-node", "multi-node")
MULTI_NODE_REFUSAL = "multi-node clusters are not supported yet; use single-node"


@dataclass(frozen=True)
class KernelSlot:
    role: str  # main | sub
    idx: int  # 1..N
    hostname: str


def layout(size: int) -> list[KernelSlot]:
    """The kernels of a cluster of ``size``: main1, then sub1 .. sub{size-1}."""
    if size < 1:
        raise ValueError("a cluster has at least one kernel")
    return [KernelSlot("main", 1, "main1")] + [
        KernelSlot("sub", i + 1, f"sub{i}") for i in range(1, size)
    ]


def hostnames(size: int) -> list[str]:
    return [k.hostname for k in layout(size)]


# --- Ed25519 (RFC 8032, section 5.1.5: key generation only) ------------------------------

_P = 2**255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
Point = tuple[int, int, int, int]


def _add(a: Point, b: Point) -> Point:
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    p, q = (y1 - x1) * (y2 - x2) % _P, (y1 + x1) * (y2 + x2) % _P
    c, d = 2 * t1 * t2 * _D % _P, 2 * z1 * z2 % _P
    e, f, g, h = q - p, d - c, d + c, q + p
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(scalar: int, point: Point) -> Point:
    result: Point = (0, 1, 1, 0)
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _base() -> Point:
    y = 4 * pow(5, _P - 2, _P) % _P
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if x & 1:
        x = _P - x
    return (x, y, 1, x * y % _P)


def ed25519_public(seed: bytes) -> bytes:
    """The 32-byte public key of a 32-byte private seed."""
    if len(seed) != 32:
        raise ValueError("an Ed25519 seed has 32 bytes")
    digest = hashlib.sha512(seed).digest()
    a = int.from_bytes(digest[:32], "little")
    a = (a & ((1 << 254) - 8)) | (1 << 254)
    x, y, z, _ = _mul(a, _base())
    zinv = pow(z, _P - 2, _P)
    x, y = x * zinv % _P, y * zinv % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


# --- OpenSSH formats ---------------------------------------------------------------------

def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def ssh_keypair(seed: bytes, check: int, comment: str = "berth-cluster") -> tuple[str, str]:
    """(private key in OpenSSH's PEM-like format, public key line) of the Ed25519 key of
    ``seed``; ``check`` is the format's random check integer (32 bits)."""
    public = ed25519_public(seed)
    key_type = b"ssh-ed25519"
    public_blob = _string(key_type) + _string(public)
    private = (struct.pack(">II", check, check) + _string(key_type) + _string(public)
               + _string(seed + public) + _string(comment.encode()))
    private += bytes(range(1, 1 + (-len(private) % 8)))
    body = (b"openssh-key-v1\0" + _string(b"none") + _string(b"none") + _string(b"")
            + struct.pack(">I", 1) + _string(public_blob) + _string(private))
    text = base64.b64encode(body).decode()
    lines = [text[i:i + 70] for i in range(0, len(text), 70)]
    pem = "\n".join(["-----BEGIN OPENSSH PRIVATE KEY-----", *lines,
                     "-----END OPENSSH PRIVATE KEY-----"]) + "\n"
    return pem, f"ssh-ed25519 {base64.b64encode(public_blob).decode()} {comment}"


def public_of(private_pem: str) -> str:
    """The public key line of a private key made by :func:`ssh_keypair`."""
    lines = [ln for ln in private_pem.strip().splitlines() if not ln.startswith("-----")]
    body = base64.b64decode("".join(lines))
    offset = len(b"openssh-key-v1\0")
    for _ in range(3):  # cipher, kdf, kdf options
        (n,) = struct.unpack_from(">I", body, offset)
        offset += 4 + n
    offset += 4  # number of keys
    (n,) = struct.unpack_from(">I", body, offset)
    blob = body[offset + 4:offset + 4 + n]
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} berth-cluster"
