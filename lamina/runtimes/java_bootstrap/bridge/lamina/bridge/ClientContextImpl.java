package lamina.bridge;

import com.amazonaws.services.lambda.runtime.Client;
import com.amazonaws.services.lambda.runtime.ClientContext;
import java.util.Map;

/** The function's ClientContext and its Client (see ContextImpl for how they are loaded). */
public final class ClientContextImpl implements ClientContext {
    private final Client client;
    private final Map<String, String> custom;
    private final Map<String, String> environment;

    /** `client` holds installation id, app title, version name, version code, package name. */
    public ClientContextImpl(String[] client, Map<String, String> custom, Map<String, String> environment) {
        this.client = new ClientImpl(client);
        this.custom = custom;
        this.environment = environment;
    }

    @Override
    public Client getClient() {
        return client;
    }

    @Override
    public Map<String, String> getCustom() {
        return custom;
    }

    @Override
    public Map<String, String> getEnvironment() {
        return environment;
    }

    static final class ClientImpl implements Client {
        private final String[] f;

        ClientImpl(String[] fields) {
            this.f = fields;
        }

        @Override
        public String getInstallationId() {
            return f[0];
        }

        @Override
        public String getAppTitle() {
            return f[1];
        }

        @Override
        public String getAppVersionName() {
            return f[2];
        }

        @Override
        public String getAppVersionCode() {
            return f[3];
        }

        @Override
        public String getAppPackageName() {
            return f[4];
        }
    }
}
