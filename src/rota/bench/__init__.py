"""The built-in benchmark (``rota bench``) and the soak run: workloads as code.
Internal package."""
