"""The demo application ``rota dev`` runs when no ``--app`` is given."""
