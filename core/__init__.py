"""The ground floor every app may import: helpers that know no business model."""
