"""The shape of a client openapi-python-client generated from connhost's
OpenAPI document: one module per tag, functions named from operationIds,
typed models as their answers (never `Any`).

Usage: python openapi_client_check.py CLIENT_DIR
"""

import ast
import pathlib
import sys

# The OAuth callback's 303 (to the return URL) has no body: `Any` beside
# its typed `Connected`.
REDIRECTS = {"connect.oauth_callback"}

TAGS = {"audit", "connect", "connections", "connectors", "ops", "providers",
        "settings", "usages", "webhooks"}


def package(root: pathlib.Path) -> pathlib.Path:
    found = [p.parent.parent for p in root.glob("*/api/__init__.py")]
    assert len(found) == 1, f"one package with an api/ in {root}, found {found}"
    return found[0]


def sync_return(module: pathlib.Path) -> str:
    """The annotation of `sync`'s return, as source text."""
    tree = ast.parse(module.read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "sync":
            return ast.unparse(node.returns)
    raise AssertionError(f"{module}: no sync()")


def main() -> int:
    pkg = package(pathlib.Path(sys.argv[1]))
    api = pkg / "api"
    tags = {p.name for p in api.iterdir() if p.is_dir() and not p.name.startswith("_")}
    assert tags == TAGS, f"operations grouped by tag: got {sorted(tags)}"
    assert not (api / "default").exists(), "no `default` tag"

    expect = {
        ("connections", "get_connection"): "Connection",
        ("connections", "list_connections"): "Connection",
        ("connections", "create_connection"): "Connection",
        ("connections", "delete_connection"): "Deleted",
        ("connections", "verify_connection"): "Verified",
        ("connectors", "get_connector"): "Manifest",
        ("webhooks", "list_webhooks"): "WebhookStatus",
        ("audit", "list_audit_records"): "AuditPage",
        ("connect", "create_connect_session"): "NewConnectSession",
    }
    for (tag, op), model in expect.items():
        module = api / tag / f"{op}.py"
        assert module.exists(), f"{module} is missing"
        returns = sync_return(module)
        assert model in returns, f"{tag}.{op}: sync() -> {returns}, expected {model}"
        assert "Any" not in returns, f"{tag}.{op}: sync() -> {returns}"
        assert (pkg / "models" / f"{snake(model)}.py").exists(), f"model {model}"

    untyped = []
    ops = 0
    for module in sorted(api.glob("*/*.py")):
        if module.name == "__init__.py":
            continue
        ops += 1
        name = f"{module.parent.name}.{module.stem}"
        if name in REDIRECTS:
            assert "Connected" in sync_return(module), name
        elif "Any" in sync_return(module):
            untyped.append(f"{module.parent.name}.{module.stem}")
    assert not untyped, f"operations answering Any: {untyped}"
    print(f"openapi client: {ops} operations in {len(tags)} tags, all typed")
    return 0


def snake(name: str) -> str:
    out = ""
    for i, c in enumerate(name):
        if c.isupper() and i:
            out += "_"
        out += c.lower()
    return out


if __name__ == "__main__":
    sys.exit(main())
