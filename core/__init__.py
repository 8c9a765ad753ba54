"""The ground floor every app may import: the domain error base class (core.errors)."""
