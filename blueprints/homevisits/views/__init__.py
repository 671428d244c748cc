"""The home-visit book's pages, each thin: load, check the permission, act through the services.

``staff``: a school's teachers (quick entry, my classes, their own entries) and its
admins (the list, coverage, export, the class book, the roster). ``bureau``:
figures per school, never a name.
"""
