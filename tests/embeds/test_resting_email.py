"""The owner's "resting" email is queued in the visitor's request and sent by a task: a mail
server that is down, or a pickaxe name that would break a header, never fails the visitor."""

from django.core import mail
from django.test import Client

from credits import services as credit_services
from tests.embeds.conftest import run_embed


def test_the_resting_email_with_a_newline_in_the_pickaxe_name_does_not_raise_in_the_visitors_request(
    embed, fake_openai, run_tasks
):
    embed.pickaxe.name = "Poems\r\nBcc: everyone@example.com\nfor you"
    embed.pickaxe.save()
    credit_services.set_allowance(embed.pickaxe.owner, 0, reason="test")

    response = run_embed(Client(), embed)
    assert response.status_code == 200
    assert "This tool is resting" in response.content.decode()

    run_tasks()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "Your embedded pickaxe “Poems Bcc: everyone@example.com for you” is out of credits"
    assert mail.outbox[0].recipients() == [embed.pickaxe.owner.email]


def test_the_resting_email_while_the_mail_server_is_down_does_not_fail_the_visitor(
    embed, fake_openai, smtp_sink, run_tasks
):
    credit_services.set_allowance(embed.pickaxe.owner, 0, reason="test")
    response = run_embed(Client(), embed)
    run_tasks()  # refused: it waits for a retry
    assert response.status_code == 200 and "This tool is resting" in response.content.decode()
    assert smtp_sink.messages == []
