"""No ohq_flow module uses another ohq_flow module's private (single-underscore) names (read with ``ast``)."""

from __future__ import annotations

import ast

from tests.test_import_cycles import PKG, _modules, _targets


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def violations() -> list[str]:
    """``path:line: what`` for each private name one module takes from another."""
    modules = _modules()
    out = []
    for mod, path in sorted(modules.items()):
        is_pkg = path.name == "__init__.py"
        tree = ast.parse(path.read_text(), str(path))
        aliases: dict[str, str] = {}                   # local name -> the ohq_flow module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                targets = _targets(node, mod, is_pkg, modules)
                for alias in node.names:
                    if _private(alias.name) and targets and f"{targets[0]}.{alias.name}" not in modules:
                        base = targets[0] if len(set(targets)) == 1 else "?"
                        if base != mod:
                            out.append(f"{path.relative_to(PKG.parent)}:{node.lineno}: imports {alias.name} from {base}")
                    full = [t for t in _targets(ast.ImportFrom(module=node.module, names=[alias], level=node.level),
                                                mod, is_pkg, modules)]
                    if full and full[0] in modules and full[0].endswith("." + alias.name):
                        aliases[alias.asname or alias.name] = full[0]
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("ohq_flow") and alias.asname:
                        aliases[alias.asname] = alias.name
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                owner = ast.unparse(node.value)
                target = aliases.get(owner) or (owner if owner in modules else None)
                if target and target != mod:
                    out.append(f"{path.relative_to(PKG.parent)}:{node.lineno}: uses {target}.{node.attr}")
    return out


def test_no_module_uses_another_modules_private_names():
    found = violations()
    assert found == [], "private names used across modules (make them public or move them):\n" + "\n".join(found)


def test_private_means_one_leading_underscore():
    assert _private("_eval_set") and not _private("__version__") and not _private("eval_set")
