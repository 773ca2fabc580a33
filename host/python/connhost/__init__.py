"""Run connhost connector components (`connhost:connector@0.3.2`, and
0.3.0 components unchanged) from Python, with the same guarantees as the
Rust host.

    from connhost import Connector, Connection, MemorySecrets
    c = Connector.load("celonis.wasm")
    c.verify(Connection(id="c1", fields={"domain": "acme.eu-1.celonis.cloud", "auth_type": "app-key"}),
             MemorySecrets({"app_key": key}))
"""

from .host import (
    CONTRACT, Authorization, Connection, ConnectionState, Connector, ConnectorError,
    MemorySecrets, RefreshOutcome, Response, SecretStore, Verification,
)

__all__ = [
    "CONTRACT", "Authorization", "Connection", "ConnectionState", "Connector", "ConnectorError",
    "MemorySecrets", "RefreshOutcome", "Response", "SecretStore", "Verification",
]
