"""Local stand-ins for servers that cannot be installed here (Dapr's sidecar, an Inngest server)."""
