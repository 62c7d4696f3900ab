"""The dashboard's static files, read once from the package and gzipped once.

The whole dashboard is a few hundred kilobytes, so holding it in memory costs less than
a file read per request, and compressing it once keeps first loads small (no build step).
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

STATIC = Path(__file__).parent / "static"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
    ".LICENSE": "text/plain; charset=utf-8",
}


@dataclass(frozen=True)
class Asset:
    """One static file: its bytes, the same gzipped, its type and a content hash."""

    body: bytes
    gzipped: bytes
    content_type: str
    etag: str


def load_assets(folder: Path = STATIC) -> dict[str, Asset]:
    """Every file of the static folder by name (no subfolders: the dashboard has none)."""
    assets = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix in TYPES:
            body = path.read_bytes()
            assets[path.name] = Asset(
                body=body,
                gzipped=gzip.compress(body, compresslevel=9, mtime=0),
                content_type=TYPES[path.suffix],
                etag='"' + hashlib.sha256(body).hexdigest()[:16] + '"',
            )
    return assets
