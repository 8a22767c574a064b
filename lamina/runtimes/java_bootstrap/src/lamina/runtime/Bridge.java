package lamina.runtime;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Constructor;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

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

    /**
     * Reads a bridge class from the runtime jar directly: going through getResourceAsStream would
     * first search the JDK's module image, whose reader costs several milliseconds to open.
     */
    private static byte[] classBytes(String name) throws ClassNotFoundException {
        String entry = name.replace('.', '/') + ".class";
        try {
            File jar = new File(Bridge.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            if (jar.isDirectory()) {
                return Files.readAllBytes(new File(jar, entry).toPath());
            }
            try (ZipFile zip = new ZipFile(jar)) {
                ZipEntry e = zip.getEntry(entry);
                if (e == null) {
                    throw new ClassNotFoundException(name);
                }
                try (InputStream in = zip.getInputStream(e)) {
                    return in.readAllBytes();
                }
            }
        } catch (IOException | URISyntaxException | RuntimeException e) {
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
