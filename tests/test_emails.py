"""What an email address is, and when two spellings are one mailbox (api/emails.py)."""

import pytest

from api import emails


@pytest.mark.parametrize(
    "spelling",
    [
        "Anna@B\u00fccher.example",
        "anna@bu\u0308cher.example",
        "anna@xn--bcher-kva.example",
        "anna@XN--BCHER-KVA.EXAMPLE",
        "anna@\uff42\u00fc\uff43\uff48\uff45\uff52.example",
        "anna@b\u00fccher\u3002example",
        "anna@b\u00fccher\uff0eexample",  # FULLWIDTH FULL STOP
        "ANNA@B\u00dcCHER.EXAMPLE",
    ],
)
def test_every_spelling_of_a_mailbox_has_one_key(spelling: str) -> None:
    assert emails.mailbox_key(spelling) == "anna@xn--bcher-kva.example"


def test_the_local_part_is_case_folded_after_nfc() -> None:
    assert emails.mailbox_key("Stra\u00dfe@example.com") == "strasse@example.com"
    assert emails.mailbox_key("Jose\u0301@example.com") == "jos\u00e9@example.com"
    assert emails.mailbox_key("JOS\u00c9@example.com") == "jos\u00e9@example.com"


def test_ascii_addresses_keep_the_key_of_the_earlier_rule() -> None:
    # The earlier key was the whole address case-folded: documents stored under it stay valid.
    for address in ["Priyanshu@Example.COM", "a.b+tag@sub.example.org", '"john doe"@example.com']:
        assert emails.mailbox_key(address) == address.casefold()


def test_an_address_that_is_its_own_key_is_returned_as_it_is() -> None:
    # So a stored user's email and email_key are one text in memory, not two equal ones.
    address = "".join(["anna", "@example.com"])  # built at run time: not a shared constant
    assert emails.mailbox_key(address) is address
    assert emails.mailbox_key("Anna@example.com") == "anna@example.com"


def test_the_domain_is_non_transitional_as_idna_2008() -> None:
    # IDNA 2003 (Python's "idna" codec) mapped ß to ss: they are two domains today.
    assert emails.mailbox_key("a@stra\u00dfe.example") == "a@xn--strae-oqa.example"
    assert emails.mailbox_key("a@strasse.example") == "a@strasse.example"


@pytest.mark.parametrize(
    "address",
    [
        "",
        "anna",
        "@example.com",
        "anna@",
        "anna@example",
        "anna@example.com.",
        "anna@exa_mple.com",
        "anna@-example.com",
        "anna@" + "a" * 64 + ".com",  # a label of 64
        "anna@\U0001f600.com",
        "anna@xn--zz.com",  # not Punycode
        "an na@example.com",
        "an\u3000na@example.com",
        ".anna@example.com",
        "anna.@example.com",
        "an\u0000na@example.com",
        "anna@[256.0.0.1]",
        "a" * 243 + "@example.com",  # 255 characters
    ],
)
def test_what_is_not_an_address_is_refused(address: str) -> None:
    with pytest.raises(emails.NotAnAddress):
        emails.mailbox_key(address)


@pytest.mark.parametrize(
    "address",
    [
        "a@localhost",
        "a@[192.0.2.1]",
        '"a@b"@example.com',
        "\u0930\u093e\u092e@example.com",
        "\u7528\u6237@\u4f8b\u5b50.\u5e7f\u544a",
        "a" * 242 + "@example.com",  # 254 characters
    ],
)
def test_what_is_an_address_has_a_key(address: str) -> None:
    assert "@" in emails.mailbox_key(address)
