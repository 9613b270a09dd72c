"""The domain: pure rules, no I/O. Imports only the standard library and itself."""
