"""The interactive environment: a rich, locked set of packages on a base.

versions.yaml declares each release (accpy_manifest.InteractiveSpec); ``lock`` resolves it
against the site index into a committed lock file with exact versions and hashes.
"""
