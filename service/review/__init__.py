"""Reviewing flagged documents: ``clearance review`` and the /review pages of ``clearance serve``.

``queue`` indexes a results folder or file once and pages through its flagged documents;
``views`` puts a document beside the reference texts it matched, spans highlighted; ``store``
keeps the verdicts in SQLite beside the results; ``allowlist`` turns dismissals into the file
scans read with ``--allowlist``; ``app`` serves it all with server-side templates.
"""
