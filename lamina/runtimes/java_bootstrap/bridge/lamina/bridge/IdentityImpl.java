package lamina.bridge;

import com.amazonaws.services.lambda.runtime.CognitoIdentity;

/** The function's CognitoIdentity (see ContextImpl for how it is loaded). */
public final class IdentityImpl implements CognitoIdentity {
    private final String identityId;
    private final String identityPoolId;

    public IdentityImpl(String identityId, String identityPoolId) {
        this.identityId = identityId;
        this.identityPoolId = identityPoolId;
    }

    @Override
    public String getIdentityId() {
        return identityId;
    }

    @Override
    public String getIdentityPoolId() {
        return identityPoolId;
    }
}
