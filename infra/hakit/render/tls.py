"""TLS settings both proxies render: Mozilla's "intermediate" profile (TLS 1.2 + 1.3, OpenSSL 3)."""

from __future__ import annotations

TLS_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    )
)
"""TLS 1.2 part of the intermediate profile, ECDHE only (no DH parameters to manage)."""
