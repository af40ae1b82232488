"""Check docker-compose.yml without a Docker engine: interpolate it as Compose does, then validate it
against the Compose Specification's JSON schema.

The schema is the one vendored by the `check-jsonschema` package (compose-spec's
`schema/compose-spec.json`, Apache-2.0; its licence ships beside it in that package), so the check
runs offline. Interpolation follows the Compose Specification: ``$$`` is a literal ``$``;
``$VAR``/``${VAR}``; ``${VAR:-default}`` (unset or empty) and ``${VAR-default}`` (unset);
``${VAR:?message}`` / ``${VAR?message}`` fail; ``${VAR:+alt}`` / ``${VAR+alt}``; defaults may nest.

    python docker/compose_check.py                        # docker/docker-compose.yml with docker/.env.example
    python docker/compose_check.py --env-file docker/.env # a real deployment's settings
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import yaml

HERE = Path(__file__).resolve().parent
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ComposeError(ValueError):
    """The compose document is invalid; the message names the place."""


def read_env_file(path: str | Path) -> dict[str, str]:
    """``KEY=VALUE`` lines as Compose reads a .env file (comments, blank lines, optional quotes)."""
    path = Path(path)
    env: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):]
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _NAME.fullmatch(key):
            raise ComposeError(f"{path}:{number}: not a KEY=VALUE line: {raw!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key] = value
    return env


def interpolate_string(text: str, env: Mapping[str, str], where: str = "") -> str:
    """One string with every variable reference replaced; raises ComposeError on ``?`` forms."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "$":
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end = _closing_brace(text, i + 1, where)
            out.append(_expand(text[i + 2:end], env, where))
            i = end + 1
        else:
            match = _NAME.match(text, i + 1)
            if not match:
                raise ComposeError(f"{where}: invalid '$' in {text!r} (write '$$' for a literal '$')")
            out.append(env.get(match.group(), ""))
            i = match.end()
    return "".join(out)


def _closing_brace(text: str, open_at: int, where: str) -> int:
    depth = 1
    i = open_at + 1
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ComposeError(f"{where}: unclosed '${{' in {text!r}")


def _expand(body: str, env: Mapping[str, str], where: str) -> str:
    match = _NAME.match(body)
    if not match:
        raise ComposeError(f"{where}: invalid variable reference ${{{body}}}")
    name, rest = match.group(), body[match.end():]
    value = env.get(name)
    if rest == "":
        return value or ""
    for op in (":-", ":?", ":+", "-", "?", "+"):
        if rest.startswith(op):
            arg = rest[len(op):]
            break
    else:
        raise ComposeError(f"{where}: invalid variable reference ${{{body}}}")
    unset_or_empty = not value
    missing = unset_or_empty if op.startswith(":") else value is None
    if op in (":-", "-"):
        return interpolate_string(arg, env, where) if missing else value
    if op in (":?", "?"):
        if missing:
            raise ComposeError(f"{where}: required variable {name} is missing: {interpolate_string(arg, env, where)}")
        return value
    return "" if missing else interpolate_string(arg, env, where)  # :+ and +


def interpolate(node: Any, env: Mapping[str, str], where: str = "") -> Any:
    """Every string value of a loaded compose document interpolated (keys are left as written)."""
    if isinstance(node, dict):
        return {key: interpolate(value, env, f"{where}.{key}" if where else str(key)) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(value, env, f"{where}[{i}]") for i, value in enumerate(node)]
    if isinstance(node, str):
        return interpolate_string(node, env, where)
    return node


def compose_schema() -> dict:
    """The Compose Specification schema vendored by check-jsonschema."""
    try:
        files = resources.files("check_jsonschema.builtin_schemas.vendor")
    except ModuleNotFoundError as exc:
        raise ComposeError("the compose schema comes from the 'check-jsonschema' package: pip install it") from exc
    return json.loads((files / "compose-spec.json").read_text())


def schema_errors(document: Any) -> list[str]:
    """'path: message' for every place the document breaks the Compose Specification."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(compose_schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]


def load_compose(text: str, env: Mapping[str, str], source: str = "compose file") -> tuple[dict, dict]:
    """(as written, interpolated) compose document; ComposeError if either breaks the schema."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ComposeError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ComposeError(f"{source}: the top level must be a mapping")
    for stage, document in (("as written", raw), ("interpolated", None)):
        if document is None:
            document = interpolate(raw, env)
            resolved = document
        problems = schema_errors(document)
        if problems:
            raise ComposeError(f"{source} ({stage}) breaks the Compose Specification:\n  " + "\n  ".join(problems))
    return raw, resolved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--file", type=Path, default=HERE / "docker-compose.yml")
    parser.add_argument("--env-file", type=Path, default=HERE / ".env.example")
    args = parser.parse_args(argv)
    try:
        _, resolved = load_compose(args.file.read_text(), read_env_file(args.env_file), str(args.file))
    except ComposeError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{args.file}: valid ({len(resolved.get('services', {}))} services) with {args.env_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
