"""The recipes of every base (package data of the builder: ``accpy_builder.recipes``).

inject.PAYLOAD says where each file goes; ``*.in`` files are templates.
"""
