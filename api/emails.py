"""Email addresses: what an address is, and when two spellings of one are the same mailbox.

Two addresses are one mailbox when their keys are equal. The key is the local part, normalized
to Unicode NFC and case-folded, then `@`, then the domain mapped by IDNA 2008's UTS 46
(non-transitional, as browsers do) to its ASCII form. So `Anna@Bücher.example`, the same with
`ü` decomposed (`u` + U+0308), `anna@xn--bcher-kva.example`, `anna@ｂüｃｈｅｒ.example`
(fullwidth) and `anna@bücher。example` (an ideographic full stop) are one mailbox.

What an address may be: a local part that is a dot-atom of RFC 5322 `atext` or of any non-ASCII
character other than spaces and controls (RFC 6531, internationalized email), or a quoted
string; and a domain that UTS 46 maps to letters, digits and hyphens in at least two labels
(or `localhost`), or an IPv4 literal such as `[192.0.2.1]`. At most MAX_LENGTH characters.
"""

import re
import string
import unicodedata

import idna

MAX_LENGTH = 254  # RFC 5321's 256-octet path, less its angle brackets

ATEXT = frozenset(string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-")
QUOTED = re.compile(r'"(?:[^"\\\x00-\x1f\x7f]|\\[\x20-\x7e])*"')
LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
DOMAIN = re.compile(rf"(?:{LABEL}\.)+[a-z0-9-]{{2,63}}|localhost")
IPV4 = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
LITERAL = re.compile(rf"\[{IPV4}(?:\.{IPV4}){{3}}\]")


class NotAnAddress(ValueError):
    """The text is not an email address."""


def _atext(char: str) -> bool:
    # Letters, marks, digits, symbols and punctuation of any script; no separators (Z*), no
    # controls or unassigned code points (C*).
    return char in ATEXT or (not char.isascii() and unicodedata.category(char)[0] not in "ZC")


def _local_key(local: str) -> str:
    if not QUOTED.fullmatch(local):
        atoms = local.split(".")
        if not all(atom and all(map(_atext, atom)) for atom in atoms):
            raise NotAnAddress("not a valid local part")
    # Case folding can undo composition (it maps some characters to decomposed sequences).
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", local).casefold())


def _domain_key(domain: str) -> str:
    if LITERAL.fullmatch(domain):
        return domain
    try:
        ascii_domain = idna.encode(domain, uts46=True, std3_rules=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as error:
        raise NotAnAddress("not a valid domain") from error
    if not DOMAIN.fullmatch(ascii_domain):
        raise NotAnAddress("not a valid domain")
    return ascii_domain


def mailbox_key(address: str) -> str:
    """The key naming the mailbox of `address`: equal for every spelling of one mailbox.

    Raises NotAnAddress when `address` is not an email address (see the module docstring).
    """
    if len(address) > MAX_LENGTH:
        raise NotAnAddress(f"longer than {MAX_LENGTH} characters")
    local, at, domain = address.rpartition("@")
    if not (at and local):
        raise NotAnAddress("no local part and domain")
    key = f"{_local_key(local)}@{_domain_key(domain)}"
    # Most addresses are their own key: then the address itself is returned, so that a user
    # stored with both holds the text once.
    return address if key == address else key
