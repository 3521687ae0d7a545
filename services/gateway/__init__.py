"""The HTTP gateway: authenticates callers, turns writes into commands and waits
for their replies; reads go straight to PostgreSQL."""
