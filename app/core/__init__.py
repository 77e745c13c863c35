"""Cross-cutting infrastructure: one short module per concern, shared by every domain."""
