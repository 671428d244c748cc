"""The pledge board's pages, each thin: load, check the permission, act through the services.

``public``: a school's board, pledges and poster, for anyone. ``staff``: a school's
managers and teachers. ``bureau``: the bureau's own pledges and its view of the schools.
"""
