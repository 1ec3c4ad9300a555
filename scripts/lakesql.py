"""Shared by scripts/query and scripts/spark-check: the shipped queries (scripts/queries/*.sql), their
{{parameter}} substitution, and the table/view statements `flowlake ddl` prints, split for engines
that take one statement per call."""

import os
import re
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
QUERIES = os.path.join(HERE, "queries")
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
# Parameter values are spliced into SQL text: allow addresses, numbers and names, nothing that quotes.
SAFE_VALUE = re.compile(r"^[0-9A-Za-z.:_/-]+$")


def names():
    """Names of the shipped queries (file names without .sql), sorted."""
    return sorted(f[:-4] for f in os.listdir(QUERIES) if f.endswith(".sql"))


def render(name, params):
    """The query `name` with its {{placeholders}} replaced from `params` (a dict of strings)."""
    with open(os.path.join(QUERIES, name + ".sql")) as f:
        text = f.read()
    needed = sorted(set(PLACEHOLDER.findall(text)))
    missing = [n for n in needed if n not in params]
    if missing:
        raise SystemExit(f"query {name} needs {', '.join(n + '=...' for n in missing)}")
    for key, value in params.items():
        if not SAFE_VALUE.match(str(value)):
            raise SystemExit(f"parameter {key}={value!r}: only letters, digits and . : _ / - are allowed")
    return PLACEHOLDER.sub(lambda m: str(params[m.group(1)]), text)


def statements(sql):
    """SQL text as a list of statements, without comment lines or the final semicolons."""
    text = "\n".join(l for l in sql.splitlines() if not l.lstrip().startswith("--"))
    parts = (p.strip().rstrip(";").strip() for p in text.split(";\n"))
    return [p for p in parts if p]


def flowlake_bin():
    """The flowlake binary: $FLOWLAKE, else the release build of this checkout, else `flowlake` on PATH."""
    if os.environ.get("FLOWLAKE"):
        return os.environ["FLOWLAKE"]
    local = os.path.join(HERE, "..", "target", "release", "flowlake")
    return local if os.path.exists(local) else "flowlake"


def ddl(lake, *args):
    """Output of `flowlake ddl LAKE ARGS...` (fails loudly)."""
    out = subprocess.run([flowlake_bin(), "ddl", lake, *args], check=True, capture_output=True, text=True)
    return out.stdout
