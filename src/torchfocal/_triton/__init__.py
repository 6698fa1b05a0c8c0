"""Triton kernels (imported only when backend="triton" runs)."""
