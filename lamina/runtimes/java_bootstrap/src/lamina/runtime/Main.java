package lamina.runtime;

import java.io.IOError;
import java.io.IOException;

import lamina.runtime.Failure.Fault;
import lamina.runtime.HandlerLoader.Handler;

/**
 * Lamina's Java runtime: loads the function's handler, then serves the Runtime API loop.
 *
 * <p>Usage: {@code java -cp <bootstrap> lamina.runtime.Main [handler]} with the handler defaulting
 * to $_HANDLER. Code comes from $LAMBDA_TASK_ROOT (default /var/task) and layers from
 * $LAMINA_OPT_DIR (default /opt; only set when running without a sandbox). Exits 1 after
 * reporting a fatal init error, or when the Runtime API goes away.
 */
public final class Main {
    private static final String TRACE_PROPERTY = "com.amazonaws.xray.traceHeader";

    private Main() {
    }

    public static void main(String[] args) {
        String handlerName = args.length > 0 ? args[0] : System.getenv("_HANDLER");
        String api = System.getenv("AWS_LAMBDA_RUNTIME_API");
        if (api == null || handlerName == null) {
            System.err.println("lamina java runtime: AWS_LAMBDA_RUNTIME_API and a handler are required");
            System.exit(2);
        }
        RuntimeApi client = new RuntimeApi(api);
        try {
            run(client, handlerName.trim());
        } catch (IOException e) {
            System.err.println("lamina java runtime: Runtime API failed: " + e);
            System.exit(1);
        }
    }

    private static void run(RuntimeApi client, String handlerName) throws IOException {
        ClassLoader loader = HandlerLoader.classLoader(env("LAMBDA_TASK_ROOT", "/var/task"),
                env("LAMINA_OPT_DIR", "/opt"));
        Thread.currentThread().setContextClassLoader(loader);
        LambdaContext lambda = new LambdaContext(loader);

        Handler handler;
        try {
            handler = HandlerLoader.load(handlerName, loader, lambda);
        } catch (Fault f) {
            if (f.fatal) {
                report(lambda, f.reportable());
                client.initError(Failure.BAD_FUNCTION_CODE, f.json());
                System.exit(1);
            }
            // AWS answers every invoke with a non-fatal load problem (e.g. class not found)
            handler = new Handler() {
                @Override
                public byte[] handle(byte[] event, Object ctx) {
                    throw f;
                }
            };
        }

        while (true) {
            Invocation inv = new Invocation(client.next());
            if (inv.traceId != null) {
                System.setProperty(TRACE_PROPERTY, inv.traceId);
            } else {
                System.clearProperty(TRACE_PROPERTY);
            }
            Object context = lambda.create(inv);
            try {
                byte[] result = handler.handle(inv.body, context);
                flush();
                client.respond(inv.requestId, result);
                Thread.interrupted(); // clear a flag the function may have left set
            } catch (Fault f) {
                report(lambda, f.reportable());
                client.error(inv.requestId, Failure.BAD_FUNCTION_CODE, f.json());
            } catch (Throwable t) {
                byte[] body = Failure.exceptionJson(t);
                report(lambda, Failure.message(t) + ": " + t.getClass().getName() + "\n" + Failure.trace(t));
                client.error(inv.requestId, Failure.USER_EXCEPTION, body);
                if (t instanceof VirtualMachineError || t instanceof IOError) {
                    System.exit(1); // the JVM cannot be trusted any more; the platform resets the sandbox
                }
            }
        }
    }

    private static void report(LambdaContext lambda, String text) {
        lambda.logError(text);
        flush();
    }

    /** Log lines must reach the platform before the result does (they precede END). */
    private static void flush() {
        System.out.flush();
        System.err.flush();
    }

    private static String env(String name, String fallback) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? fallback : v;
    }
}
