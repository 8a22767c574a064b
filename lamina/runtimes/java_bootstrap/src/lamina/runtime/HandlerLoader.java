package lamina.runtime;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FilenameFilter;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import lamina.runtime.Failure.Fault;

/**
 * Turns the handler string into something callable, the way AWS's Java runtime does.
 *
 * <p>{@code pkg.Class} must implement RequestHandler or RequestStreamHandler;
 * {@code pkg.Class::method} may name any public method whose parameters are one of
 * (), (I), (Context), (I, Context), (InputStream, OutputStream[, Context]), (InputStream[, Context]),
 * (OutputStream[, Context]); among overloads the longest signature wins, a trailing Context
 * counting double, as in AWS. Problems found while loading come back as {@link Fault}s: fatal ones
 * (static initialiser or constructor threw) become an init error, the others are answered on
 * every invoke (e.g. "Class not found: x" with java.lang.ClassNotFoundException).
 */
final class HandlerLoader {
    /** A loaded handler: event bytes and the Context (or null) in, response bytes out. */
    interface Handler {
        byte[] handle(byte[] event, Object context) throws Throwable;
    }

    private static final byte[] JSON_NULL = "null".getBytes(StandardCharsets.UTF_8);

    private HandlerLoader() {
    }

    /** /var/task, then its lib/*.jar, then the layers' /opt/java/lib/*.jar, as on AWS. */
    static URLClassLoader classLoader(String taskRoot, String optRoot) {
        List<URL> urls = new ArrayList<>();
        try {
            urls.add(new File(taskRoot).toURI().toURL());
            addJars(urls, new File(taskRoot, "lib"));
            addJars(urls, new File(optRoot, "java/lib"));
        } catch (MalformedURLException e) {
            throw new IllegalStateException(e);
        }
        // The platform loader (not the application loader) is the parent, so the function
        // cannot see or clash with this runtime's own classes.
        return new URLClassLoader(urls.toArray(new URL[0]), ClassLoader.getPlatformClassLoader());
    }

    private static void addJars(List<URL> urls, File dir) throws MalformedURLException {
        File[] jars = dir.listFiles(new FilenameFilter() {
            @Override
            public boolean accept(File d, String n) {
                return n.endsWith(".jar");
            }
        });
        if (jars != null) {
            Arrays.sort(jars);
            for (File j : jars) {
                urls.add(j.toURI().toURL());
            }
        }
    }

    static Handler load(String handler, ClassLoader loader, LambdaContext api) {
        if (api.unsupportedLibrary()) {
            throw new Fault("Unsupported aws-lambda-java-core: its Context interface cannot be implemented",
                    null, null, false);
        }
        String className = handler;
        String methodName = null;
        int sep = handler.indexOf("::");
        if (sep >= 0) {
            className = handler.substring(0, sep);
            methodName = handler.substring(sep + 2);
        }
        if (className.isEmpty() || (methodName != null && methodName.isEmpty())) {
            throw new Fault("Invalid handler: `" + handler + "'", null, null, false);
        }
        Class<?> cls;
        try {
            cls = Class.forName(className, true, loader);
        } catch (ClassNotFoundException e) {
            throw new Fault("Class not found: " + className, e.getClass().getName(), e, false);
        } catch (NoClassDefFoundError e) {
            throw new Fault(loadError(className, e), e.getClass().getName(), e, false);
        } catch (Throwable t) {
            throw new Fault(loadError(className, t), t.getClass().getName(), t, true);
        }
        return methodName == null ? interfaceHandler(cls, api) : methodHandler(cls, methodName, api);
    }

    private static String loadError(String className, Throwable t) {
        return "Error loading class " + className + (t.getMessage() == null ? "" : ": " + t.getMessage());
    }

    // ------------------------------------------------------------ RequestHandler / RequestStreamHandler

