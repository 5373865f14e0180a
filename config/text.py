"""Words for people: small helpers every layer may use to phrase counts in messages."""


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 lead', '2 leads', '1 criterion', '3 criteria': counts read as a person would write them.

    ``many`` is the plural form when it is not ``word`` + "s".
    """
    return f"{n} {word if n == 1 else (many or word + 's')}"
