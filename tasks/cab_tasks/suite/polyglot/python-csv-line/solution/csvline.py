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
    fields = []
    i, n = 0, len(line)
    while True:
        if i < n and line[i] == '"':
            # Quoted field.
            i += 1
            chars = []
            while True:
                if i >= n:
                    raise ValueError("unterminated quoted field")
                if line[i] == '"':
                    if i + 1 < n and line[i + 1] == '"':
                        chars.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                chars.append(line[i])
                i += 1
            fields.append("".join(chars))
            if i < n and not line.startswith(delimiter, i):
                raise ValueError(f"unexpected character after closing quote at {i}")
        else:
            end = line.find(delimiter, i)
            if end == -1:
                end = n
            fields.append(line[i:end])
            i = end
        if i >= n:
            return fields
        i += len(delimiter)
        if i >= n:
            fields.append("")
            return fields
