"""Shared by the benchmark scripts: names for generated data that change when the generator does.

Generated inputs are kept under bench-data/ and reused, named by their settings. `flowlake generate`
gives the same bytes for the same settings and seed only within one revision of the generator, so each
name ends with a fingerprint of what the generator writes for a small probe: data from an older
generator is never reused by mistake (it stays under its old name until removed).
"""

import hashlib
import os
import shutil
import subprocess
import tempfile

_TAGS = {}


def generator_tag(binary):
    """8 hex digits that change whenever `binary generate` writes different records for a seed."""
    if binary not in _TAGS:
        probe = tempfile.mkdtemp(prefix="flowlake-generator-probe-")
        try:
            subprocess.run([binary, "generate", "--out", probe, "--files-per-day", "2", "--lines-per-file",
                            "200", "--format", "mixed", "--seed", "7"], check=True, stdout=subprocess.DEVNULL)
            digest = hashlib.sha256()
            for root, _, files in sorted(os.walk(probe)):
                for name in sorted(files):
                    path = os.path.join(root, name)
                    digest.update(os.path.relpath(path, probe).encode())
                    with open(path, "rb") as f:
                        digest.update(f.read())
            _TAGS[binary] = "g" + digest.hexdigest()[:8]
        finally:
            shutil.rmtree(probe, ignore_errors=True)
    return _TAGS[binary]
