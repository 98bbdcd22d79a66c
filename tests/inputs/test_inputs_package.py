"""The inputs package as a whole: its parsed-cache version covers all of its code, and it imports no higher layer."""
from __future__ import annotations

import ast
from pathlib import Path

import adoption_kit
from adoption_kit.inputs import ParsedCache, cache

PACKAGE = Path(adoption_kit.__file__).parent
INPUTS = PACKAGE / "inputs"


def test_the_cache_version_hashes_every_input_module_and_the_schema_in_a_fixed_order():
    files = cache._source_files()
    assert files[-1] == ("schema.py", PACKAGE / "schema.py")
    modules = files[:-1]
    assert {path for _, path in modules} == set(INPUTS.glob("*.py"))
    assert [name for name, _ in modules] == sorted(f"inputs/{p.name}" for p in INPUTS.glob("*.py"))
    assert "inputs/__init__.py" in dict(modules)


def test_a_change_to_any_input_module_is_a_new_cache_version(tmp_path, monkeypatch):
    original = cache._source_files()
    before = ParsedCache(tmp_path).version
    assert ParsedCache(tmp_path / "other").version == before   # the same code, the same version
    for index in range(len(original)):
        name, path = original[index]
        copy = tmp_path / name
        copy.parent.mkdir(exist_ok=True)
        copy.write_bytes(path.read_bytes() + b"\n# changed\n")
        changed = [*original[:index], (name, copy), *original[index + 1:]]
        with monkeypatch.context() as patch:
            patch.setattr(cache, "_source_files", lambda changed=changed: changed)
            assert ParsedCache(tmp_path).version != before, name
    assert ParsedCache(tmp_path).version == before


def test_inputs_imports_nothing_from_a_higher_layer():
    higher = {"compute", "analysis", "store", "privacy", "report", "render", "sample", "cli"}
    found = []
    for path in sorted(INPUTS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                parts = name.split(".")
                if parts[0] == "adoption_kit" and len(parts) > 1 and parts[1] in higher:
                    found.append(f"{path.name}: {name}")
                if isinstance(node, ast.ImportFrom) and name == "adoption_kit":
                    found.extend(f"{path.name}: adoption_kit.{a.name}" for a in node.names if a.name in higher)
    assert found == []
