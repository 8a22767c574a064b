package lamina.runtime;

import java.lang.reflect.Field;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.BiConsumer;

/**
 * The {@code com.amazonaws.services.lambda.runtime} interfaces, as the function sees them.
 *
 * <p>The function bundles the real aws-lambda-java-core jar; its Context, LambdaLogger, ... are
 * loaded by the function's class loader, so our implementations must implement exactly those
 * Class objects: precompiled classes defined below the function's loader ({@link Bridge}), or
 * {@link Proxy} instances when those do not link against the function's library version. A
 * handler may also skip the library entirely (a plain {@code Class::method}
 * taking a Map or streams): then every interface here is null and no Context is passed.
 */
final class LambdaContext {
    private static final String PKG = "com.amazonaws.services.lambda.runtime.";

    final Class<?> context;
    final Class<?> requestHandler;
    final Class<?> streamHandler;
    private final Class<?> logger;
    private final Class<?> cognito;
    private final Class<?> clientContext;
    private final Class<?> client;
    private final ClassLoader loader;
    private final Bridge bridge;      // null: the function lacks the library, or proxies are needed
    private final Object loggerProxy;
    private final Map<String, String> env = System.getenv();
    private final boolean jsonLogs;
    private final int minLevel;
    private volatile String currentRequestId;

    LambdaContext(ClassLoader loader) {
        this.loader = loader;
        this.context = find("Context");
        this.requestHandler = find("RequestHandler");
        this.streamHandler = find("RequestStreamHandler");
        this.logger = find("LambdaLogger");
        this.cognito = find("CognitoIdentity");
        this.clientContext = find("ClientContext");
        this.client = find("Client");
        this.jsonLogs = "JSON".equalsIgnoreCase(env.get("AWS_LAMBDA_LOG_FORMAT"));
        this.minLevel = jsonLogs ? levelRank(env.getOrDefault("AWS_LAMBDA_LOG_LEVEL", "INFO")) : 0;
        this.bridge = context == null || logger == null ? null : Bridge.load(loader);
        if (logger == null) {
            this.loggerProxy = null;
        } else if (bridge != null) {
            this.loggerProxy = bridge.newLogger(new Sink());
        } else {
            this.loggerProxy = proxy(logger, new InvocationHandler() {
                @Override
                public Object invoke(Object p, Method m, Object[] a) throws Throwable {
                    return loggerCall(p, m, a);
                }
            });
        }
        installRuntimeLogger();
    }

    private Class<?> find(String simpleName) {
        try {
            return Class.forName(PKG + simpleName, false, loader);
        } catch (ClassNotFoundException | LinkageError e) {
            return null;
        }
    }

    /** Points LambdaRuntime.getLogger() at our logger, as AWS's runtime does. */
    private void installRuntimeLogger() {
        if (loggerProxy == null) {
            return;
        }
        try {
            Field f = Class.forName(PKG + "LambdaRuntime", true, loader).getDeclaredField("logger");
            f.setAccessible(true);
            f.set(null, loggerProxy);
        } catch (ReflectiveOperationException | LinkageError | RuntimeException ignored) {
            // an old or shaded core jar: LambdaRuntime keeps its own stdout logger
        }
    }

