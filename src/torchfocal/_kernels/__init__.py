"""Private math: one module per loss family, each with a naive and a fused form."""
