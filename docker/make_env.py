"""Write docker/.env from docker/.env.example with every CHANGE_ME replaced by a fresh secret.

Standard library only, so it runs on the deployment host before anything is installed:

    cd docker && python3 make_env.py            # refuses to overwrite an existing .env
    python3 make_env.py --force --out /path/.env

The Fernet key gets Fernet's format (32 random bytes, url-safe base64); every other secret is
64 hex characters, safe inside the postgres and redis URLs.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PLACEHOLDER = "CHANGE_ME"


def fernet_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def secret_for(name: str) -> str:
    return fernet_key() if name == "AIRFLOW_FERNET_KEY" else secrets.token_hex(32)


def fill_secrets(example: str) -> str:
    """The example's text with each ``NAME=CHANGE_ME`` line given a new random value."""
    lines = []
    for line in example.splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#") and value.strip() == PLACEHOLDER:
            line = f"{name}={secret_for(name.strip())}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--example", type=Path, default=HERE / ".env.example")
    parser.add_argument("--out", type=Path, default=HERE / ".env")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.force:
        print(f"{args.out} exists; not overwriting it (--force to replace it and its secrets)", file=sys.stderr)
        return 1
    text = fill_secrets(args.example.read_text())
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    print(f"wrote {args.out} (mode 600); review TRAIN_WORKER_CPUS / TRAIN_WORKER_MEMORY before `docker compose up`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
