package lamina.runtime;

import java.lang.reflect.Array;
import java.lang.reflect.Constructor;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.lang.reflect.WildcardType;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Maps JSON trees (see {@link Json}) to typed Java values and back, by reflection.
 *
 * <p>It follows the conventions of the Jackson setup in AWS's Java runtime where they matter for
 * ordinary handlers: bean setters/getters with standard bean naming, public fields, unknown
 * properties ignored, null properties left out of the output, byte[]/ByteBuffer as base64,
 * Date as epoch milliseconds. Jackson's {@code @JsonProperty}/{@code @JsonIgnore} are honoured by
 * name if the function bundles them. Property names are matched exactly first and then
 * case-insensitively: that is how the aws-lambda-java-events classes (SQSEvent's "Records",
 * "eventSourceARN" ...) bind without the per-event mix-ins AWS ships.
 */
final class PojoMapper {
    private static final int MAX_DEPTH = 500;

    private PojoMapper() {
    }

    // --------------------------------------------------------------- JSON tree -> Java

    static Object fromTree(Object node, Type type) {
        return convert(node, type, 0);
    }

    private static Object convert(Object node, Type type, int depth) {
        if (depth > MAX_DEPTH) {
            throw new IllegalArgumentException("JSON nested too deeply");
        }
        Class<?> raw = rawClass(type);
        if (node == null) {
            return raw.isPrimitive() ? primitiveDefault(raw) : null;
        }
        if (raw == Object.class) {
            return node;
        }
        if (raw == String.class || raw == CharSequence.class) {
            if (node instanceof Map || node instanceof List) {
                throw new IllegalArgumentException("cannot read a JSON " + kind(node) + " as a String");
            }
            return node.toString();
        }
        if (raw.isPrimitive() || Number.class.isAssignableFrom(raw) || raw == Boolean.class
                || raw == Character.class) {
            return scalar(node, raw);
        }
        if (raw.isEnum()) {
            String name = node.toString();
            for (Object c : raw.getEnumConstants()) {
                if (((Enum<?>) c).name().equals(name)) {
                    return c;
                }
            }
            return null; // READ_UNKNOWN_ENUM_VALUES_AS_NULL
        }
        if (raw == byte[].class && node instanceof String) {
            return Base64.getDecoder().decode((String) node);
        }
        if (raw == ByteBuffer.class) {
            return ByteBuffer.wrap(Base64.getDecoder().decode(node.toString()));
        }
        if (raw == Date.class) {
            return node instanceof Number ? new Date(((Number) node).longValue())
                    : Date.from(Instant.parse(node.toString()));
        }
        if (raw == Instant.class) {
            return node instanceof Number ? Instant.ofEpochMilli((long) (((Number) node).doubleValue() * 1000))
                    : Instant.parse(node.toString());
        }
        if (raw == Optional.class) {
            return Optional.ofNullable(convert(node, typeArg(type, 0), depth + 1));
        }
        if (Map.class.isAssignableFrom(raw)) {
            return toMap(node, raw, type, depth);
        }
        if (raw.isArray()) {
            List<?> items = asList(node);
            Object arr = Array.newInstance(raw.getComponentType(), items.size());
            Type ct = type instanceof GenericArrayType ? ((GenericArrayType) type).getGenericComponentType()
                    : raw.getComponentType();
            for (int k = 0; k < items.size(); k++) {
                Array.set(arr, k, convert(items.get(k), ct, depth + 1));
            }
            return arr;
        }
        if (Iterable.class.isAssignableFrom(raw)) {
            Collection<Object> out = newCollection(raw);
            Type et = typeArg(type, 0);
            for (Object o : asList(node)) {
                out.add(convert(o, et, depth + 1));
            }
            return out;
        }
        if (node instanceof Map) {
            return toBean((Map<?, ?>) node, raw, depth);
        }
        return fromScalarByFactory(node, raw);
    }

    private static String kind(Object node) {
        return node instanceof Map ? "object" : node instanceof List ? "array" : "value";
    }

    private static List<?> asList(Object node) {
        if (node instanceof List) {
            return (List<?>) node;
        }
        if (node instanceof String && ((String) node).isEmpty()) {
            return new ArrayList<>(); // ACCEPT_EMPTY_STRING_AS_NULL_OBJECT, roughly
        }
        List<Object> single = new ArrayList<>(); // ACCEPT_SINGLE_VALUE_AS_ARRAY
        single.add(node);
        return single;
    }

