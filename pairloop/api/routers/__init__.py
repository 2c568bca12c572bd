"""One router per resource; each is included by :func:`pairloop.api.main.create_app`."""
