"""server_stub: a reference Motia stream server for demos and tests."""
