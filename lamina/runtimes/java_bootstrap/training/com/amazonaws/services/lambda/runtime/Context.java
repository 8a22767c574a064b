// Training-only declaration of aws-lambda-java-core's Context (the public API, as javap shows
// it), so the CDS training run exercises the same proxy path as real functions. Never shipped
// to functions: they bundle the real library.
package com.amazonaws.services.lambda.runtime;

public interface Context {
    String getAwsRequestId();
    String getLogGroupName();
    String getLogStreamName();
    String getFunctionName();
    String getFunctionVersion();
    String getInvokedFunctionArn();
    CognitoIdentity getIdentity();
    ClientContext getClientContext();
    int getRemainingTimeInMillis();
    int getMemoryLimitInMB();
    LambdaLogger getLogger();
}
