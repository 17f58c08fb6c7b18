"""kept: finds the promises you make by email and reminds you of the unkept ones.

Data flows one way::

    mail source (kept.mailboxes) -> MailMessage records (kept.extractors.message)
        -> extractors (threads, promises) -> storage (kept.storage)
        -> digest (kept.digest) -> sender
"""

__version__ = "0.1.0"
