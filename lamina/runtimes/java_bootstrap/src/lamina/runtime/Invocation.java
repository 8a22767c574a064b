package lamina.runtime;

/** One event as handed out by GET /invocation/next: its headers and its body. */
final class Invocation {
    final String requestId;
    final long deadlineMs;
    final String functionArn;
    final String traceId;
    final String clientContext;    // JSON text or null
    final String cognitoIdentity;  // JSON text or null
    final String tenantId;
    final byte[] body;

    Invocation(RuntimeApi.Response r) {
        this.requestId = r.header("Lambda-Runtime-Aws-Request-Id");
        String deadline = r.header("Lambda-Runtime-Deadline-Ms");
        this.deadlineMs = deadline == null ? Long.MAX_VALUE : Long.parseLong(deadline.trim());
        this.functionArn = r.header("Lambda-Runtime-Invoked-Function-Arn");
        this.traceId = r.header("Lambda-Runtime-Trace-Id");
        this.clientContext = emptyToNull(r.header("Lambda-Runtime-Client-Context"));
        this.cognitoIdentity = emptyToNull(r.header("Lambda-Runtime-Cognito-Identity"));
        this.tenantId = emptyToNull(r.header("Lambda-Runtime-Aws-Tenant-Id"));
        this.body = r.body;
    }

    private static String emptyToNull(String s) {
        return s == null || s.isEmpty() ? null : s;
    }
}
