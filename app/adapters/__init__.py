"""Adapters: the project's edges to files, storage, mail, cryptography, OSCAL and PDF."""
