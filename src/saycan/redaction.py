"""Secrets never leave the process in text we write: error lines, failed episodes' records,
summaries. A config value may interpolate an environment variable (`${oc.env:OPENAI_API_KEY}`)
and a constructor's check may echo that value, so every such text passes through `redacted`."""

from __future__ import annotations

import os
import re

#: Environment variables whose values never appear in written text.
SECRET_ENV_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)


def redacted(text: str) -> str:
    """`text` with the value of every secret-named environment variable (8+ characters)
    replaced by `<$NAME>`."""
    for name, value in os.environ.items():
        if SECRET_ENV_NAME.search(name) and len(value) >= 8 and value in text:
            text = text.replace(value, f"<${name}>")
    return text
