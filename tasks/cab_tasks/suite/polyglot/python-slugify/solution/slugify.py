"""Turn arbitrary titles into URL-friendly slugs."""

import re
import unicodedata


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
    ascii_text = (
        unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    )
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    slug = separator.join(words)
    if max_length is None or len(slug) <= max_length:
        return slug
    kept = []
    length = 0
    for word in words:
        extra = len(word) + (len(separator) if kept else 0)
        if length + extra > max_length:
            break
        kept.append(word)
        length += extra
    if not kept:
        return words[0][:max_length]
    return separator.join(kept)
