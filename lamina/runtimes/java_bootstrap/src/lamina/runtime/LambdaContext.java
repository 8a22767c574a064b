package lamina.runtime;

import java.lang.reflect.Field;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.BiConsumer;

/**
 * The {@code com.amazonaws.services.lambda.runtime} types, as the function sees them, and logging.
 *
 * <p>The function bundles the real aws-lambda-java-core jar; its Context, LambdaLogger, ... are
 * loaded by the function's class loader, so our implementations must implement exactly those
 * Class objects: they are precompiled classes defined below the function's loader ({@link Bridge}).
 * A handler may also skip the library entirely (a plain {@code Class::method} taking a Map or
 * streams): then the interfaces here are null and no Context is passed.
 */
final class LambdaContext {
    private static final String PKG = "com.amazonaws.services.lambda.runtime.";

    final Class<?> context;
    final Class<?> requestHandler;
    final Class<?> streamHandler;
    private final ClassLoader loader;
    private final Bridge bridge;
    private final Object logger;
    private final Map<String, String> env = System.getenv();
    private final boolean jsonLogs;
    private final int minLevel;
    private volatile String currentRequestId;

    LambdaContext(ClassLoader loader) {
        this.loader = loader;
        this.context = find("Context");
        this.requestHandler = find("RequestHandler");
        this.streamHandler = find("RequestStreamHandler");
        this.jsonLogs = "JSON".equalsIgnoreCase(env.get("AWS_LAMBDA_LOG_FORMAT"));
        this.minLevel = jsonLogs ? levelRank(env.getOrDefault("AWS_LAMBDA_LOG_LEVEL", "INFO")) : 0;
        this.bridge = context == null ? null : Bridge.load(loader);
        this.logger = bridge == null ? null : bridge.newLogger(new Sink());
        installRuntimeLogger();
    }

    private Class<?> find(String simpleName) {
        try {
            return Class.forName(PKG + simpleName, false, loader);
        } catch (ClassNotFoundException | LinkageError e) {
            return null;
        }
    }

    /** True when the function uses aws-lambda-java-core but our classes cannot implement it. */
    boolean unsupportedLibrary() {
        return context != null && bridge == null;
    }

    /** Points LambdaRuntime.getLogger() at our logger, as AWS's runtime does. */
    private void installRuntimeLogger() {
        if (logger == null) {
            return;
        }
        try {
            Field f = Class.forName(PKG + "LambdaRuntime", true, loader).getDeclaredField("logger");
            f.setAccessible(true);
            f.set(null, logger);
        } catch (ReflectiveOperationException | LinkageError | RuntimeException ignored) {
            // an old or shaded core jar: LambdaRuntime keeps its own stdout logger
        }
    }

    /** The Context for one invocation, or null when the function does not use aws-lambda-java-core. */
    Object create(Invocation inv) {
        currentRequestId = inv.requestId;
        if (bridge == null) {
            return null;
        }
        Object identity = null;
        if (inv.cognitoIdentity != null) {
            Map<?, ?> m = asMap(inv.cognitoIdentity);
            identity = bridge.newIdentity(str(m.get("cognitoIdentityId")), str(m.get("cognitoIdentityPoolId")));
        }
        Object clientContext = null;
        if (inv.clientContext != null) {
            Map<?, ?> m = asMap(inv.clientContext);
            Map<?, ?> c = m.get("client") instanceof Map ? (Map<?, ?>) m.get("client") : new LinkedHashMap<>();
            String[] client = {str(c.get("installation_id")), str(c.get("app_title")), str(c.get("app_version_name")),
                str(c.get("app_version_code")), str(c.get("app_package_name"))};
            clientContext = bridge.newClientContext(client, stringMap(m.get("custom")), stringMap(m.get("env")));
        }
        return bridge.newContext(inv, env, identity, clientContext, logger);
    }

    // ------------------------------------------------------------------ logging

    /** Where the function's logger records go. A named class: a lambda would cost indy set-up. */
    private final class Sink implements BiConsumer<String, String> {
        @Override
        public void accept(String message, String level) {
            if (levelRank(level) >= minLevel) {
                log(message, level);
            }
        }
    }

    /**
     * Writes one log record to stdout. Without AWS's framed telemetry pipe each record must be a
     * line of its own, so a missing trailing newline is added (AWS shows one event per call).
     * Text format: the message, prefixed "[LEVEL] " when a level was given; JSON format
     * (AWS_LAMBDA_LOG_FORMAT=JSON): {"timestamp","level","message","AWSRequestId"}.
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
}
