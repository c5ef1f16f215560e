"""A rendered report delivered by e-mail (SMTP, STARTTLS when asked, optional login), the report as an
attachment and a short text body; for a weekly run of ``leitplanke report --mail-to`` (a CronJob).
The only module that talks SMTP; errors wrapped in ``MailError``.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from leitplanke.core.problems import LeitplankeError

MEDIA = {"json": "application/json", "md": "text/markdown", "html": "text/html", "pdf": "application/pdf"}


class MailError(LeitplankeError):
    code = "mail"


@dataclass(frozen=True, slots=True)
class Smtp:
    host: str
    port: int = 25
    starttls: bool = False
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 30.0


def build_message(
    *, sender: str, recipients: Sequence[str], subject: str, text: str, attachment: bytes, fmt: str
) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, ", ".join(recipients), subject
    message["Date"], message["Message-ID"] = formatdate(localtime=False), make_msgid(domain="leitplanke")
    message.set_content(text)
    maintype, subtype = MEDIA[fmt].split("/")
    name = f"leitplanke-report.{fmt}"
    message.add_attachment(attachment, maintype=maintype, subtype=subtype, filename=name)
    return message


def send_message(message: EmailMessage, *, smtp: Smtp) -> None:
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as client:
            if smtp.starttls:
                client.starttls(context=ssl.create_default_context())
            if smtp.username:
                client.login(smtp.username, smtp.password)
            client.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"{smtp.host}:{smtp.port}: {exc}") from exc
