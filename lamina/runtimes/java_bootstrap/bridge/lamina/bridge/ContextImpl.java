package lamina.bridge;

import com.amazonaws.services.lambda.runtime.ClientContext;
import com.amazonaws.services.lambda.runtime.CognitoIdentity;
import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.LambdaLogger;
import java.util.Map;

/**
 * The function's Context, compiled against our declaration of aws-lambda-java-core's
 * interfaces but defined at run time in a class loader below the function's, so it implements
 * the interfaces the function itself loaded (see lamina.runtime.LambdaContext). It uses only
 * JDK types besides those interfaces. getXrayTraceId/getTenantId match default methods of
 * newer aws-lambda-java-core releases and are plain extra methods for older ones.
 */
public final class ContextImpl implements Context {
    private final String requestId;
    private final long deadlineMs;
    private final String functionArn;
    private final String traceId;
    private final String tenantId;
    private final Map<String, String> env;
    private final CognitoIdentity identity;
    private final ClientContext clientContext;
    private final LambdaLogger logger;

    public ContextImpl(String requestId, long deadlineMs, String functionArn, String traceId, String tenantId,
                       Map<String, String> env, CognitoIdentity identity, ClientContext clientContext,
                       LambdaLogger logger) {
        this.requestId = requestId;
        this.deadlineMs = deadlineMs;
        this.functionArn = functionArn;
        this.traceId = traceId;
        this.tenantId = tenantId;
        this.env = env;
        this.identity = identity;
        this.clientContext = clientContext;
        this.logger = logger;
    }

    @Override
    public String getAwsRequestId() {
        return requestId;
    }

    @Override
    public String getLogGroupName() {
        return env.get("AWS_LAMBDA_LOG_GROUP_NAME");
    }

    @Override
    public String getLogStreamName() {
        return env.get("AWS_LAMBDA_LOG_STREAM_NAME");
    }

    @Override
    public String getFunctionName() {
        return env.get("AWS_LAMBDA_FUNCTION_NAME");
    }

    @Override
    public String getFunctionVersion() {
        return env.get("AWS_LAMBDA_FUNCTION_VERSION");
    }

    @Override
    public String getInvokedFunctionArn() {
        return functionArn;
    }

    @Override
    public CognitoIdentity getIdentity() {
        return identity;
    }

    @Override
    public ClientContext getClientContext() {
        return clientContext;
    }

    @Override
    public int getRemainingTimeInMillis() {
        long left = deadlineMs - System.currentTimeMillis();
        return (int) Math.max(0, Math.min(Integer.MAX_VALUE, left));
    }

    @Override
    public int getMemoryLimitInMB() {
        try {
            return Integer.parseInt(env.getOrDefault("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128").trim());
        } catch (NumberFormatException e) {
            return 128;
        }
    }

    @Override
    public LambdaLogger getLogger() {
        return logger;
    }

    public String getXrayTraceId() {
        return traceId;
    }

    public String getTenantId() {
        return tenantId;
    }

    @Override
    public String toString() {
        return "LambdaContext[" + requestId + "]";
    }
}
