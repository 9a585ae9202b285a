"""``saas mail check``: a test message through the configured sender, or why not."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import pytest

from saas.cli import main
from tests.workers.mail.smtp import smtp_server


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_check_message_lands_in_the_mail_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SAAS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SAAS_MAIL_URL", "")
    code, out, _ = run(capsys, "mail", "check", "--to", "ops@example.com")
    assert code == 0
    assert out == f"sent a test message to ops@example.com through files in {tmp_path}/var/mail\n"
    [path] = (tmp_path / "var" / "mail").iterdir()
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert (message["To"], message["Subject"]) == ("ops@example.com", "saas mail check")
    assert message["From"] == "saas platform <noreply@example.com>"


def test_a_check_goes_through_smtp_or_says_why_not(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SAAS_MAIL_FROM", "platform@example.org")
    with smtp_server() as server:
        monkeypatch.setenv("SAAS_MAIL_URL", f"{server.url}?starttls=0")
        code, out, _ = run(capsys, "mail", "check", "--to", "ops@example.com")
        assert (code, out) == (
            0, f"sent a test message to ops@example.com through SMTP (plain) at {server.url[7:]}\n",
        )  # fmt: skip
        server.mailbox.replies["gone@example.com"] = ["550 5.1.1 no such user"]
        code, _, err = run(capsys, "mail", "check", "--to", "gone@example.com")
        assert (code, err) == (
            1, f"error: not sent through SMTP (plain) at {server.url[7:]}: "
            "recipient refused: 550 5.1.1 no such user\n",
        )  # fmt: skip
    [received] = server.mailbox.received
    assert (received.mail_from, received.rcpt_tos) == ("platform@example.org", ["ops@example.com"])
    code, _, err = run(capsys, "mail", "check", "--to", "ops@example.com")  # server gone
    assert code == 1
    assert "Connection refused" in err
