package lamina.runtime;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Error reports in the shape AWS's Java runtime sends to the Runtime API.
 *
 * <p>Two kinds exist, as in aws-lambda-java-runtime-interface-client: a {@link Fault} the runtime
 * detects itself (bad handler string, class not found, constructor failed) is sent with header
 * {@code Runtime.BadFunctionCode} and no stackTrace; an exception thrown by the handler is sent
 * with header {@code Runtime.UserException}, {@code errorType} = the exception's class name and
 * {@code stackTrace} = its frames with this runtime's own frames cut off.
 */
final class Failure {
    static final String BAD_FUNCTION_CODE = "Runtime.BadFunctionCode";
    static final String USER_EXCEPTION = "Runtime.UserException";
    private static final String OUR_PACKAGE = "lamina.runtime.";

    private Failure() {
    }

    /** A problem with the function's code found by the runtime. Fatal ones end the environment. */
    static final class Fault extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final String errorType;
        final boolean fatal;
        final Throwable origin;

        Fault(String message, String errorType, Throwable origin, boolean fatal) {
            super(message, null, false, false);
            this.errorType = errorType;
            this.origin = origin;
            this.fatal = fatal;
        }

        /** Wraps an exception thrown by user code during init (static initialiser, constructor). */
        static Fault of(Throwable t, boolean fatal) {
            return new Fault(message(t), t.getClass().getName(), t, fatal);
        }

        byte[] json() {
            return Failure.json(getMessage(), errorType, null);
        }

        /** The log text AWS prints for a fault: "msg: type" and the trace. */
        String reportable() {
            if (origin == null && errorType == null) {
                return getMessage();
            }
            return getMessage() + ": " + (errorType == null ? "" : errorType) + "\n"
                    + (origin == null ? "" : trace(origin));
        }
    }

    static String message(Throwable t) {
        String m = t.getLocalizedMessage();
        return m == null ? t.getClass().getName() : m;
    }

    /** The /error body for an exception thrown by the handler. */
    static byte[] exceptionJson(Throwable t) {
        filter(t);
        List<String> frames = new ArrayList<>();
        for (StackTraceElement e : t.getStackTrace()) {
            frames.add(e.toString());
        }
        return json(message(t), t.getClass().getName(), frames);
    }

    static byte[] json(String message, String type, List<String> stackTrace) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("errorMessage", message);
        if (type != null) { // AWS's runtime writes these with Gson, which leaves nulls out
            m.put("errorType", type);
        }
        if (stackTrace != null) {
            m.put("stackTrace", stackTrace);
        }
        return Json.write(m).getBytes(StandardCharsets.UTF_8);
    }

    /** printStackTrace text after filtering, as AWS logs it. */
    static String trace(Throwable t) {
        filter(t);
        StringWriter w = new StringWriter();
        t.printStackTrace(new PrintWriter(w));
        return w.toString();
    }

    /**
     * Removes this runtime's frames, and the reflection frames that led into user code, from `t`
     * and its causes/suppressed exceptions, so traces show only the function's own frames.
     */
    static void filter(Throwable t) {
        filter(t, Collections.newSetFromMap(new IdentityHashMap<>()));
    }

    private static void filter(Throwable t, Set<Throwable> seen) {
        if (t == null || !seen.add(t)) {
            return;
        }
        StackTraceElement[] trace = t.getStackTrace();
        int end = trace.length;
        for (int k = 0; k < trace.length; k++) {
            if (trace[k].getClassName().startsWith(OUR_PACKAGE)) {
                end = k;
                break;
            }
        }
        if (end < trace.length) {
            while (end > 0 && isReflection(trace[end - 1].getClassName())) {
                end--;
            }
            StackTraceElement[] kept = new StackTraceElement[end];
            System.arraycopy(trace, 0, kept, 0, end);
            t.setStackTrace(kept);
        }
        filter(t.getCause(), seen);
        for (Throwable s : t.getSuppressed()) {
            filter(s, seen);
        }
    }

    private static boolean isReflection(String cls) {
        return cls.startsWith("java.lang.reflect.") || cls.startsWith("jdk.internal.reflect.")
                || cls.startsWith("java.lang.invoke.") || cls.startsWith("sun.reflect.");
    }
}
