"""The reference deployment of docs/scale-out.md, rendered from one place: Dovecot, its Sieve script, Postfix.

`agentmail admin config` writes these files for a store; the scale-out tests start real Dovecot and Postfix from the
same functions (with test ports and directories), and a test checks that the doc shows exactly what they render for
the doc's example values. Change a template here and the doc's test tells you to paste the new text.

The layout on the server (`SERVER_DIR` inside the store, owned like the store by the mail user):

    server/postfix/       virtual_mailbox, virtual_alias, sender_login (Postfix tables, with their .db files)
    server/dovecot/<name> each account's Dovecot home: its index and dovecot-attributes (IMAP METADATA)
    server/sieve/         agentmail.sieve, run before every LMTP delivery
    server/public/        the shared folders: .agentmail-presence (presence, with its dovecot-acl)
    server/dovecot-attributes  every account's IMAP METADATA entries (Dovecot's file dictionary)
    server/credentials/   <name>.password, written by `agentmail admin add` for the agent's machine (0600)
    server/server.json    the public IMAP and SMTP URLs `agentmail admin add` prints
"""

from __future__ import annotations

import os

SERVER_DIR = "server"
# IMAP METADATA (RFC 5464): each account's presence, readable by all, is the entry PRESENCE_ENTRY/<name> on the shared
# folder PRESENCE_MAILBOX (an account also keeps its own under /private on its INBOX, readable by itself only)
PRESENCE_MAILBOX = "Public/agentmail-presence"
PRESENCE_ACL = "authenticated lrw\n"  # the folder's dovecot-acl: list, read, write (METADATA); no expunge or delete
PRESENCE_ENTRY = "/shared/vendor/agentmail/presence"

DOVECOT = """\
# agentmail reference deployment: Dovecot 2.3 (docs/scale-out.md), written by `agentmail admin config`
protocols = imap lmtp
listen = {listen}
ssl = required
ssl_cert = <{tls_cert}
ssl_key = <{tls_key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login
mail_uid = {vmail}
mail_gid = {vmail}
# agentmail's own tree: Maildir++ with dovecot-uidlist and dovecot-keywords in every folder, so Dovecot,
# agentmail serve and the agentmail CLI on this machine use it at the same time with the same UIDs
mail_location = maildir:{store}/maildirs/%n:LAYOUT=maildir++:INDEX={server}/dovecot/%n/index
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
  }}
  mailbox Archive {{
    special_use = \\Archive
  }}
}}
# Presence (IMAP METADATA, RFC 5464): each agent's entry {presence}/<name>
# on {presence_mailbox}, the folder every account shares (its dovecot-acl file lets every account
# list, read and write it, none delete it); one dictionary file holds the entries of all accounts
namespace public {{
  type = public
  separator = /
  prefix = Public/
  location = maildir:{server}/public:LAYOUT=maildir++:INDEX={server}/dovecot/%n/public-index
  subscriptions = no
}}
mail_plugins = $mail_plugins acl
mail_attribute_dict = file:{server}/dovecot-attributes
passdb {{
  driver = passwd-file
  args = scheme=SSHA512 username_format=%n {store}/passwd
}}
userdb {{
  driver = static
  args = home={server}/dovecot/%n
}}
protocol imap {{
  imap_metadata = yes
}}
protocol lmtp {{
  mail_plugins = $mail_plugins sieve
  postmaster_address = postmaster@{domain}
}}
plugin {{
  acl = vfile
  sieve_before = {server}/sieve/agentmail.sieve
}}
service imap-login {{
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
    ssl = yes
  }}
}}
# Postfix hands mail over LMTP and asks Dovecot to check SMTP AUTH passwords, through its private directory
service lmtp {{
  unix_listener {postfix_queue}/private/dovecot-lmtp {{
    user = postfix
    group = postfix
    mode = 0600
  }}
}}
# the auth process reads agentmail's passwd file, which is the mail user's and mode 0600
service auth {{
  user = {vmail}
  unix_listener {postfix_queue}/private/auth {{
    user = postfix
    group = postfix
    mode = 0600
  }}
}}
"""

