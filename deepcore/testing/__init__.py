"""Cross-backend consistency tools and the pytest plugin (``deepcore_backend`` fixture)."""