    /** The Context for one invocation, or null when the function does not use aws-lambda-java-core. */
    Object create(Invocation inv) {
        currentRequestId = inv.requestId;
        if (context == null) {
            return null;
        }
        Object identity = inv.cognitoIdentity == null || cognito == null ? null : identity(inv.cognitoIdentity);
        Object cc = inv.clientContext == null || clientContext == null ? null : clientContext(inv.clientContext);
        if (bridge != null) {
            return bridge.newContext(inv, env, identity, cc, loggerProxy);
        }
        return proxy(context, new InvocationHandler() {
            @Override
            public Object invoke(Object p, Method m, Object[] a) throws Throwable {
                switch (m.getName()) {
                    case "getAwsRequestId": return inv.requestId;
                    case "getLogGroupName": return env.get("AWS_LAMBDA_LOG_GROUP_NAME");
                    case "getLogStreamName": return env.get("AWS_LAMBDA_LOG_STREAM_NAME");
                    case "getFunctionName": return env.get("AWS_LAMBDA_FUNCTION_NAME");
                    case "getFunctionVersion": return env.get("AWS_LAMBDA_FUNCTION_VERSION");
                    case "getInvokedFunctionArn": return inv.functionArn;
                    case "getIdentity": return identity;
                    case "getClientContext": return cc;
                    case "getRemainingTimeInMillis": return inv.remainingMillis();
                    case "getMemoryLimitInMB": return parseInt(env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"));
                    case "getLogger": return loggerProxy;
                    case "getXrayTraceId": return inv.traceId;
                    case "getTenantId": return inv.tenantId;
                    default: return fallback(p, m, a, "LambdaContext[" + inv.requestId + "]");
                }
            }
        });
    }

    private Object identity(String json) {
        Map<?, ?> m = asMap(json);
        if (bridge != null) {
            return bridge.newIdentity(str(m.get("cognitoIdentityId")), str(m.get("cognitoIdentityPoolId")));
        }
        return proxy(cognito, new InvocationHandler() {
            @Override
            public Object invoke(Object p, Method method, Object[] a) throws Throwable {
                switch (method.getName()) {
                    case "getIdentityId": return str(m.get("cognitoIdentityId"));
                    case "getIdentityPoolId": return str(m.get("cognitoIdentityPoolId"));
                    default: return fallback(p, method, a, "CognitoIdentity" + m);
                }
            }
        });
    }

    private Object clientContext(String json) {
        Map<?, ?> m = asMap(json);
        Map<?, ?> c = m.get("client") instanceof Map ? (Map<?, ?>) m.get("client") : new LinkedHashMap<>();
        if (bridge != null) {
            String[] fields = {str(c.get("installation_id")), str(c.get("app_title")), str(c.get("app_version_name")),
                str(c.get("app_version_code")), str(c.get("app_package_name"))};
            return bridge.newClientContext(fields, stringMap(m.get("custom")), stringMap(m.get("env")));
        }
        Object clientProxy = client == null ? null : proxy(client, new InvocationHandler() {
            @Override
            public Object invoke(Object p, Method method, Object[] a) throws Throwable {
                switch (method.getName()) {
                    case "getInstallationId": return str(c.get("installation_id"));
                    case "getAppTitle": return str(c.get("app_title"));
                    case "getAppVersionName": return str(c.get("app_version_name"));
                    case "getAppVersionCode": return str(c.get("app_version_code"));
                    case "getAppPackageName": return str(c.get("app_package_name"));
                    default: return fallback(p, method, a, "Client" + c);
                }
            }
        });
        return proxy(clientContext, new InvocationHandler() {
            @Override
            public Object invoke(Object p, Method method, Object[] a) throws Throwable {
                switch (method.getName()) {
                    case "getClient": return clientProxy;
                    case "getCustom": return stringMap(m.get("custom"));
                    case "getEnvironment": return stringMap(m.get("env"));
                    default: return fallback(p, method, a, "ClientContext" + m);
                }
            }
        });
    }

    // ------------------------------------------------------------------ logging

    /** Where the bridge logger's records go. A named class: a lambda would cost indy set-up. */
    private final class Sink implements BiConsumer<String, String> {
        @Override
        public void accept(String message, String level) {
            if (levelRank(level) >= minLevel) {
                log(message, level);
            }
        }
    }

    private Object loggerCall(Object p, Method m, Object[] a) throws Throwable {
        if (!m.getName().equals("log") || a == null || a.length == 0) {
            return fallback(p, m, a, "LambdaLogger");
        }
        String level = a.length > 1 && a[1] != null ? a[1].toString() : "UNDEFINED";
        if (levelRank(level) < minLevel) {
            return null;
        }
        String msg = a[0] instanceof byte[] ? new String((byte[]) a[0], StandardCharsets.UTF_8) : String.valueOf(a[0]);
        log(msg, level);
        return null;
    }

    /**
     * Writes one log record to stdout. Without AWS's framed telemetry pipe each record must be a
     * line of its own, so a missing trailing newline is added (AWS shows one event per call).
     */
    void log(String msg, String level) {
        String line;
        if (jsonLogs) {
            Map<String, Object> rec = new LinkedHashMap<>();
            rec.put("timestamp", Instant.now().toString());
            rec.put("level", level);
            rec.put("message", msg.endsWith("\n") ? msg.substring(0, msg.length() - 1) : msg);
            rec.put("AWSRequestId", currentRequestId);
            line = Json.write(rec) + "\n";
        } else {
            String prefix = "UNDEFINED".equals(level) ? "" : "[" + level + "] ";
            line = prefix + msg + (msg.endsWith("\n") ? "" : "\n");
        }
        System.out.print(line);
        System.out.flush();
    }

    /** An error report from the runtime itself: plain text, or level ERROR in JSON mode. */
    void logError(String text) {
        log(text, jsonLogs ? "ERROR" : "UNDEFINED");
    }

    private static int levelRank(String level) {
        switch (level.toUpperCase(Locale.ROOT)) {
            case "TRACE": return 1;
            case "DEBUG": return 2;
            case "INFO": return 3;
            case "WARN": return 4;
            case "ERROR": return 5;
            case "FATAL": return 6;
            default: return 99; // UNDEFINED is never filtered
        }
    }

    // ------------------------------------------------------------------ helpers

    private Object proxy(Class<?> iface, InvocationHandler h) {
        return Proxy.newProxyInstance(loader, new Class<?>[] {iface}, h);
    }

    /** Object methods and interface default methods added by newer aws-lambda-java-core releases. */
    private static Object fallback(Object proxy, Method m, Object[] a, String label) throws Throwable {
        switch (m.getName()) {
            case "toString": return label;
            case "hashCode": return System.identityHashCode(proxy);
            case "equals": return a != null && a.length == 1 && proxy == a[0];
            default:
                if (m.isDefault()) {
                    return InvocationHandler.invokeDefault(proxy, m, a);
                }
                Class<?> r = m.getReturnType();
                if (r == int.class || r == long.class || r == short.class || r == byte.class) return 0;
                if (r == boolean.class) return false;
                return null;
        }
    }

    private static Map<?, ?> asMap(String json) {
        try {
            Object v = Json.parse(json);
            return v instanceof Map ? (Map<?, ?>) v : new LinkedHashMap<>();
        } catch (IllegalArgumentException e) {
            return new LinkedHashMap<>();
        }
    }

    private static Map<String, String> stringMap(Object v) {
        if (!(v instanceof Map)) {
            return null;
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
            out.put(String.valueOf(e.getKey()), str(e.getValue()));
        }
        return out;
    }

    private static String str(Object v) {
        return v == null ? null : v.toString();
    }

    private static int parseInt(String s) {
        try {
            return s == null ? 128 : Integer.parseInt(s.trim());
        } catch (NumberFormatException e) {
            return 128;
        }
    }
}
