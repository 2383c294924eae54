"""No generated password survives `redact` in any form libpq takes it, nor inside libpq's own messages.

Hypothesis, derandomized: passwords of any printable characters, written into a URL's userinfo, a
`?password=` query parameter, a key/value string (plain with backslash escapes, or quoted), and into
malformed connection strings whose parse errors libpq echoes back.
"""

import re
import string
from urllib.parse import quote

import psycopg2
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from psycopg2.extensions import parse_dsn

from ticklake_dagster.core.redaction import MASK, describe_database_error, describe_dsn, redact

PROPERTY = settings(
    derandomize=True, database=None, deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow]
)
CONTROL_PASSWORD = "Zq9~Zq9~"
passwords = st.text(alphabet=string.ascii_letters + string.digits + string.punctuation + " ", min_size=6, max_size=24)


def key_value_plain(password: str) -> str:
    return re.sub(r"([\\\s'])", r"\\\1", password)  # libpq: a backslash escapes the next character


def key_value_quoted(password: str) -> str:
    return "'" + password.replace("\\", "\\\\").replace("'", "\\'") + "'"


def forms(password: str) -> dict[str, tuple[str, str]]:
    """name -> (connection string, the spelling of the password in it)."""
    encoded = quote(password, safe="")
    return {
        "userinfo": (f"postgresql://ticklake:{encoded}@db.internal:5432/ticks?sslmode=require", encoded),
        "query": (f"postgresql://ticklake@db.internal/ticks?sslmode=require&password={encoded}", encoded),
        "query_first": (f"postgres://db.internal/ticks?password={encoded}&user=ticklake", encoded),
        "key_value": (
            f"host=db.internal user=ticklake password={key_value_plain(password)} dbname=ticks",
            key_value_plain(password),
        ),
        "key_value_quoted": (
            f"host=db.internal password = {key_value_quoted(password)} dbname=ticks",
            key_value_quoted(password),
        ),
        "sslpassword": (f"host=db.internal sslpassword={key_value_plain(password)}", key_value_plain(password)),
    }


def leaked(text: str, password: str, spelling: str) -> bool:
    return password in text or spelling in text


def plausible(password: str, dsn: str, spelling: str) -> bool:
    """The password does not also occur in the rest of the string (it would survive there by chance)."""
    if dsn.count(spelling) != 1:  # e.g. "tickla" inside "user=ticklake": masking cannot tell them apart
        return False
    rest = dsn.replace(spelling, MASK)
    return password not in rest and spelling not in rest and password not in MASK


@PROPERTY
@given(passwords, st.sampled_from(sorted(forms("x" * 6))))
def test_no_password_survives_redact_in_any_dsn_form(password, form):
    dsn, spelling = forms(password)[form]
    assume(plausible(password, dsn, spelling))
    assert parse_dsn(dsn).get("password" if form != "sslpassword" else "sslpassword") == password  # libpq agrees
    for shown in (redact(dsn), describe_dsn(dsn), redact(f'could not connect with "{dsn}": timeout')):
        assert not leaked(shown, password, spelling), shown
    # The patterns alone (no known secret) mask exactly the password's spelling: no fragment is left.
    assert redact(dsn) == dsn.replace(spelling, MASK)


def libpq_error_texts(password: str, breakage: str) -> list[str]:
    """What a user sees for a connection string libpq rejects: its error and the string as described."""
    encoded = quote(password, safe="")
    dsn = {
        "no_colon": f"postgresql//ticklake:{encoded}@db.internal/ticks",
        "stray_word": f"host=db.internal password={key_value_plain(password)} {encoded[:4]}x dbname=ticks",
        "bad_percent": f"postgresql://ticklake:{encoded}%zz@db.internal/ticks",
        "ipv6": f"postgresql://ticklake:{encoded}@[::1/ticks",
        "bad_option": f"postgresql://ticklake:{encoded}@db.internal/ticks?sslmode=bogus",
    }[breakage]
    try:
        parse_dsn(dsn)
        psycopg2.connect(dsn)  # bad_option fails in libpq before any network use
    except psycopg2.Error as e:
        return [describe_database_error(e, dsn), describe_dsn(dsn)]
    raise AssertionError("the connection string was meant to be rejected")


@PROPERTY
@given(passwords, st.sampled_from(["no_colon", "stray_word", "bad_percent", "ipv6", "bad_option"]))
def test_no_password_survives_libpqs_own_error_messages(password, breakage):
    encoded = quote(password, safe="")
    # A password that is also a word of the message itself ("databa" in "database") is no leak.
    control = " ".join(libpq_error_texts(CONTROL_PASSWORD, breakage))
    assume(not leaked(control, password, encoded) and encoded[:4] + "x" not in control)
    for text in libpq_error_texts(password, breakage):
        assert not leaked(text, password, encoded) and encoded[:4] + "x" not in text, text


@PROPERTY
@given(passwords)
def test_no_password_survives_in_botocore_and_urllib_messages_about_an_endpoint(password):
    """R2_ENDPOINT with credentials in it, as botocore and urllib word their errors about it."""
    import urllib.error

    from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

    encoded = quote(password, safe="")
    endpoint = f"http://KEYID:{encoded}@r2.internal:9000/bucket/key"
    assume(plausible(password, endpoint, encoded))
    messages = [
        str(EndpointConnectionError(endpoint_url=endpoint)),
        str(ConnectTimeoutError(endpoint_url=endpoint)),
        str(urllib.error.URLError(f"<urlopen error {endpoint}>")),
        f"Lake s3://ticks/ at {endpoint}",
    ]
    for message in messages:
        shown = redact(message)
        assert not leaked(shown, password, encoded) and "r2.internal" in shown, shown
