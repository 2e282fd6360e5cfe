"""Maintainers' tools for the book, kept apart from `helpers`, the package readers import.

``booktools.bench`` times every notebook (``make bench``) and ``booktools.sphinx_bench`` puts
those run times into the website's pages. No chapter imports this package.
"""
