"""Cluster sessions: the kernels of a session of ``cluster_size`` N and the SSH key they share.

Pure functions. A cluster of N has kernels ``main1`` (role ``main``, index 1) and ``sub1`` ..
``sub{N-1}`` (role ``sub``, indexes 2..N). Their key pair is an Ed25519 key in OpenSSH's
formats, made with the maintained ``cryptography`` package (no ``ssh-keygen`` needed on the
manager's host).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

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


# --- the shared SSH key (OpenSSH formats, made by the maintained ``cryptography`` package) ---

def ssh_keypair(comment: str = "berth-cluster") -> tuple[str, str]:
    """A new Ed25519 key: (private key in OpenSSH's format, public key line)."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    return private, _public_line(key, comment)


def public_of(private_pem: str, comment: str = "berth-cluster") -> str:
    """The public key line of a private key made by :func:`ssh_keypair`."""
    key = serialization.load_ssh_private_key(private_pem.encode(), password=None)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ValueError("the cluster key is not an Ed25519 key")
    return _public_line(key, comment)


def _public_line(key: ed25519.Ed25519PrivateKey, comment: str) -> str:
    blob = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).decode()
    return f"{blob} {comment}"