    @SuppressWarnings("unchecked")
    private static Object toMap(Object node, Class<?> raw, Type type, int depth) {
        if (!(node instanceof Map)) {
            throw new IllegalArgumentException("cannot read a JSON " + kind(node) + " as a Map");
        }
        Map<Object, Object> out;
        if (raw.isInterface() || Modifier.isAbstract(raw.getModifiers())) {
            out = SortedMap.class.isAssignableFrom(raw) ? new TreeMap<>() : new LinkedHashMap<>();
        } else {
            out = (Map<Object, Object>) instantiate(raw);
        }
        Type kt = typeArg(type, 0);
        Type vt = typeArg(type, 1);
        for (Map.Entry<?, ?> e : ((Map<?, ?>) node).entrySet()) {
            out.put(convert(e.getKey(), kt, depth + 1), convert(e.getValue(), vt, depth + 1));
        }
        return out;
    }

    @SuppressWarnings("unchecked")
    private static Collection<Object> newCollection(Class<?> raw) {
        if (!raw.isInterface() && !Modifier.isAbstract(raw.getModifiers())) {
            return (Collection<Object>) instantiate(raw);
        }
        if (SortedSet.class.isAssignableFrom(raw)) {
            return new TreeSet<>();
        }
        if (Set.class.isAssignableFrom(raw)) {
            return new LinkedHashSet<>();
        }
        return new ArrayList<>();
    }

    private static Object toBean(Map<?, ?> node, Class<?> raw, int depth) {
        if (raw.isInterface() || Modifier.isAbstract(raw.getModifiers())) {
            throw new IllegalArgumentException("cannot construct abstract type " + raw.getName());
        }
        Object bean = instantiate(raw);
        Beans.Bean info = Beans.of(raw);
        for (Map.Entry<?, ?> e : node.entrySet()) {
            String key = String.valueOf(e.getKey());
            Beans.Accessor w = info.writers.get(key);
            if (w == null) {
                w = info.writersLower.get(key.toLowerCase(Locale.ROOT));
            }
            if (w != null) {
                w.set(bean, convert(e.getValue(), w.type, depth + 1));
            }
        }
        return bean;
    }

    private static Object scalar(Object node, Class<?> raw) {
        if (raw == boolean.class || raw == Boolean.class) {
            return node instanceof Boolean ? node : Boolean.valueOf(node.toString());
        }
        if (raw == char.class || raw == Character.class) {
            String t = node.toString();
            return t.isEmpty() ? '\0' : t.charAt(0);
        }
        if (node instanceof Map || node instanceof List) {
            throw new IllegalArgumentException("cannot read a JSON " + kind(node) + " as " + raw.getName());
        }
        if (node instanceof Boolean) {
            node = ((Boolean) node) ? 1 : 0;
        }
        Number n = node instanceof Number ? (Number) node : new BigDecimal(node.toString().trim());
        if (raw == int.class || raw == Integer.class) return n.intValue();
        if (raw == long.class || raw == Long.class) return n.longValue();
        if (raw == double.class || raw == Double.class) return n.doubleValue();
        if (raw == float.class || raw == Float.class) return n.floatValue();
        if (raw == short.class || raw == Short.class) return n.shortValue();
        if (raw == byte.class || raw == Byte.class) return n.byteValue();
        if (raw == BigDecimal.class) {
            return n instanceof BigDecimal ? n : n instanceof Double ? BigDecimal.valueOf((Double) n)
                    : new BigDecimal(n.toString());
        }
        if (raw == BigInteger.class) return new BigInteger(n.toString().replaceAll("\\..*", ""));
        return n; // Number itself
    }

    private static Object primitiveDefault(Class<?> p) {
        if (p == boolean.class) return false;
        if (p == char.class) return '\0';
        return scalar(0, p);
    }

    /** Last resort for scalar JSON into an object type: (String) constructor or static parse/valueOf. */
    private static Object fromScalarByFactory(Object node, Class<?> raw) {
        String text = node.toString();
        try {
            return raw.getConstructor(String.class).newInstance(text);
        } catch (ReflectiveOperationException ignored) {
            // fall through to factory methods
        }
        for (String name : new String[] {"valueOf", "parse", "fromString"}) {
            try {
                Method m = raw.getMethod(name, String.class);
                if (Modifier.isStatic(m.getModifiers())) {
                    return m.invoke(null, text);
                }
            } catch (ReflectiveOperationException ignored) {
                // try the next name
            }
        }
        throw new IllegalArgumentException("cannot read a JSON " + kind(node) + " as " + raw.getName());
    }