SIEVE = """\
# agentmail: runs before every delivery into a mailbox (Dovecot LMTP), written by `agentmail admin config`
require ["fileinto"];

# receipts (RFC 8098 MDNs) are filed into the Receipts folder, never the inbox
if allof (header :contains "content-type" "multipart/report",
          header :contains "content-type" "disposition-notification") {{
  fileinto "Receipts";
  stop;
}}
"""

POSTFIX_MAIN = """\
# agentmail reference deployment: Postfix main.cf (docs/scale-out.md), written by `agentmail admin config`
myhostname = {hostname}
mydestination =
# the agents' domain: every account of the store, handed over LMTP to Dovecot (whose Sieve files receipts)
virtual_mailbox_domains = {domain}
virtual_mailbox_maps = hash:{server}/postfix/virtual_mailbox
virtual_alias_maps = hash:{server}/postfix/virtual_alias
virtual_transport = lmtp:unix:private/dovecot-lmtp
smtpd_sender_login_maps = hash:{server}/postfix/sender_login
message_size_limit = {max_message}
# SMTP AUTH checked by Dovecot against agentmail's passwd file
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
smtpd_tls_cert_file = {tls_cert}
smtpd_tls_key_file = {tls_key}
smtpd_tls_security_level = may
smtpd_tls_mandatory_protocols = >=TLSv1.2
"""

POSTFIX_MASTER = """\
# agentmail reference deployment: the submission service in Postfix master.cf (docs/scale-out.md)
{submission} inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_auth_only=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_sender_restrictions=reject_sender_login_mismatch
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=reject_unlisted_recipient,reject_unauth_destination
"""


class Deployment:
    """The values a server's configuration depends on; the defaults are a Debian machine's."""

    __slots__ = ("store", "domain", "hostname", "tls_cert", "tls_key", "vmail", "listen", "imap_port", "imaps_port",
                 "submission", "postfix_queue", "max_message")

    def __init__(self, store: str, domain: str, hostname: str, tls_cert: str, tls_key: str, *,
                 vmail: str = "vmail", listen: str = "*", imap_port: int = 143, imaps_port: int = 993,
                 submission: str = "submission", postfix_queue: str = "/var/spool/postfix",
                 max_message: int = 10 * 1024 * 1024) -> None:
        self.store = store
        self.domain = domain
        self.hostname = hostname
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.vmail = vmail
        self.listen = listen
        self.imap_port = imap_port
        self.imaps_port = imaps_port
        self.submission = submission  # master.cf service: "submission" (port 587) or HOST:PORT
        self.postfix_queue = postfix_queue
        self.max_message = max_message

    @property
    def server(self) -> str:
        return os.path.join(self.store, SERVER_DIR)

    def values(self) -> dict[str, object]:
        values: dict[str, object] = {k: getattr(self, k) for k in self.__slots__}
        values.update(server=self.server, presence=PRESENCE_ENTRY, presence_mailbox=PRESENCE_MAILBOX)
        return values


def dovecot_conf(d: Deployment) -> str:
    return DOVECOT.format(**d.values())


def sieve_script(d: Deployment) -> str:
    return SIEVE.format(**d.values())


def postfix_main(d: Deployment) -> str:
    return POSTFIX_MAIN.format(**d.values())


def postfix_master(d: Deployment) -> str:
    return POSTFIX_MASTER.format(**d.values())


def files(d: Deployment) -> dict[str, str]:
    """Every configuration file by the name `agentmail admin config` gives it."""
    return {"dovecot.conf": dovecot_conf(d), "agentmail.sieve": sieve_script(d),
            "postfix-main.cf": postfix_main(d), "postfix-master.cf": postfix_master(d)}