    private static Handler interfaceHandler(Class<?> cls, LambdaContext api) {
        try {
            if (api.streamHandler != null && api.streamHandler.isAssignableFrom(cls)) {
                Method m = api.streamHandler.getMethod("handleRequest", InputStream.class, OutputStream.class,
                        api.context);
                Object target = instantiate(cls);
                return new Handler() {
                    @Override
                    public byte[] handle(byte[] event, Object ctx) throws Throwable {
                        ByteArrayOutputStream out = new ByteArrayOutputStream();
                        call(m, target, new ByteArrayInputStream(event), out, ctx);
                        return out.toByteArray();
                    }
                };
            }
            if (api.requestHandler != null && api.requestHandler.isAssignableFrom(cls)) {
                Type[] params = interfaceParams(cls, api.requestHandler);
                if (params == null) {
                    throw new Fault("Class " + cls.getName()
                            + " does not implement RequestHandler with concrete type parameters", null, null, false);
                }
                Method m = api.requestHandler.getMethod("handleRequest", Object.class, api.context);
                Object target = instantiate(cls);
                Type input = params[0];
                return new Handler() {
                    @Override
                    public byte[] handle(byte[] event, Object ctx) throws Throwable {
                        return serialize(call(m, target, deserialize(event, input), ctx));
                    }
                };
            }
        } catch (NoSuchMethodException e) {
            throw new Fault("Unsupported aws-lambda-java-core version: " + e.getMessage(), null, null, false);
        }
        throw new Fault("Class does not implement an appropriate handler interface: " + cls.getName(),
                null, null, false);
    }

    /** The actual type arguments of `iface` as implemented somewhere above `cls`, or null. */
    private static Type[] interfaceParams(Class<?> cls, Class<?> iface) {
        return search(cls, iface, new HashMap<>());
    }

    private static Type[] search(Type t, Class<?> iface, Map<TypeVariable<?>, Type> bound) {
        Class<?> raw = PojoMapper.rawClass(t);
        Map<TypeVariable<?>, Type> scope = new HashMap<>(bound);
        if (t instanceof ParameterizedType) {
            TypeVariable<?>[] vars = raw.getTypeParameters();
            Type[] args = ((ParameterizedType) t).getActualTypeArguments();
            for (int k = 0; k < vars.length && k < args.length; k++) {
                scope.put(vars[k], resolve(args[k], bound));
            }
            if (raw == iface) {
                Type[] out = new Type[args.length];
                for (int k = 0; k < args.length; k++) {
                    out[k] = resolve(args[k], bound);
                }
                return out;
            }
        }
        List<Type> supers = new ArrayList<>(Arrays.asList(raw.getGenericInterfaces()));
        if (raw.getGenericSuperclass() != null) {
            supers.add(raw.getGenericSuperclass());
        }
        for (Type s : supers) {
            if (iface.isAssignableFrom(PojoMapper.rawClass(s))) {
                Type[] found = search(s, iface, scope);
                if (found != null) {
                    return found;
                }
            }
        }
        return null;
    }

    private static Type resolve(Type t, Map<TypeVariable<?>, Type> bound) {
        return t instanceof TypeVariable && bound.containsKey(t) ? bound.get(t) : t;
    }

    // ------------------------------------------------------------ Class::method

    private enum Arg { IN, OUT, CTX, POJO }

