"""The only package that imports the database driver. Internal package.

Driver exceptions are translated to ``rota.errors`` here and never leave.
"""
