"""The notice a sender gets when mail queued while offline is refused for good once the server is back.

It is a local message in the sender's INBOX (new/, so the next prompt announces it), from the mailer daemon, with
`Auto-Submitted: auto-replied` (it never wakes anyone and asks for no receipt). It exists only in the mirror: the
mirror never sends a local message to the server.
"""

from __future__ import annotations

import time

from ..store import registry
from ..store.changelog import Change, log_for
from ..store.maildir import to_lf

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..config import Config
    from .outbox import Entry
    from .settings import Settings
    from .submit import Outcome


def undelivered(cfg: Config, settings: Settings, entry: Entry, outcome: Outcome) -> str:
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    from ..format.card import read_headers

    original = entry.message()
    title = read_headers(original[:16384]).get("subject", "") or "(no title)"
    whom = ", ".join(outcome.names or entry.rcpt)
    msg = EmailMessage()
    msg["From"] = f"Mail Delivery System <mailer-daemon@{settings.domain}>"
    msg["To"] = settings.address
    msg["Subject"] = f"Undelivered: {title}"[:140]
    msg["Date"] = formatdate(time.time(), localtime=True)
    msg["Message-ID"] = make_msgid("undelivered", settings.domain)
    msg["Auto-Submitted"] = "auto-replied"  # RFC 3834: never answered automatically, never wakes an agent
    msg["X-Agentmail-Wake"] = "no"
    msg.set_content(
        f"Your postcard \"{title}\" ({entry.message_id}) was queued while the mail server could not be reached.\n"
        f"Now that it is back, the server refused it for good, so it was sent to no one:\n\n"
        f"  to {whom}: {outcome.reply}\n\n"
        f"Nothing else is retried. Send it again with a corrected recipient if you still mean to.\n")
    box = registry.mailbox(cfg, settings.user)
    with Change(box, log_for(box)) as change:
        name = box.deliver(to_lf(msg.as_bytes()))
        change.add("new", name)
    return name
