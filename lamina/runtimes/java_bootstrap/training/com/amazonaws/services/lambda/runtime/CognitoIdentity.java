// Training-only declaration (see Context.java).
package com.amazonaws.services.lambda.runtime;

public interface CognitoIdentity {
    String getIdentityId();
    String getIdentityPoolId();
}
