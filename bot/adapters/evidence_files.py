"""Writing an evidence bundle: one JSON file per part, the attachments' files under
media/, a readable transcript.html, and a manifest.json with every file's SHA-256 and
the chain's verification."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.service_layer.evidence import Evidence

__all__ = ["bundle_files", "bundle_zip", "write_bundle"]

_TEMPLATES = Path(__file__).resolve().parent / "templates"
_env = Environment(
    loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html"]), trim_blocks=True
)


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode()


def bundle_files(evidence: Evidence) -> dict[str, bytes]:
    """The bundle's files by name, manifest.json last."""
    data = asdict(evidence)
    del data["media"]
    files = {
        "conversation.json": _json(data["conversation"]),
        "transcript.json": _json(data["transcript"]),
        "events.json": _json(data["events"]),
        "consent.json": _json(data["consents"]),
        "invites.json": _json(data["invites"]),
        "handoffs.json": _json(data["handoffs"]),
        "secure_transcript.json": _json(data["secure_transcript"]),
        "transcript.html": _env.get_template("evidence_transcript.html")
        .render(ev=evidence)
        .encode(),
    }
    files.update({media.name: media.data for media in evidence.media})
    manifest = {
        "conversation_id": evidence.conversation_id,
        "exported_at": evidence.exported_at.isoformat(),
        "erased": evidence.erased,
        "chain": evidence.chain,
        "files": {name: hashlib.sha256(body).hexdigest() for name, body in files.items()},
    }
    files["manifest.json"] = _json(manifest)
    return files


def write_bundle(evidence: Evidence, out_dir: Path) -> dict[str, bytes]:
    """Write the bundle into ``out_dir`` (made if missing; existing bundle files are
    refused rather than overwritten)."""
    files = bundle_files(evidence)
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    clashes = [name for name in files if (out_dir / name).exists()]
    if clashes:
        raise FileExistsError(f"{out_dir} already holds {', '.join(sorted(clashes))}")
    # The bundle holds personal data in clear: readable by its owner only.
    for name, body in files.items():
        path = out_dir / name
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(body)
    return files


def bundle_zip(evidence: Evidence, files: Mapping[str, bytes] | None = None) -> bytes:
    """The same bundle as one zip file, for a download; ``files`` are the bundle's files
    when the caller made them already (with ``bundle_files``), so the manifest it hashed
    is the one in the zip. Entries are dated with the export's time, not the server's
    local clock, and readable by their owner only, as ``zipfile`` does by default."""
    buffer = io.BytesIO()
    folder = f"evidence-{evidence.conversation_id}"
    dated = evidence.exported_at.astimezone(UTC).timetuple()[:6]
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in (files if files is not None else bundle_files(evidence)).items():
            entry = zipfile.ZipInfo(f"{folder}/{name}", date_time=dated)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            archive.writestr(entry, body)
    return buffer.getvalue()