    private static Object instantiate(Class<?> raw) {
        try {
            Constructor<?> c = raw.getDeclaredConstructor();
            c.setAccessible(true);
            return c.newInstance();
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new IllegalArgumentException("cannot construct " + raw.getName()
                    + ": no usable zero-argument constructor", e);
        }
    }

    static Class<?> rawClass(Type t) {
        if (t instanceof Class) return (Class<?>) t;
        if (t instanceof ParameterizedType) return rawClass(((ParameterizedType) t).getRawType());
        if (t instanceof GenericArrayType) {
            return Array.newInstance(rawClass(((GenericArrayType) t).getGenericComponentType()), 0).getClass();
        }
        if (t instanceof WildcardType) return rawClass(((WildcardType) t).getUpperBounds()[0]);
        if (t instanceof TypeVariable) {
            Type[] b = ((TypeVariable<?>) t).getBounds();
            return b.length == 0 ? Object.class : rawClass(b[0]);
        }
        return Object.class;
    }

    private static Type typeArg(Type t, int k) {
        if (t instanceof ParameterizedType) {
            Type[] args = ((ParameterizedType) t).getActualTypeArguments();
            if (k < args.length) return args[k];
        }
        return Object.class;
    }

    // --------------------------------------------------------------- Java -> JSON tree

    /** Converts any value into the plain shapes {@link Json#write} accepts. */
    static Object toTree(Object v) {
        return tree(v, 0);
    }

    private static Object tree(Object v, int depth) {
        if (depth > MAX_DEPTH) {
            throw new IllegalArgumentException("object graph nested too deeply (a cycle?)");
        }
        if (v == null || v instanceof String || v instanceof Boolean || v instanceof Integer
                || v instanceof Long || v instanceof Double || v instanceof Float
                || v instanceof BigDecimal || v instanceof BigInteger) {
            return v;
        }
        if (v instanceof Number) return ((Number) v).longValue();
        if (v instanceof Character || v instanceof CharSequence) return v.toString();
        if (v instanceof Enum) return ((Enum<?>) v).name();
        if (v instanceof byte[]) return Base64.getEncoder().encodeToString((byte[]) v);
        if (v instanceof ByteBuffer) {
            ByteBuffer bb = ((ByteBuffer) v).duplicate();
            byte[] bytes = new byte[bb.remaining()];
            bb.get(bytes);
            return Base64.getEncoder().encodeToString(bytes);
        }
        if (v instanceof Date) return ((Date) v).getTime();
        if (v instanceof Instant) {
            Instant t = (Instant) v;
            return new BigDecimal(t.getEpochSecond() + "." + String.format("%09d", t.getNano()));
        }
        if (v instanceof Optional) return tree(((Optional<?>) v).orElse(null), depth + 1);
        if (v instanceof Map) {
            Map<String, Object> m = new LinkedHashMap<>();
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                m.put(String.valueOf(e.getKey()), tree(e.getValue(), depth + 1));
            }
            return m;
        }
        if (v instanceof Iterable) {
            List<Object> l = new ArrayList<>();
            for (Object o : (Iterable<?>) v) l.add(tree(o, depth + 1));
            return l;
        }
        if (v.getClass().isArray()) {
            List<Object> l = new ArrayList<>();
            for (int k = 0, n = Array.getLength(v); k < n; k++) l.add(tree(Array.get(v, k), depth + 1));
            return l;
        }
        Beans.Bean info = Beans.of(v.getClass());
        if (info.readers.isEmpty() && v.getClass().getName().startsWith("java.")) {
            return v.toString(); // UUID, URI, java.time values ...
        }
        Map<String, Object> m = new LinkedHashMap<>();
        for (Map.Entry<String, Beans.Accessor> e : info.readers.entrySet()) {
            Object pv = e.getValue().get(v);
            if (pv != null) { // Include.NON_NULL
                m.put(e.getKey(), tree(pv, depth + 1));
            }
        }
        return m;
    }

}
