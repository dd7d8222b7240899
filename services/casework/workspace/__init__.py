"""The staff workspace: server-rendered pages over casework's own queries and commands."""
