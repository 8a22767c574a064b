package lamina.runtime;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small JSON reader and writer over plain Java values.
 *
 * <p>Reading yields {@code LinkedHashMap<String,Object>}, {@code ArrayList<Object>}, {@code String},
 * {@code Boolean}, {@code null}, and for numbers {@code Integer}, {@code Long} or {@code BigInteger}
 * (integers, smallest that fits) or {@code Double} (anything with a fraction or exponent) -- the
 * same shapes Jackson's "untyped" mode gives, which is what AWS's Java runtime uses for
 * {@code RequestHandler<Map<String,Object>,...>}. Writing accepts those shapes only; richer objects
 * go through {@link PojoMapper#toTree} first.
 *
 * <p>Lenient where AWS's Jackson setup is lenient (single quotes, unquoted names, leading zeros),
 * because events that AWS accepts should be accepted here too.
 */
final class Json {
    private final String s;
    private int i;

    private Json(String s) {
        this.s = s;
    }

    /** Parses one JSON document; trailing whitespace is allowed, trailing garbage is not. */
    static Object parse(String text) {
        Json p = new Json(text);
        p.ws();
        Object v = p.value();
        p.ws();
        if (p.i != p.s.length()) {
            throw p.error("unexpected trailing characters");
        }
        return v;
    }

    private IllegalArgumentException error(String why) {
        return new IllegalArgumentException("Invalid JSON at offset " + i + ": " + why);
    }

    private void ws() {
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
                i++;
            } else {
                return;
            }
        }
    }

    private Object value() {
        if (i >= s.length()) {
            throw error("unexpected end of input");
        }
        char c = s.charAt(i);
        switch (c) {
            case '{':
                return object();
            case '[':
                return array();
            case '"':
            case '\'':
                return string(c);
            case 't':
                return word("true", Boolean.TRUE);
            case 'f':
                return word("false", Boolean.FALSE);
            case 'n':
                return word("null", null);
            default:
                if (c == '-' || (c >= '0' && c <= '9')) {
                    return number();
                }
                if (s.startsWith("NaN", i)) {
                    return word("NaN", Double.NaN);
                }
                if (s.startsWith("Infinity", i)) {
                    return word("Infinity", Double.POSITIVE_INFINITY);
                }
                throw error("unexpected character '" + c + "'");
        }
    }

    private Object word(String w, Object v) {
        if (!s.startsWith(w, i)) {
            throw error("expected " + w);
        }
        i += w.length();
        return v;
    }

    private Map<String, Object> object() {
        Map<String, Object> m = new LinkedHashMap<>();
        i++;
        ws();
        if (peek() == '}') {
            i++;
            return m;
        }
        while (true) {
            ws();
            String key;
            char c = peek();
            if (c == '"' || c == '\'') {
                key = string(c);
            } else {
                key = bareName();
            }
            ws();
            expect(':');
            ws();
            m.put(key, value());
            ws();
            char d = next();
            if (d == '}') {
                return m;
            }
            if (d != ',') {
                throw error("expected ',' or '}'");
            }
        }
    }

    private List<Object> array() {
        List<Object> a = new ArrayList<>();
        i++;
        ws();
        if (peek() == ']') {
            i++;
            return a;
        }
        while (true) {
            ws();
            a.add(value());
            ws();
            char d = next();
            if (d == ']') {
                return a;
            }
            if (d != ',') {
                throw error("expected ',' or ']'");
            }
        }
    }

    private String bareName() {
        int start = i;
        while (i < s.length() && (Character.isJavaIdentifierPart(s.charAt(i)))) {
            i++;
        }
        if (start == i) {
            throw error("expected a member name");
        }
        return s.substring(start, i);
    }

    private String string(char quote) {
        i++;
        StringBuilder b = null;
        int start = i;
        while (true) {
            if (i >= s.length()) {
                throw error("unterminated string");
            }
            char c = s.charAt(i);
            if (c == quote) {
                String tail = s.substring(start, i);
                i++;
                return b == null ? tail : b.append(tail).toString();
            }
            if (c == '\\') {
                if (b == null) {
                    b = new StringBuilder();
                }
                b.append(s, start, i);
                i++;
                char e = next();
                switch (e) {
                    case 'n': b.append('\n'); break;
                    case 't': b.append('\t'); break;
                    case 'r': b.append('\r'); break;
                    case 'b': b.append('\b'); break;
                    case 'f': b.append('\f'); break;
                    case 'u':
                        if (i + 4 > s.length()) {
                            throw error("bad unicode escape");
                        }
                        b.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                        i += 4;
                        break;
                    default: b.append(e); // \" \\ \/ and any other escaped char
                }
                start = i;
            } else {
                i++;
            }
        }
    }

    private Object number() {
        int start = i;
        boolean integral = true;
        if (peek() == '-') {
            i++;
            if (s.startsWith("Infinity", i)) {
                i += 8;
                return Double.NEGATIVE_INFINITY;
            }
        }
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c >= '0' && c <= '9') {
                i++;
            } else if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
                integral = false;
                i++;
            } else {
                break;
            }
        }
        String t = s.substring(start, i);
        try {
            if (!integral) {
                return Double.parseDouble(t);
            }
            if (t.length() < 10) {
                return Integer.parseInt(t);
            }
            BigInteger big = new BigInteger(t);
            if (big.bitLength() < 32) {
                return big.intValue();
            }
            return big.bitLength() < 64 ? (Object) big.longValue() : big;
        } catch (NumberFormatException e) {
            throw error("bad number '" + t + "'");
        }
    }

    private char peek() {
        if (i >= s.length()) {
            throw error("unexpected end of input");
        }
        return s.charAt(i);
    }

    private char next() {
        char c = peek();
        i++;
        return c;
    }

    private void expect(char c) {
        if (next() != c) {
            throw error("expected '" + c + "'");
        }
    }

    // ---------------------------------------------------------------- writing

    /** Writes a tree of Map/List/String/Number/Boolean/null as compact JSON. */
    static String write(Object v) {
        StringBuilder b = new StringBuilder();
        write(b, v);
        return b.toString();
    }

    static void write(StringBuilder b, Object v) {
        if (v == null) {
            b.append("null");
        } else if (v instanceof String) {
            quote(b, (String) v);
        } else if (v instanceof Boolean) {
            b.append(v.toString());
        } else if (v instanceof Double || v instanceof Float) {
            double d = ((Number) v).doubleValue();
            if (Double.isNaN(d) || Double.isInfinite(d)) {
                quote(b, v.toString()); // Jackson's WRITE_NAN_AS_STRINGS
            } else {
                b.append(v.toString());
            }
        } else if (v instanceof BigDecimal) {
            b.append(((BigDecimal) v).toString());
        } else if (v instanceof Number) {
            b.append(v.toString());
        } else if (v instanceof Map) {
            b.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                if (!first) {
                    b.append(',');
                }
                first = false;
                quote(b, String.valueOf(e.getKey()));
                b.append(':');
                write(b, e.getValue());
            }
            b.append('}');
        } else if (v instanceof List) {
            b.append('[');
            boolean first = true;
            for (Object o : (List<?>) v) {
                if (!first) {
                    b.append(',');
                }
                first = false;
                write(b, o);
            }
            b.append(']');
        } else {
            throw new IllegalArgumentException("not a JSON tree value: " + v.getClass().getName());
        }
    }

    static void quote(StringBuilder b, String s) {
        b.append('"');
        for (int k = 0; k < s.length(); k++) {
            char c = s.charAt(k);
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                case '\b': b.append("\\b"); break;
                case '\f': b.append("\\f"); break;
                default:
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
            }
        }
        b.append('"');
    }
}