    private static Handler methodHandler(Class<?> cls, String name, LambdaContext api) {
        List<Method> candidates = new ArrayList<>();
        for (Method m : cls.getMethods()) {
            if (m.getName().equals(name) && plan(m, api) != null) {
                candidates.add(m);
            }
        }
        if (candidates.isEmpty()) {
            throw new Fault("No public method named " + name + " with appropriate method signature found on class "
                    + cls.getName(), null, null, false);
        }
        candidates.sort(new Comparator<Method>() {
            @Override
            public int compare(Method a, Method b) {
                if (a.isBridge() != b.isBridge()) {
                    return a.isBridge() ? 1 : -1;
                }
                return Integer.compare(weight(b, api), weight(a, api));
            }
        });
        Method m = candidates.get(0);
        Arg[] plan = plan(m, api);
        Object target = Modifier.isStatic(m.getModifiers()) ? null : instantiate(cls);
        Type pojoType = null;
        for (int k = 0; k < plan.length; k++) {
            if (plan[k] == Arg.POJO) {
                pojoType = m.getGenericParameterTypes()[k];
            }
        }
        final Type input = pojoType;
        final boolean writesStream = Arrays.asList(plan).contains(Arg.OUT);
        return new Handler() {
            @Override
            public byte[] handle(byte[] event, Object ctx) throws Throwable {
                Object[] args = new Object[plan.length];
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                for (int k = 0; k < plan.length; k++) {
                    switch (plan[k]) {
                        case IN: args[k] = new ByteArrayInputStream(event); break;
                        case OUT: args[k] = out; break;
                        case CTX: args[k] = ctx; break;
                        default: args[k] = deserialize(event, input);
                    }
                }
                Object result = call(m, target, args);
                return writesStream ? out.toByteArray() : serialize(result);
            }
        };
    }

    /** How each parameter is fed, or null if the signature is not one AWS accepts. */
    private static Arg[] plan(Method m, LambdaContext api) {
        Class<?>[] p = m.getParameterTypes();
        Arg[] a = new Arg[p.length];
        for (int k = 0; k < p.length; k++) {
            a[k] = p[k] == InputStream.class ? Arg.IN : p[k] == OutputStream.class ? Arg.OUT
                    : api.context != null && p[k] == api.context ? Arg.CTX : Arg.POJO;
        }
        String sig = Arrays.toString(a);
        switch (sig) {
            case "[]": case "[IN]": case "[OUT]": case "[CTX]": case "[POJO]":
            case "[IN, OUT]": case "[IN, CTX]": case "[OUT, CTX]": case "[POJO, CTX]":
            case "[IN, OUT, CTX]":
                return a;
            default:
                return null;
        }
    }

    private static int weight(Method m, LambdaContext api) {
        Class<?>[] p = m.getParameterTypes();
        boolean ctxLast = p.length > 0 && api.context != null && p[p.length - 1] == api.context;
        return p.length + (ctxLast ? 1 : 0);
    }

    // ------------------------------------------------------------ shared

    private static Object instantiate(Class<?> cls) {
        Constructor<?> c;
        try {
            c = cls.getConstructor();
        } catch (NoSuchMethodException e) {
            String why = cls.getEnclosingClass() != null && !Modifier.isStatic(cls.getModifiers())
                    ? " cannot be instantiated because it is a non-static inner class"
                    : " has no public zero-argument constructor";
            throw Fault.of(new Exception("Class " + cls.getName() + why, e), false);
        }
        try {
            return c.newInstance();
        } catch (InvocationTargetException e) {
            throw Fault.of(e.getCause() == null ? e : e.getCause(), true);
        } catch (ReflectiveOperationException e) {
            throw Fault.of(e, true);
        }
    }

    /** Calls user code, unwrapping reflection so the caller sees the function's own exception. */
    private static Object call(Method m, Object target, Object... args) throws Throwable {
        try {
            return m.invoke(target, args);
        } catch (InvocationTargetException e) {
            throw e.getCause() == null ? e : e.getCause();
        }
    }

    private static Object deserialize(byte[] event, Type type) {
        String text = new String(event, StandardCharsets.UTF_8);
        if (text.trim().isEmpty()) {
            return PojoMapper.fromTree(null, type);
        }
        try {
            return PojoMapper.fromTree(Json.parse(text), type);
        } catch (RuntimeException e) {
            throw new RuntimeException("An error occurred during JSON parsing", e);
        }
    }

    private static byte[] serialize(Object result) {
        if (result == null) {
            return JSON_NULL;
        }
        try {
            return Json.write(PojoMapper.toTree(result)).getBytes(StandardCharsets.UTF_8);
        } catch (RuntimeException e) {
            throw new RuntimeException("An error occurred during JSON serialization of response", e);
        }
    }
}
