"""The liaison pages: ``bureau`` (assignments, my schools, visits), ``staff`` (a school's)."""
