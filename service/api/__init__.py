"""The HTTP scan service: ``clearance serve --index DIR``.

``settings`` (environment) → ``app.create_app`` → ``routes`` calling the ``Scanner`` held by
``reloadable``; ``middleware``, ``metrics``, ``json_logging`` and ``errors`` around them.
"""
