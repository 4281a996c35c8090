"""The ``rota`` command line: one module per command group; one-line errors; exit 0/1/2."""
