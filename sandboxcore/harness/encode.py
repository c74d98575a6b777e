# Encoding main()'s value as JSON (part of the job protocol). One rule set,
# documented in the README ("Values returned as JSON"):
#   numpy scalars -> numbers/booleans; numpy arrays -> nested lists;
#   DataFrame -> list of records; Series -> object keyed by its index;
#   Index -> list; date, datetime, time, Timestamp -> ISO 8601 strings,
#   keeping the UTC offset when there is one (date index keys too);
#   NaN, +-Inf, NaT, pd.NA, None -> null. Anything else is result_not_json,
#   naming the type and where it sits (result["rows"][1]).
# Plain JSON values take json.dumps's C path unchanged. DataFrames and
# Series are written by pandas' own to_json (C) and spliced in as raw JSON,
# so a large frame never becomes a big list of Python dicts first.


class _NotJSON(Exception):
    """A value no rule converts, and where it sits."""

    def __init__(self, path, value):
        Exception.__init__(self, path)
        self.path, self.value = path, value


class _TooLarge(Exception):
    """The result cannot fit the limit, known before it is written."""

    def __init__(self, size):
        Exception.__init__(self, size)
        self.size = size


def _type_name(value):
    t = type(value)
    if t.__module__ == "builtins":
        return t.__name__
    return "%s.%s" % (t.__module__.split(".")[0], t.__qualname__)


def _lib(module):
    """A module the script itself imported, or None: encoding never pays
    for an import the value cannot need."""
    return sys.modules.get(module)


class _Encoder:
    def __init__(self, limit):
        self.limit = limit
        self.raw = []  # JSON texts that placeholders stand for
        self.tag = os.urandom(6).hex()

    def _placeholder(self, text):
        self.raw.append(text)
        return "\x00%s:%d\x00" % (self.tag, len(self.raw) - 1)

    def convert(self, value):
        """One conversion step for a value json cannot take as it is: returns
        something it can (possibly needing more steps), or raises TypeError."""
        import datetime
        import math

        pd = _lib("pandas")
        if pd is not None and (value is pd.NaT or value is pd.NA):
            return None  # NaT is a datetime subclass: it must not get there
        if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
            return value.isoformat()
        module = type(value).__module__.split(".")[0]
        if module == "numpy":
            np = _lib("numpy")
            if isinstance(value, np.ndarray):
                kind = value.dtype.kind
                if kind in "mM":
                    return [self.convert(v) for v in value]
                if kind == "f":
                    bad = ~np.isfinite(value)
                    if bad.any():
                        value = value.astype(object)
                        value[bad] = None
                    return value.tolist()
                if kind in "biuUO":
                    return value.tolist()
                raise TypeError(value)
            if isinstance(value, (np.datetime64, np.timedelta64)):
                pd = _lib("pandas")
                if pd is None:
                    return None if np.isnat(value) else str(value)
                return self.convert(pd.Timestamp(value) if isinstance(value, np.datetime64) else pd.Timedelta(value))
            if isinstance(value, (np.bool_, np.integer, np.floating, np.str_)):
                item = value.item()
                if isinstance(item, float) and not math.isfinite(item):
                    return None
                return item
            raise TypeError(value)
        if module == "pandas":
            if isinstance(value, (pd.Timestamp, pd.Timedelta)):
                return value.isoformat()
            if isinstance(value, pd.DataFrame):
                return self._frame(value)
            if isinstance(value, pd.Series):
                return self._series(value)
            if isinstance(value, pd.Index):
                return self.convert(value.to_numpy())
            if isinstance(value, pd.Period):
                return str(value)
        raise TypeError(value)

    def _check_size(self, cells):
        # Every cell takes at least two bytes ("0," or "{}"): a frame that
        # cannot fit is refused before pandas writes it.
        if self.limit and 2 * cells > self.limit:
            raise _TooLarge(2 * cells)

    def _frame(self, df):
        self._check_size(df.size)
        if not df.columns.is_unique:
            raise TypeError(df)  # records would silently lose columns
        df = self._offsets_kept(df)
        return self._placeholder(df.to_json(orient="records", date_format="iso", default_handler=self.convert))

    def _series(self, s):
        pd = _lib("pandas")
        self._check_size(len(s))
        if not s.index.is_unique:
            raise TypeError(s)  # an object keyed by it would lose values
        if isinstance(s.index, pd.DatetimeIndex):
            s = s.set_axis([None if t is pd.NaT else t.isoformat() for t in s.index])
        s = self._offsets_kept(s.to_frame()).iloc[:, 0]
        return self._placeholder(s.to_json(orient="index", date_format="iso", default_handler=self.convert))

    def _offsets_kept(self, df):
        """pandas writes tz-aware datetimes in UTC; ISO strings with their
        own offsets keep what the user had."""
        pd = _lib("pandas")
        aware = [c for c, t in df.dtypes.items() if isinstance(t, pd.DatetimeTZDtype)]
        if not aware:
            return df
        df = df.copy()
        for c in aware:
            df[c] = [None if t is pd.NaT else t.isoformat() for t in df[c]]
        return df

    def _walk(self, value):
        """A copy of value that json.dumps takes, converted as it goes;
        raises _NotJSON with the path of the first value nothing converts.
        Iterative, and bounded by the result limit (every node is at least
        one byte), so neither depth nor a cycle can run away."""
        import math

        budget = self.limit or (1 << 62)
        holder = [None]
        stack = [(value, "result", holder, 0)]
        while stack:
            v, path, parent, key = stack.pop()
            budget -= 1
            if budget < 0:
                raise _TooLarge(self.limit + 1)
            if v is None or isinstance(v, (str, bool, int)):
                parent[key] = v
            elif isinstance(v, float):
                parent[key] = v if math.isfinite(v) else None
            elif isinstance(v, dict):
                out = parent[key] = {}
                for k, item in v.items():
                    where = "%s[%s]" % (path, _dumps(k) if isinstance(k, str) else repr(k))
                    stack.append((item, where, out, self._key(k, where)))
            elif isinstance(v, (list, tuple)):
                out = parent[key] = [None] * len(v)
                for i, item in enumerate(v):
                    stack.append((item, "%s[%d]" % (path, i), out, i))
            else:
                try:
                    converted = self.convert(v)
                except TypeError:
                    raise _NotJSON(path, v)
                stack.append((converted, path, parent, key))
        return holder[0]

    def _key(self, k, path):
        if k is None or isinstance(k, (str, int, float, bool)):
            return k
        try:
            k = self.convert(k)
        except TypeError:
            raise _NotJSON(path + " (a key)", k)
        if k is None or isinstance(k, (str, int, float, bool)):
            return k
        raise _NotJSON(path + " (a key)", k)

    def encode(self, value):
        try:
            # Plain JSON, or values the default hook converts step by step.
            text = _dumps(value, allow_nan=False, ensure_ascii=True, default=self.convert)
        except ValueError as exc:
            if "ircular" in str(exc):
                raise
            # NaN or Inf among plain floats: walk the value to fix it.
            text = self._retry()(value)
        except TypeError:
            # A non-string key, or a value nothing converts: walk the value
            # to fix the one or to name the other.
            text = self._retry()(value)
        for i, raw in enumerate(self.raw):
            text = text.replace('"\\u0000%s:%d\\u0000"' % (self.tag, i), raw, 1)
        return text

    def _retry(self):
        self.raw = []
        return lambda value: _dumps(self._walk(value), allow_nan=False, ensure_ascii=True)
