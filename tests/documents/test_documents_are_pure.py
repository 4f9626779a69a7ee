"""The documents are values: no module of infra/documents imports a Pulumi SDK, directly or through another module."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import infra.documents

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(m.name for m in pkgutil.iter_modules(infra.documents.__path__))


def test_no_documents_module_imports_pulumi():
    assert len(MODULES) >= 7
    for name in MODULES:
        tree = ast.parse((ROOT / "infra" / "documents" / f"{name}.py").read_text())
        imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        imported += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [m for m in imported if m.split(".")[0].startswith("pulumi")], name


def test_every_documents_module_imports_with_the_provider_sdks_blocked():
    """Nor through the modules they import: the provider SDKs can be absent (the core SDK is reached only through
    ``infra.config``'s ConfigError, a RunError)."""
    blocked = ["pulumi_aws", "pulumi_kubernetes", "pulumi_databricks"]
    script = "import sys\n" + "".join(f"sys.modules[{b!r}] = None\n" for b in blocked)
    script += "".join(f"import infra.documents.{m}\n" for m in MODULES)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
