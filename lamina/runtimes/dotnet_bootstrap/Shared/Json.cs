// A small JSON reader/writer over plain .NET values. Compiled into both the runtime host and our
// Amazon.Lambda.Serialization.SystemTextJson assembly (as an internal class in each), because
// Mono has no System.Text.Json and System.Runtime.Serialization costs startup time.
//
// Reading yields Dictionary<string, object> (insertion-ordered), List<object>, string, bool,
// null, and JsonNumber for numbers (the literal text, converted by whoever knows the target type).
using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Lamina.Json
{
    /// <summary>A JSON number kept as its literal text until its target type is known.</summary>
    internal sealed class JsonNumber
    {
        public readonly string Text;

        public JsonNumber(string text)
        {
            Text = text;
        }

        public bool IsIntegral
        {
            get { return Text.IndexOfAny(new[] { '.', 'e', 'E' }) < 0; }
        }

        /// <summary>long when integral and in range, else decimal when exact, else double.</summary>
        public object ToNatural()
        {
            long l;
            if (IsIntegral && long.TryParse(Text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out l))
                return l;
            return double.Parse(Text, NumberStyles.Float, CultureInfo.InvariantCulture);
        }

        public override string ToString()
        {
            return Text;
        }
    }

    internal sealed class JsonReader
    {
        private readonly string _s;
        private int _i;

        private JsonReader(string s)
        {
            _s = s;
        }

        /// <summary>Parses one document; throws FormatException on malformed input.</summary>
        public static object Parse(string text)
        {
            var r = new JsonReader(text);
            r.SkipWs();
            var v = r.Value(0);
            r.SkipWs();
            if (r._i != r._s.Length)
                throw r.Error("unexpected trailing characters");
            return v;
        }

        private FormatException Error(string why)
        {
            return new FormatException("Invalid JSON at offset " + _i + ": " + why);
        }

        private void SkipWs()
        {
            while (_i < _s.Length && (_s[_i] == ' ' || _s[_i] == '\n' || _s[_i] == '\r' || _s[_i] == '\t'))
                _i++;
        }

        private char Peek()
        {
            if (_i >= _s.Length)
                throw Error("unexpected end of input");
            return _s[_i];
        }

        private object Value(int depth)
        {
            if (depth > 512)
                throw Error("nested too deeply");
            char c = Peek();
            switch (c)
            {
                case '{': return Object(depth);
                case '[': return Array(depth);
                case '"': return String();
                case 't': return Word("true", true);
                case 'f': return Word("false", false);
                case 'n': return Word("null", null);
                default:
                    if (c == '-' || (c >= '0' && c <= '9'))
                        return Number();
                    throw Error("unexpected character '" + c + "'");
            }
        }

        private object Word(string w, object v)
        {
            if (string.CompareOrdinal(_s, _i, w, 0, w.Length) != 0)
                throw Error("expected " + w);
            _i += w.Length;
            return v;
        }

        private Dictionary<string, object> Object(int depth)
        {
            var d = new Dictionary<string, object>();
            _i++;
            SkipWs();
            if (Peek() == '}')
            {
                _i++;
                return d;
            }
            while (true)
            {
                SkipWs();
                if (Peek() != '"')
                    throw Error("expected a member name");
                string key = String();
                SkipWs();
                if (Peek() != ':')
                    throw Error("expected ':'");
                _i++;
                SkipWs();
                d[key] = Value(depth + 1);
                SkipWs();
                char n = Peek();
                _i++;
                if (n == '}')
                    return d;
                if (n != ',')
                    throw Error("expected ',' or '}'");
            }
        }

        private List<object> Array(int depth)
        {
            var a = new List<object>();
            _i++;
            SkipWs();
            if (Peek() == ']')
            {
                _i++;
                return a;
            }
            while (true)
            {
                SkipWs();
                a.Add(Value(depth + 1));
                SkipWs();
                char n = Peek();
                _i++;
                if (n == ']')
                    return a;
                if (n != ',')
                    throw Error("expected ',' or ']'");
            }
        }

        private string String()
        {
            _i++;
            StringBuilder b = null;
            int start = _i;
            while (true)
            {
                if (_i >= _s.Length)
                    throw Error("unterminated string");
                char c = _s[_i];
                if (c == '"')
                {
                    string tail = _s.Substring(start, _i - start);
                    _i++;
                    return b == null ? tail : b.Append(tail).ToString();
                }
                if (c != '\\')
                {
                    _i++;
                    continue;
                }
                if (b == null)
                    b = new StringBuilder();
                b.Append(_s, start, _i - start);
                _i++;
                char e = Peek();
                _i++;
                switch (e)
                {
                    case 'n': b.Append('\n'); break;
                    case 't': b.Append('\t'); break;
                    case 'r': b.Append('\r'); break;
                    case 'b': b.Append('\b'); break;
                    case 'f': b.Append('\f'); break;
                    case 'u':
                        if (_i + 4 > _s.Length)
                            throw Error("bad unicode escape");
                        b.Append((char)int.Parse(_s.Substring(_i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        _i += 4;
                        break;
                    default: b.Append(e); break;
                }
                start = _i;
            }
        }

        private JsonNumber Number()
        {
            int start = _i;
            while (_i < _s.Length && "+-0123456789.eE".IndexOf(_s[_i]) >= 0)
                _i++;
            string t = _s.Substring(start, _i - start);
            double ignored;
            if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out ignored))
                throw Error("bad number '" + t + "'");
            return new JsonNumber(t);
        }
    }

    internal static class JsonWriter
    {
        /// <summary>Writes a tree of IDictionary/IEnumerable/string/number/bool/null compactly.</summary>
        public static string Write(object v)
        {
            var b = new StringBuilder();
            Write(b, v);
            return b.ToString();
        }

        public static void Write(StringBuilder b, object v)
        {
            if (v == null)
            {
                b.Append("null");
            }
            else if (v is string)
            {
                Quote(b, (string)v);
            }
            else if (v is bool)
            {
                b.Append((bool)v ? "true" : "false");
            }
            else if (v is JsonNumber)
            {
                b.Append(((JsonNumber)v).Text);
            }
            else if (v is double || v is float)
            {
                double d = Convert.ToDouble(v, CultureInfo.InvariantCulture);
                if (double.IsNaN(d) || double.IsInfinity(d))
                    throw new ArgumentException("NaN and Infinity cannot be written as JSON numbers");
                b.Append(d.ToString("R", CultureInfo.InvariantCulture));
            }
            else if (v is IFormattable && IsNumber(v))
            {
                b.Append(((IFormattable)v).ToString(null, CultureInfo.InvariantCulture));
            }
            else if (v is IDictionary)
            {
                b.Append('{');
                bool first = true;
                foreach (DictionaryEntry e in (IDictionary)v)
                {
                    if (!first)
                        b.Append(',');
                    first = false;
                    Quote(b, Convert.ToString(e.Key, CultureInfo.InvariantCulture));
                    b.Append(':');
                    Write(b, e.Value);
                }
                b.Append('}');
            }
            else if (v is IEnumerable)
            {
                b.Append('[');
                bool first = true;
                foreach (object o in (IEnumerable)v)
                {
                    if (!first)
                        b.Append(',');
                    first = false;
                    Write(b, o);
                }
                b.Append(']');
            }
            else
            {
                throw new ArgumentException("not a JSON tree value: " + v.GetType().FullName);
            }
        }

        private static bool IsNumber(object v)
        {
            return v is int || v is long || v is short || v is byte || v is sbyte || v is uint
                || v is ulong || v is ushort || v is decimal;
        }

        public static void Quote(StringBuilder b, string s)
        {
            b.Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': b.Append("\\\""); break;
                    case '\\': b.Append("\\\\"); break;
                    case '\n': b.Append("\\n"); break;
                    case '\r': b.Append("\\r"); break;
                    case '\t': b.Append("\\t"); break;
                    case '\b': b.Append("\\b"); break;
                    case '\f': b.Append("\\f"); break;
                    default:
                        if (c < 0x20)
                            b.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        else
                            b.Append(c);
                        break;
                }
            }
            b.Append('"');
        }
    }
}
