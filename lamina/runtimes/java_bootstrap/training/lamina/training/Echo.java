package lamina.training;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.LambdaRuntime;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The function run while recording the runtime's class-data-sharing archive: it walks the
 * paths every function takes (JSON to POJO, Context and logger proxies, POJO to JSON) so
 * their JDK classes are archived. Its own classes are not: they come from a custom loader.
 */
public class Echo implements RequestHandler<Echo.In, Echo.Out> {
    public static class In {
        private String name;
        public List<Integer> numbers;
        public Map<String, Object> extra;

        public String getName() {
            return name;
        }

        public void setName(String name) {
            this.name = name;
        }
    }

    public static class Out {
        private final String greeting;
        private final List<String> items = new ArrayList<>();

        Out(String greeting) {
            this.greeting = greeting;
        }

        public String getGreeting() {
            return greeting;
        }

        public List<String> getItems() {
            return items;
        }
    }

    @Override
    public Out handleRequest(In in, Context context) {
        context.getLogger().log("training " + context.getAwsRequestId());
        LambdaRuntime.getLogger().log("remaining " + context.getRemainingTimeInMillis());
        Out out = new Out("hello " + in.getName());
        for (Integer n : in.numbers) {
            out.getItems().add(String.valueOf(n));
        }
        return out;
    }
}
