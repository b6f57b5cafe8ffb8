"""Where Twilio's OpenAPI files are: ``shared/twilio-oai`` beside the checkout
(as the workplace and CI lay it out), or ``MEDIAGATE_TWILIO_OAI``."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def oai_file(name: str) -> Path:
    candidates = [
        Path(os.environ["MEDIAGATE_TWILIO_OAI"]) if os.environ.get("MEDIAGATE_TWILIO_OAI") else None,
        ROOT.parent / "shared" / "twilio-oai",
        Path("/work/shared/twilio-oai"),
    ]
    for folder in candidates:
        if folder is not None and (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"{name}: set MEDIAGATE_TWILIO_OAI to the folder holding Twilio's OpenAPI files")
