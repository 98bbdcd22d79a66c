"""Sample: the deterministic synthetic book (`adoption-kit sample`, data/sample) in the real export shapes,
with every planted case the tests and the templates rely on (generator.py).

Imports only the base modules (errors); nothing in the kit imports it except the CLI and the tests.
"""
