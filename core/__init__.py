"""The ground floor every app may import: the domain error base class (core.errors) and
helpers that know no business model (core.admin)."""
