package lamina.runtime;

import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Constructor;
import java.util.Map;
import java.util.function.BiConsumer;

/**
 * Defines the {@code lamina.bridge} classes -- our precompiled implementations of Context,
 * LambdaLogger, CognitoIdentity and ClientContext -- in a class loader whose parent is the
 * function's, so they implement the aws-lambda-java-core interfaces the function loaded.
 *
 * <p>Why not {@link java.lang.reflect.Proxy}: generating proxy classes costs a cold start some
 * 50 ms of class generation and method-handle set-up; these classes are just loaded. Their
 * bytes ship in the runtime jar but the runtime's own loader never links them (it cannot see
 * the interfaces). {@link #load} returns null when they do not link against the function's
 * version of the library; {@link LambdaContext} then falls back to proxies.
 */
final class Bridge extends ClassLoader {
    private static final String PKG = "lamina.bridge.";

    private final Constructor<?> context;
    private final Constructor<?> logger;
    private final Constructor<?> identity;
    private final Constructor<?> clientContext;

    private Bridge(ClassLoader functionLoader) throws ReflectiveOperationException {
        super(functionLoader);
        context = constructor("ContextImpl");
        logger = constructor("LoggerImpl");
        identity = constructor("IdentityImpl");
        clientContext = constructor("ClientContextImpl");
    }

    static Bridge load(ClassLoader functionLoader) {
        try {
            return new Bridge(functionLoader);
        } catch (ReflectiveOperationException | LinkageError e) {
            return null;
        }
    }

    private Constructor<?> constructor(String simpleName) throws ReflectiveOperationException {
        return Class.forName(PKG + simpleName, true, this).getConstructors()[0];
    }

    @Override
    protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
        if (!name.startsWith(PKG)) {
            return super.loadClass(name, resolve);
        }
        synchronized (getClassLoadingLock(name)) {
            Class<?> c = findLoadedClass(name);
            if (c == null) {
                byte[] bytes = classBytes(name);
                c = defineClass(name, bytes, 0, bytes.length);
            }
            return c;
        }
    }

    private static byte[] classBytes(String name) throws ClassNotFoundException {
        try (InputStream in = Bridge.class.getResourceAsStream("/" + name.replace('.', '/') + ".class")) {
            if (in == null) {
                throw new ClassNotFoundException(name);
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new ClassNotFoundException(name, e);
        }
    }

    Object newLogger(BiConsumer<String, String> sink) {
        return make(logger, sink);
    }

    Object newContext(Invocation inv, Map<String, String> env, Object cognito, Object client, Object log) {
        return make(context, inv.requestId, inv.deadlineMs, inv.functionArn, inv.traceId, inv.tenantId, env,
                cognito, client, log);
    }

    Object newIdentity(String identityId, String poolId) {
        return make(identity, identityId, poolId);
    }

    /** `client`: installation id, app title, version name, version code, package name. */
    Object newClientContext(String[] client, Map<String, String> custom, Map<String, String> env) {
        return make(clientContext, client, custom, env);
    }

    private static Object make(Constructor<?> c, Object... args) {
        try {
            return c.newInstance(args);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot create " + c.getDeclaringClass().getName(), e);
        }
    }
}
