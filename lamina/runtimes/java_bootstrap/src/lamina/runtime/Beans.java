package lamina.runtime;

import java.lang.annotation.Annotation;
import java.lang.reflect.AccessibleObject;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.Type;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Bean introspection for {@link PojoMapper}: a class's readable and writable properties.
 *
 * <p>Readers are public getters (getX, and isX for boolean) and public fields; writers are public
 * one-argument setters and public non-final fields. Names follow java.beans rules ("URL" stays
 * "URL", "FooBar" becomes "fooBar"), overridden by Jackson's {@code @JsonProperty} when the
 * function bundles it; {@code @JsonIgnore} hides a member. Results are cached per class.
 */
final class Beans {
    private static final Map<Class<?>, Bean> CACHE = new ConcurrentHashMap<>();

    private Beans() {
    }

    static Bean of(Class<?> c) {
        Bean b = CACHE.get(c);
        if (b == null) {
            b = new Bean(c);
            CACHE.put(c, b);
        }
        return b;
    }

    /** Reads or writes one property through a method or a field. */
    static final class Accessor {
        final AccessibleObject member;
        final Type type;

        Accessor(AccessibleObject member, Type type) {
            this.member = member;
            this.type = type;
            try {
                member.setAccessible(true);
            } catch (RuntimeException ignored) {
                // public members of public classes work without it
            }
        }

        Object get(Object target) {
            try {
                return member instanceof Method ? ((Method) member).invoke(target) : ((Field) member).get(target);
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException("cannot read property: " + e.getCause(), e);
            }
        }

        void set(Object target, Object value) {
            try {
                if (member instanceof Method) {
                    ((Method) member).invoke(target, value);
                } else {
                    ((Field) member).set(target, value);
                }
            } catch (ReflectiveOperationException e) {
                throw new IllegalArgumentException("cannot set property: " + e.getCause(), e);
            }
        }
    }

    static final class Bean {
        final Map<String, Accessor> readers = new LinkedHashMap<>();
        final Map<String, Accessor> writers = new LinkedHashMap<>();
        final Map<String, Accessor> writersLower = new LinkedHashMap<>();

        Bean(Class<?> c) {
            for (Method m : c.getMethods()) {
                if (Modifier.isStatic(m.getModifiers()) || m.getDeclaringClass() == Object.class
                        || m.isBridge() || ignored(m)) {
                    continue;
                }
                String n = m.getName();
                int params = m.getParameterCount();
                if (params == 0 && m.getReturnType() != void.class) {
                    String prop = n.startsWith("get") && n.length() > 3 ? n.substring(3)
                            : n.startsWith("is") && n.length() > 2 && m.getReturnType() == boolean.class
                            ? n.substring(2) : null;
                    if (prop != null) {
                        readers.putIfAbsent(named(m, decapitalize(prop)), new Accessor(m, m.getGenericReturnType()));
                    }
                } else if (params == 1 && n.startsWith("set") && n.length() > 3) {
                    writers.putIfAbsent(named(m, decapitalize(n.substring(3))),
                            new Accessor(m, m.getGenericParameterTypes()[0]));
                }
            }
            for (Field f : c.getFields()) {
                int mod = f.getModifiers();
                if (Modifier.isStatic(mod) || Modifier.isTransient(mod) || ignored(f)) {
                    continue;
                }
                String prop = named(f, f.getName());
                readers.putIfAbsent(prop, new Accessor(f, f.getGenericType()));
                if (!Modifier.isFinal(mod)) {
                    writers.putIfAbsent(prop, new Accessor(f, f.getGenericType()));
                }
            }
            for (Map.Entry<String, Accessor> e : writers.entrySet()) {
                writersLower.putIfAbsent(e.getKey().toLowerCase(Locale.ROOT), e.getValue());
            }
        }

        private static boolean ignored(AccessibleObject m) {
            for (Annotation a : m.getAnnotations()) {
                if (a.annotationType().getName().equals("com.fasterxml.jackson.annotation.JsonIgnore")) {
                    return true;
                }
            }
            return false;
        }

        /** The @JsonProperty("name") value when the function bundles Jackson annotations. */
        private static String named(AccessibleObject m, String fallback) {
            for (Annotation a : m.getAnnotations()) {
                if (a.annotationType().getName().equals("com.fasterxml.jackson.annotation.JsonProperty")) {
                    try {
                        Object v = a.annotationType().getMethod("value").invoke(a);
                        if (v instanceof String && !((String) v).isEmpty()) {
                            return (String) v;
                        }
                    } catch (ReflectiveOperationException ignored) {
                        // fall back to the bean name
                    }
                }
            }
            return fallback;
        }
    }

    /** java.beans.Introspector.decapitalize without pulling in java.desktop. */
    static String decapitalize(String name) {
        if (name.length() > 1 && Character.isUpperCase(name.charAt(1)) && Character.isUpperCase(name.charAt(0))) {
            return name;
        }
        return Character.toLowerCase(name.charAt(0)) + name.substring(1);
    }
}
