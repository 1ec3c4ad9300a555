"""Shared by scripts/query and scripts/spark-check: the shipped queries (scripts/queries/*.sql), their
{{parameter}} substitution, and the table/view statements `flowlake ddl` prints, split for engines
that take one statement per call."""

import os
import re
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
QUERIES = os.path.join(HERE, "queries")
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
QUOTED_PLACEHOLDER = re.compile(r"'\{\{(\w+)\}\}'")
# Parameter values are spliced into SQL text, so each must be inert whatever the engine: a value in
# quotes ('{{ip}}') takes addresses and names, nothing that quotes, escapes or breaks a line; a bare
# value ({{from}}) takes an integer only, never a column name or an expression. Whole-value matches
# (fullmatch): `$` would also match before a final newline.
SAFE_VALUE = re.compile(r"[0-9A-Za-z.:_/-]+")
SAFE_NUMBER = re.compile(r"-?[0-9]+")


def names(kind="vpc"):
    """Names of the shipped queries (file names without .sql), sorted: those over a VPC flow log lake
    (table vpc_flow_logs), or with kind "tgw" those over a Transit Gateway lake (tgw_flow_logs), named
    `tgw/<name>`, or with kind "enriched" those over a VPC flow log lake converted with --enrich
    (vpc_flow_logs, with the enrichment columns), named `enriched/<name>`."""
    folder = QUERIES if kind == "vpc" else os.path.join(QUERIES, kind)
    prefix = "" if kind == "vpc" else kind + "/"
    return sorted(prefix + f[:-4] for f in os.listdir(folder) if f.endswith(".sql"))


def all_names():
    """Every shipped query's name."""
    return names() + names("tgw") + names("enriched") + names("ocsf")


def code_lines(text):
    """The lines of SQL text that are not comment lines."""
    return "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("--"))


def render(name, params):
    """The query `name` with its {{placeholders}} replaced from `params` (a dict of strings); exits
    with a message naming a missing or unsafe value. Parameters the query does not use are ignored."""
    with open(os.path.join(QUERIES, name + ".sql")) as f:
        text = f.read()
    needed = sorted(set(PLACEHOLDER.findall(text)))
    missing = [n for n in needed if n not in params]
    if missing:
        raise SystemExit(f"query {name} needs {', '.join(n + '=...' for n in missing)}")
    code = code_lines(text)
    quoted = set(QUOTED_PLACEHOLDER.findall(code))
    bare = set(PLACEHOLDER.findall(QUOTED_PLACEHOLDER.sub("", code)))
    if quoted & bare:
        raise SystemExit(f"query {name}: {', '.join(sorted(quoted & bare))} used both in quotes and bare")
    for key in needed:
        value = str(params[key])
        if key in quoted and not SAFE_VALUE.fullmatch(value):
            raise SystemExit(f"parameter {key}={value!r}: only letters, digits and . : _ / - are allowed")
        if key not in quoted and not SAFE_NUMBER.fullmatch(value):
            raise SystemExit(f"parameter {key}={value!r}: an integer is needed")
    return PLACEHOLDER.sub(lambda m: str(params[m.group(1)]), text)


def statements(sql):
    """SQL text as a list of statements, without comment lines or the final semicolons. For the text
    flowlake prints and the shipped queries: no literal there holds a line break (`flowlake ddl` spells
    one in a path as chr(10), and render() refuses one in a value), so a line break ends every comment
    and ";\n" ends every statement."""
    text = code_lines(sql)
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
